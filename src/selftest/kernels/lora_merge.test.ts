import { loraMerge } from "../../ops/lora_merge.ts";
import { loraMergeRef } from "../reference/lora_merge.ts";
import { expectClose, expectThrows, f64, randomArray, test, TOL, withGpu } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";

async function check(gpu: Gpu, rows: number, cols: number, rank: number, scale: number) {
  const w = randomArray(rows * cols, rows + cols, 1);
  const a = randomArray(rank * cols, rank * 7 + cols, 0.5);
  const b = randomArray(rows * rank, rank * 3 + rows, 0.5);
  const wt = gpu.upload(w, [rows, cols], "f32");
  loraMerge(gpu, wt, gpu.upload(a, [rank, cols], "f32"), gpu.upload(b, [rows, rank], "f32"), scale);
  const got = await gpu.read(wt);
  const ref = loraMergeRef(f64(w), f64(a), f64(b), rows, cols, rank, scale);
  const what = `loraMerge [${rows},${cols}] rank ${rank} scale ${scale}`;
  expectClose(what, got, ref, TOL.elementwise.f32);
  // The update alone (W would hide its error): sums of `rank` products, as a GEMM's.
  const delta = (x: ArrayLike<number>) => Float64Array.from(x, (v, i) => v - w[i]);
  expectClose(`${what}: the update B A`, delta(got), delta(ref), TOL.matmul.f32);
}

// [rows, cols, rank, scale]: Wan's attention [d, d] (wan-small d = 48), the FFN's [ffn, d] and [d, ffn], the
// patch embedding's [d, C*4], odd sizes and rank 1 (the 2-D dispatch past 65535 workgroups is workgroups1d, checked by add).
const cases: [number, number, number, number][] = [[48, 48, 4, 1], [128, 48, 8, 0.5], [48, 128, 8, 2], [96, 60, 3, -0.75], [37, 61, 1, 1], [1, 1, 1, 3]];
for (const [rows, cols, rank, scale] of cases) {
  test(`lora_merge f32 [${rows},${cols}] rank ${rank}`, () => withGpu((gpu) => check(gpu, rows, cols, rank, scale)), { tags: ["slow"] });
}

test("lora_merge errors name the tensor, expected vs found", () =>
  withGpu(async (gpu) => {
    const w = gpu.empty([6, 8], "f32");
    await expectThrows("b rows", () => loraMerge(gpu, w, gpu.empty([2, 8], "f32"), gpu.empty([5, 2], "f32"), 1), /loraMerge b: expected shape \[6,2\], found \[5,2\]/);
    await expectThrows("a cols", () => loraMerge(gpu, w, gpu.empty([2, 7], "f32"), gpu.empty([6, 2], "f32"), 1), /loraMerge a: expected shape \[2,8\], found \[2,7\]/);
    await expectThrows("f16 w", () => loraMerge(gpu, gpu.empty([6, 8], "f16"), gpu.empty([2, 8], "f32"), gpu.empty([6, 2], "f32"), 1), /loraMerge w: expected dtype f32/);
    await expectThrows("in place", () => loraMerge(gpu, w, w, gpu.empty([6, 6], "f32"), 1), /loraMerge: w overlaps a in the same buffer/);
  }));
