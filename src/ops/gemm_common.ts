// What the scalar gemm (gemm.ts) and the matrix gemm (gemm_matrix.ts) share, as gemm_common.wgsl is for
// their shaders: the Linear layer (weight rows in chunks that fit one storage binding), its upload and
// release, the epilogue's defines and the one dispatch per weight chunk.
import type { Gpu, Kernel } from "../gpu/device.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { type DType, dtypeBytes } from "../shape.ts";

export type GemmEpilogue = "none" | "gelu_tanh" | "residual" | "residual_gate";

/** A linear layer on the GPU; weight rows split into chunks when [N,K] exceeds one storage binding. */
export interface Linear {
  /** Each [n_i, K], consecutive row ranges of W (n_i a multiple of 128 except the last). */
  chunks: Tensor[];
  /** [N] */
  bias: Tensor | null;
  outFeatures: number;
  inFeatures: number;
  /** The name given to uploadLinear, used in errors. */
  name?: string;
  /**
   * The weight chunks packed in 16 x 16 tiles for the packed matrix kernel (src/ops/gemm_matrix_packed.ts
   * packLinear makes them on first use; freeLinear frees them), each with the weight rows it holds.
   */
  packed?: { w: Tensor; rows: number }[];
}

/** Chunk rows are multiples of this, so a chunk's byte offset within W stays 256-byte aligned. */
const CHUNK_ROW_ALIGN = 128;

/**
 * Uploads W [N, K] (and b [N]) as `dtype`. Rows are split so each chunk fits
 * `maxChunkBytes` (default: the adapter's maxStorageBufferBindingSize); tests pass a tiny value to
 * exercise the chunked path.
 */
export function uploadLinear(
  gpu: Gpu,
  weight: Float32Array,
  shape: [number, number],
  bias: Float32Array | null,
  dtype: DType,
  name: string,
  maxChunkBytes?: number,
): Linear {
  const [N, K] = shape;
  if (!(N > 0 && K > 0 && Number.isInteger(N) && Number.isInteger(K))) throw new Error(`${name}: bad weight shape [${shape}]`);
  if (weight.length !== N * K) throw new Error(`${name}: weight has ${weight.length} values, shape [${N}, ${K}] needs ${N * K}`);
  if (bias && bias.length !== N) throw new Error(`${name}: bias has ${bias.length} values, expected ${N} (out features)`);
  const rowBytes = K * dtypeBytes(dtype);
  const maxBytes = Math.min(maxChunkBytes ?? Infinity, gpu.limits.maxStorageBufferBindingSize);
  let rows = N;
  if (N * rowBytes > maxBytes) {
    rows = Math.floor(maxBytes / rowBytes / CHUNK_ROW_ALIGN) * CHUNK_ROW_ALIGN;
    if (rows === 0) {
      throw new Error(`${name}: ${CHUNK_ROW_ALIGN} weight rows of ${K} ${dtype} (${CHUNK_ROW_ALIGN * rowBytes} bytes) exceed one storage binding (${maxBytes} bytes)`);
    }
  }
  const chunks: Tensor[] = [];
  for (let r0 = 0; r0 < N; r0 += rows) {
    const n = Math.min(rows, N - r0);
    chunks.push(gpu.upload(weight.subarray(r0 * K, (r0 + n) * K), [n, K], dtype, `${name}.weight[${r0}:${r0 + n}]`));
  }
  const b = bias ? gpu.upload(bias, [N], dtype, `${name}.bias`) : null;
  return { chunks, bias: b, outFeatures: N, inFeatures: K, name };
}

export function freeLinear(gpu: Gpu, l: Linear): void {
  for (const c of l.chunks) gpu.freeTensor(c);
  // the packed copies are pinned (gemm_pack.ts): destroyed, not pooled, so no pin outlives them on a reused buffer
  for (const c of l.packed ?? []) gpu.destroyTensor(c.w);
  if (l.bias) gpu.freeTensor(l.bias);
  l.packed = undefined;
  l.chunks = [];
  l.bias = null;
}

/** The epilogue's defines, shared by the scalar and the matrix kernel: gate at binding 4, then the bias. */
export function epilogueDefines(epilogue: GemmEpilogue, hasBias: boolean): Record<string, number | boolean> {
  const epiGate = epilogue === "residual_gate";
  return {
    hasBias,
    epiGelu: epilogue === "gelu_tanh",
    epiResidual: epilogue === "residual" || epiGate,
    epiGate,
    gateBinding: 4,
    biasBinding: epiGate ? 5 : 4,
  };
}

/**
 * One dispatch per weight chunk of `layer` (scalar and matrix kernel alike): bindings x, the chunk, out,
 * then the gate and the bias where present; BM x BN output tiles, each chunk writing its own columns.
 * `weights` binds other buffers per chunk (the packed copies of gemm_pack.ts), with the rows each holds.
 */
export function dispatchChunks(
  gpu: Gpu,
  kernel: Kernel,
  x: Tensor,
  layer: Linear,
  out: Tensor,
  gate: { tensor: Tensor; offset: number } | undefined,
  BM: number,
  BN: number,
  weights: readonly { w: Tensor; rows: number }[] = layer.chunks.map((w) => ({ w, rows: w.shape[0] })),
): void {
  const M = x.shape[0], N = layer.outFeatures, K = layer.inFeatures;
  const extra: Tensor[] = [];
  if (gate) extra.push(gate.tensor);
  if (layer.bias) extra.push(layer.bias);
  const gy = Math.ceil(M / BM);
  let n0 = 0;
  for (const { w, rows: ni } of weights) {
    gpu.dispatch(kernel, { M, N: ni, K, n0, ldo: N, gateOffset: gate?.offset ?? 0 }, [x, w, out, ...extra], [Math.ceil(ni / BN), gy]);
    n0 += ni;
  }
  if (n0 !== N) throw new Error(`${layer.name ?? "linear"}: weight chunks cover ${n0} rows, expected ${N}`);
}
