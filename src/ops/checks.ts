// Validation shared by the element-wise and layout ops: errors name the op and the tensor, expected vs found.
import { type Tensor, tensorBytes } from "../gpu/tensor.ts";

/** Throws unless `t` is 2-D, returning [rows, cols]. */
export function expect2d(what: string, t: Tensor): [number, number] {
  if (t.shape.length !== 2) throw new Error(`${what}: expected a 2-D tensor [rows, cols], found shape [${t.shape}]`);
  return [t.shape[0], t.shape[1]];
}

/**
 * WebGPU rejects a dispatch whose writable storage binding overlaps another binding of the same buffer;
 * say so up front, naming the op and tensors, instead of a validation error at the next sync.
 */
export function expectNoOverlap(op: string, written: [string, Tensor], read: [string, Tensor]): void {
  const [wn, w] = written, [rn, r] = read;
  if (w.buffer !== r.buffer) return;
  const wEnd = w.offset + tensorBytes(w), rEnd = r.offset + tensorBytes(r);
  if (w.offset < rEnd && r.offset < wEnd) {
    throw new Error(`${op}: ${wn} overlaps ${rn} in the same buffer (bytes [${w.offset}, ${wEnd}) vs [${r.offset}, ${rEnd})); this op is not in place: give ${wn} its own tensor`);
  }
}

/** Throws unless `v` is a non-negative integer below `limit` (when given). */
export function expectIndex(what: string, v: number, limit?: number): void {
  if (!Number.isInteger(v) || v < 0 || (limit !== undefined && v >= limit)) {
    throw new Error(`${what}: expected an integer in [0, ${limit ?? "inf"}), found ${v}`);
  }
}
