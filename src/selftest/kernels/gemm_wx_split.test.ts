import { splitF16, splitStride } from "../../ops/gemm_wx_split.ts";
import { gemmRef } from "../reference/gemm.ts";
import { gemmWxMatrixRef, splitF16Ref } from "../reference/gemm_wx_split.ts";
import { f64, randomArray, relL2, test, TOL, withGpuF16 } from "../harness.ts";

// Rows with a wide range on purpose: values past f16's 65504, a zero row, a row of 1e-8s, mixed magnitudes.
function input(M: number, K: number): Float32Array {
  const x = randomArray(M * K, M * 7 + K, 1);
  for (let k = 0; k < K; k++) {
    if (M > 1) x[K + k] *= 3e5;
    if (M > 2) x[2 * K + k] = 0;
    if (M > 3) x[3 * K + k] *= 1e-8;
    if (M > 4) x[4 * K + k] *= k % 3 === 0 ? 1e3 : 1e-3;
  }
  return x;
}

async function check(M: number, K: number, parts: 1 | 2) {
  await withGpuF16(async (gpu) => {
    const x = input(M, K);
    const { xp, s, Kp } = splitF16(gpu, gpu.upload(x, [M, K], "f32"), parts);
    const got = await gpu.read(xp), gs = await gpu.read(s);
    const ref = splitF16Ref(x, M, K, parts);
    const bad: string[] = [];
    for (let m = 0; m < M; m++) {
      if (gs[m] !== ref.s[m]) bad.push(`s[${m}] ${gs[m]} vs ${ref.s[m]}`);
      for (let k = 0; k < Kp; k++) {
        const hi = got[m * parts * Kp + k], lo = parts === 2 ? got[m * parts * Kp + Kp + k] : 0;
        if (k >= K) {
          if (hi !== 0 || lo !== 0) bad.push(`pad [${m}, ${k}] = ${hi}, ${lo}`);
          continue;
        }
        // hi within one f16 step of v (the rounding direction is the driver's); hi + lo carries v to 2^-21
        // relative, or to lo's subnormal step 2^-24 (values under 2^-14 of the row's scale)
        const v = x[m * K + k] / ref.s[m], step = Math.max(2 ** (Math.floor(Math.log2(Math.abs(v) || 1)) - 10), 2 ** -24);
        if (Math.abs(hi - v) > step) bad.push(`hi [${m}, ${k}] ${hi} vs v ${v}`);
        if (parts === 2 && Math.abs(hi + lo - v) > Math.max(2 ** -21 * Math.abs(v), 2 ** -24)) bad.push(`hi + lo [${m}, ${k}] ${hi + lo} vs v ${v}`);
      }
    }
    if (bad.length) throw new Error(`splitF16 ${M}x${K} parts ${parts}: ${bad.length} wrong: ${bad.slice(0, 5).join("; ")}`);
  });
}

test("gemm_wx_split 1x1", () => check(1, 1, 2), { needs: ["f16"] });
test("gemm_wx_split 6x300 hi and lo (values past f16's range, a zero row, 1e-8s, mixed magnitudes; K padded to 320)", () => check(6, 300, 2), { needs: ["f16"] });
test("gemm_wx_split 5x64 hi only", () => check(5, 64, 1), { needs: ["f16"] });

// The design's claim, on the host: s (hi + lo) . W is f32-accurate (a few 2^-22 of the sum), s hi . W only
// f16-accurate. Both references are exact sums, so this is the operand error alone.
test("gemm_wx_split: hi + lo keeps f32 accuracy of X in a product (rel L2 < 1e-6), hi alone does not (> 1e-5)", () => {
  const M = 5, N = 40, K = 300, x = input(M, K), w = f64(randomArray(N * K, 3, 1 / Math.sqrt(K)));
  const exact = gemmRef(f64(x), w, null, M, N, K, "none", null);
  const two = relL2(gemmWxMatrixRef(x, w, M, N, K, 2), exact), one = relL2(gemmWxMatrixRef(x, w, M, N, K, 1), exact);
  if (!(two < 1e-6 && one > 1e-5 && two < TOL.matmul.f32 / 100)) throw new Error(`rel L2 hi + lo ${two.toExponential(2)}, hi only ${one.toExponential(2)}`);
  if (splitStride(300) !== 320 || splitStride(32) !== 32) throw new Error("splitStride rounds K up to a multiple of 32");
});
