// gemm_pack (shaders/gemm_pack.wgsl): a row-major f16 matrix rewritten as 16 x 16 tiles of 512 contiguous
// bytes, the layout the matrix kernels load straight from storage as subgroup matrices (gemm_matrix_packed's
// two operands, gemm_matrix_tile's bpack weights). Weights are packed once per Linear (packLinear, kept in
// Linear.packed, freed by freeLinear); activations per call (packRows into a scratch).
import type { Gpu } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import type { Linear } from "./gemm_common.ts";
import { workgroups1d } from "./workgroups.ts";

/** Elements (f16) of a packed [R, K] matrix: ceil(R / 16) * ceil(K / 16) tiles of 256. */
export function packedElements(R: number, K: number): number {
  return Math.ceil(R / 16) * Math.ceil(K / 16) * 256;
}

/** Records the packing of x [R, K] (f16) into `out` (packedElements(R, K) f16). */
export function packRows(gpu: Gpu, x: Tensor, out: Tensor, what: string): void {
  const [R, K] = x.shape;
  if (x.dtype !== "f16" || out.dtype !== "f16") throw new Error(`${what}: gemm_pack takes f16, found ${x.dtype} -> ${out.dtype}`);
  const total = packedElements(R, K) / 4;
  if (out.shape.reduce((a, b) => a * b, 1) !== total * 4) throw new Error(`${what}: packed output has [${out.shape}] elements, expected ${total * 4}`);
  gpu.dispatch(gpu.kernel("gemm_pack", { vec: K % 4 === 0 }), { R, K, KT: Math.ceil(K / 16), total }, [x, out], workgroups1d(Math.ceil(total / 256)));
}

/**
 * The layer's weight chunks packed on the GPU (once per Linear, kept in layer.packed; freeLinear frees them). Each chunk is
 * packed on its own, so its rows are those of the Linear's chunk; throws naming the layer where a packed
 * chunk (rows and K rounded up to 16) exceeds one storage binding.
 */
export function packLinear(gpu: Gpu, layer: Linear): { w: Tensor; rows: number }[] {
  if (layer.packed) return layer.packed;
  const name = layer.name ?? "linear";
  if (layer.chunks.length === 0) throw new Error(`${name}: layer was freed`);
  const K = layer.inFeatures;
  const chunks = layer.chunks.map((c, i) => {
    const rows = c.shape[0];
    const n = packedElements(rows, K);
    gpu.checkBinding(n * 2, `${name}: packed weight chunk ${i} (${rows} rows of ${K}, rounded up to 16)`);
    const w = gpu.empty([n], "f16", `${name}.packed[${i}]`);
    gpu.pin(w);
    packRows(gpu, c, w, name);
    return { w, rows };
  });
  layer.packed = chunks;
  return chunks;
}
