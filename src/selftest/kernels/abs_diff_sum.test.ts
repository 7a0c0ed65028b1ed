import { ABS_DIFF_SUM_CHUNK, absDiffSums } from "../../ops/abs_diff_sum.ts";
import { absDiffSumsRef } from "../reference/abs_diff_sum.ts";
import { expectClose, expectThrows, randomArray, roundF16, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

async function check(gpu: Gpu, rows: number, cols: number, dtype: DType) {
  const round = dtype === "f16" ? roundF16 : (x: Float32Array) => x;
  const a = round(randomArray(rows * cols, rows + cols, 1));
  // b near a (FBCache compares two steps' residuals: differences a few percent of the values)
  const b = round(a.map((v, i) => v * 1.02 + 0.05 * Math.sin(i)));
  const got = await absDiffSums(gpu, gpu.upload(a, [rows, cols], dtype), gpu.upload(b, [rows, cols], dtype));
  const ref = absDiffSumsRef(a, b);
  // Sums of up to 4096 f32 terms per workgroup: the GEMM bound (inputs are the same rounded values on both sides).
  expectClose(`absDiffSums [${rows},${cols}] ${dtype}`, [got.diff, got.base], [ref.diff, ref.base], TOL.matmul.f32);
}

// [rows, cols]: wan-small's 45 tokens x d 96, one workgroup's chunk exactly and one past it, an odd size, one element,
// and more workgroups than one dimension holds (65535 x 4096 elements would be 1 GiB: the 2-D grid is checked by add).
const cases = [[45, 96], [1, ABS_DIFF_SUM_CHUNK], [1, ABS_DIFF_SUM_CHUNK + 1], [37, 61], [1, 1], [300, 1536]];
for (const [rows, cols] of cases) {
  test(`abs_diff_sum f32 [${rows},${cols}]`, () => withGpu((gpu) => check(gpu, rows, cols, "f32")));
  test(`abs_diff_sum f16 [${rows},${cols}]`, () => withGpuF16((gpu) => check(gpu, rows, cols, "f16")), { needs: ["f16"] });
}

test("abs_diff_sum errors name the tensor, expected vs found", () =>
  withGpu(async (gpu) => {
    const a = gpu.empty([6, 8], "f32");
    await expectThrows("shape", () => absDiffSums(gpu, a, gpu.empty([6, 7], "f32")), /absDiffSums b: expected shape \[6,8\], found \[6,7\]/);
    await expectThrows("dtype", () => absDiffSums(gpu, a, gpu.empty([6, 8], "f16")), /absDiffSums b: expected dtype f32, found f16/);
  }));
