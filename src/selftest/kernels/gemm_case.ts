// One gemm check case, shared by the scalar kernel's checks (gemm.test.ts) and the matrix kernel's
// (gemm_matrix.test.ts): its label, its operands rounded to the run's dtype, the weight upload (chunked
// where asked), x and out as row views of bigger buffers, and the Float64 reference.
import { type GemmEpilogue, type Linear, uploadLinear } from "../../ops/gemm_common.ts";
import { rowsView } from "../../gpu/tensor.ts";
import type { DType } from "../../shape.ts";
import type { Tensor } from "../../gpu/tensor.ts";
import type { Gpu } from "../../gpu/device.ts";
import { gemmRef } from "../reference/gemm.ts";
import { f64, randomArray, roundF16 } from "../harness.ts";

export interface GemmCase {
  M: number;
  N: number;
  K: number;
  epilogue?: GemmEpilogue;
  bias?: boolean;
  /** Split the weight into chunks of at most this many bytes (uploadLinear's maxChunkBytes). */
  maxChunkBytes?: number;
  tile?: string;
  /** Bind x and out as views starting at this row of bigger buffers (offsets kept 256-byte aligned by the case). */
  viewRows?: number;
}

/** The test's name: `${op} MxNxK epilogue`, then what the case varies. */
export function gemmCaseLabel(op: string, c: GemmCase): string {
  return `${op} ${c.M}x${c.N}x${c.K} ${c.epilogue ?? "none"}${c.bias === false ? " nobias" : ""}` +
    `${c.tile ? " tile " + c.tile : ""}${c.maxChunkBytes ? " chunked" : ""}${c.viewRows ? " views" : ""}`;
}

/** The gate's row that residual_gate reads (of 3 rows). */
const GATE_ROWS = 3, GATE_ROW = 1;

export interface GemmSetup {
  layer: Linear;
  /** [v + M + 1, N], out's rows [v, v + M) */
  outBig: Tensor;
  xt: Tensor;
  out: Tensor;
  /** The residual_gate option (undefined for the other epilogues). */
  gate: { tensor: Tensor; offset: number } | undefined;
  /** The residual stream out starts from (written into out by the caller). */
  y0: Float32Array;
  residual: boolean;
  /** The Float64 reference of out. */
  ref: Float64Array;
}

/**
 * Operands of seed `seed` rounded to `dtype`, the weight uploaded (checked chunked where asked), x written
 * into its view; out is left to the caller (sentinels, then y0 or NaN).
 */
export function gemmSetup(gpu: Gpu, c: GemmCase, dtype: DType, seed: number, name: string): GemmSetup {
  const { M, N, K, epilogue = "none", bias = true } = c;
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  const x = round(randomArray(M * K, seed, 1));
  const w = round(randomArray(N * K, seed + 1, 1 / Math.sqrt(K)));
  const b = bias ? round(randomArray(N, seed + 2, 0.5)) : null;
  const y0 = round(randomArray(M * N, seed + 3, 1));
  const gateAll = round(randomArray(GATE_ROWS * N, seed + 4, 1));
  const layer = uploadLinear(gpu, w, [N, K], b, dtype, name, c.maxChunkBytes);
  if (c.maxChunkBytes) {
    const rows = layer.chunks.map((t) => t.shape[0]);
    if (rows.length < 2) throw new Error(`expected a chunked weight, got chunks of rows [${rows}]`);
  }
  const residual = epilogue === "residual" || epilogue === "residual_gate";
  // Views: rows [v, v + M) of [v + M + 1, .] buffers.
  const v = c.viewRows ?? 0;
  const xBig = gpu.empty([v + M + 1, K], dtype, "x");
  const outBig = gpu.empty([v + M + 1, N], dtype, "out");
  const xt = rowsView(xBig, v, M), out = rowsView(outBig, v, M);
  gpu.write(xt, x);
  const gateTensor = gpu.upload(gateAll, [GATE_ROWS, N], dtype, "gate");
  const gate = epilogue === "residual_gate" ? { tensor: gateTensor, offset: GATE_ROW * N } : undefined;
  const ref = gemmRef(f64(x), f64(w), b && f64(b), M, N, K, epilogue, f64(y0), f64(gateAll.subarray(GATE_ROW * N, GATE_ROW * N + N)));
  return { layer, outBig, xt, out, gate, y0, residual, ref };
}
