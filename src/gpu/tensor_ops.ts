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
