// A tensor on the GPU: a (pooled) buffer, a logical row-major shape and an element type.
// `offset` (bytes) lets a tensor view part of a buffer, e.g. one row chunk of a weight that is
// split across storage bindings; it must be a multiple of minStorageBufferOffsetAlignment (256).

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
