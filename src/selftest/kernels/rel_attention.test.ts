import { relAttention } from "../../ops/rel_attention.ts";
import { relAttentionRef } from "../reference/rel_attention.ts";
import { expectClose, f64, randomArray, roundF16, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

async function check(gpu: Gpu, L: number, N: number, D: number, dtype: DType) {
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  // scores of a few units (umT5 has no 1/sqrt(D)): q and k scaled so the softmax is neither flat nor one-hot
  const sc = 1.5 / Math.sqrt(D);
  const q = round(randomArray(L * N * D, L + 3, sc)), k = round(randomArray(L * N * D, L + 5, sc)), v = round(randomArray(L * N * D, L + 7));
  const bias = randomArray(N * (2 * L - 1), L + 11, 2);
  const up = (a: Float32Array) => gpu.upload(a, [L, N, D], dtype);
  const out = gpu.empty([L, N, D], dtype);
  relAttention(gpu, up(q), up(k), up(v), gpu.upload(bias, [N, 2 * L - 1], "f32"), out);
  expectClose(`relAttention L${L} N${N} D${D} ${dtype}`, await gpu.read(out), relAttentionRef(f64(q), f64(k), f64(v), f64(bias), L, N, D), TOL.matmul[dtype]);
}

// odd L, head dims that are not multiples of 4, more keys than one workgroup's 64 invocations, the 512 maximum
for (const [L, N, D] of [[1, 2, 8], [15, 3, 10], [77, 4, 16], [130, 2, 64], [512, 1, 12]]) {
  test(`rel_attention f32 L${L} N${N} D${D}`, () => withGpu((gpu) => check(gpu, L, N, D, "f32")));
}
test("rel_attention f16 L37 N3 D10", () => withGpuF16((gpu) => check(gpu, 37, 3, 10, "f16")), { needs: ["f16"] });
