// A tensor on the GPU: a (pooled) buffer, a logical row-major shape and an element type.
// `offset` (bytes) lets a tensor view part of a buffer, e.g. one row chunk of a weight that is
// split across storage bindings; it must be a multiple of minStorageBufferOffsetAlignment (256).
// Views and copies go through the helpers below (rowsView, copyTensor, zeroTensor), so that model code
// never does byte arithmetic on `.buffer` / `.offset`.
import type { Gpu } from "./device.ts";

export type DType = "f32" | "f16";

export interface Tensor {
  buffer: GPUBuffer;
  shape: number[];
  dtype: DType;
  offset: number;
}

export function dtypeBytes(dtype: DType): number {
  return dtype === "f16" ? 2 : 4;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function tensorBytes(t: Tensor): number {
  return numel(t.shape) * dtypeBytes(t.dtype);
}

/** Throws unless `t` has exactly `shape` (and `dtype` when given), naming `what`. */
export function expectShape(what: string, t: Tensor, shape: readonly number[], dtype?: DType): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw new Error(`${what}: expected shape [${shape}], found [${t.shape}]`);
  }
  if (dtype && t.dtype !== dtype) throw new Error(`${what}: expected dtype ${dtype}, found ${t.dtype}`);
}

/**
 * One grid vocabulary for every frames x height x width shape: a latent [C, F, H, W]'s dims, the token
 * grid F' x H' x W' = F x H/2 x W/2, a video's frames. Say which one in the variable's name.
 */
export interface Grid3 {
  F: number;
  H: number;
  W: number;
}

export function gridSize(g: Grid3): number {
  return g.F * g.H * g.W;
}

/**
 * Rows [r0, r0 + rows) of `t` (first dim = rows) as a view of the same buffer. A view bound to a shader
 * needs its byte offset to be a multiple of 256 (minStorageBufferOffsetAlignment): checked here.
 */
export function rowsView(t: Tensor, r0: number, rows: number): Tensor {
  const rowElems = numel(t.shape.slice(1));
  if (r0 < 0 || rows < 0 || r0 + rows > t.shape[0]) throw new Error(`rowsView: rows [${r0}, ${r0 + rows}) outside [0, ${t.shape[0]})`);
  const offset = t.offset + r0 * rowElems * dtypeBytes(t.dtype);
  if (offset % 256 !== 0) throw new Error(`rowsView: row ${r0} starts at byte ${offset}, not a multiple of 256 (minStorageBufferOffsetAlignment)`);
  return { ...t, offset, shape: [rows, ...t.shape.slice(1)] };
}

/** Records a GPU copy of `src` into `dst` (same element count and dtype; either may be a view), ordered with the dispatches. */
export function copyTensor(gpu: Gpu, src: Tensor, dst: Tensor): void {
  if (src.dtype !== dst.dtype || numel(src.shape) !== numel(dst.shape)) {
    throw new Error(`copyTensor: source [${src.shape}] ${src.dtype} and destination [${dst.shape}] ${dst.dtype} differ in size or dtype`);
  }
  gpu.copy(src.buffer, src.offset, dst.buffer, dst.offset, tensorBytes(src));
}

/** Fills `t` with zeros (ordered after the work recorded so far). */
export function zeroTensor(gpu: Gpu, t: Tensor): void {
  gpu.write(t, new Float32Array(numel(t.shape)));
}

/**
 * How many of `rows` rows of `rowElems` elements of `dtype` one chunk may hold so that the chunk fits one
 * storage binding: all of them when they fit, else the most that do rounded down to a multiple of
 * `multiple` (which keeps every chunk's rowsView 256-byte aligned). Throws naming `what` when not even
 * `multiple` rows fit.
 */
export function rowsPerBinding(gpu: Gpu, rows: number, rowElems: number, dtype: DType, what: string, multiple = 128): number {
  const max = gpu.limits.maxStorageBufferBindingSize;
  const fit = Math.floor(max / (rowElems * dtypeBytes(dtype)));
  if (fit >= rows) return rows;
  const chunk = Math.floor(fit / multiple) * multiple;
  if (chunk < multiple) throw new Error(`${gpu.label}: ${what} of ${multiple} rows x ${rowElems} does not fit maxStorageBufferBindingSize ${max}`);
  return chunk;
}
