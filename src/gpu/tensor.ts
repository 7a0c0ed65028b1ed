// A tensor on the GPU: a (pooled) buffer, a logical row-major shape and an element type.
// `offset` (bytes) lets a tensor view part of a buffer, e.g. one row chunk of a weight that is
// split across storage bindings; it must be a multiple of minStorageBufferOffsetAlignment (256).
// Views and copies go through the helpers below (rowsView, copyTensor, zeroTensor), so that model code
// never does byte arithmetic on `.buffer` / `.offset`.

import { type DType, dtypeBytes, numel } from "../shape.ts";

export interface Tensor {
  buffer: GPUBuffer;
  shape: number[];
  dtype: DType;
  offset: number;
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

