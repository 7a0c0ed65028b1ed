// Tensor operations that need the device (copies, zero fills, how many rows fit one binding): apart from
// tensor.ts, so that the Tensor type does not import the runtime (device.ts imports tensor.ts).
import type { Gpu } from "./device.ts";
import { type Tensor, tensorBytes } from "./tensor.ts";
import { type DType, dtypeBytes, numel } from "../shape.ts";

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

/**
 * Records a copy of `frames` whole frames (slices of the first dim) of `src` from frame `srcFrame` into
 * `dst` at frame `dstFrame`: the two must have the same frame shape and dtype (e.g. a causal conv's feature
 * cache [CACHE_T, H, W, C] and its input [T, H, W, C]). `what` names the tensors in errors.
 */
export function copyFrames(gpu: Gpu, what: string, src: Tensor, srcFrame: number, dst: Tensor, dstFrame: number, frames = 1): void {
  const frameShape = src.shape.slice(1);
  if (src.dtype !== dst.dtype || dst.shape.length !== src.shape.length || dst.shape.slice(1).some((d, i) => d !== frameShape[i])) {
    throw new Error(`${what}: frames of [${src.shape}] ${src.dtype} and [${dst.shape}] ${dst.dtype} differ in shape or dtype`);
  }
  if (srcFrame < 0 || srcFrame + frames > src.shape[0] || dstFrame < 0 || dstFrame + frames > dst.shape[0]) {
    throw new Error(`${what}: frames [${srcFrame}, ${srcFrame + frames}) -> [${dstFrame}, ${dstFrame + frames}) outside ${src.shape[0]} and ${dst.shape[0]} frames`);
  }
  const frameBytes = numel(frameShape) * dtypeBytes(src.dtype);
  if (frameBytes % 4) throw new Error(`${what}: a frame of [${frameShape}] ${src.dtype} is ${frameBytes} bytes, not a multiple of 4 (frame copies)`);
  gpu.copy(src.buffer, src.offset + srcFrame * frameBytes, dst.buffer, dst.offset + dstFrame * frameBytes, frames * frameBytes);
}
