import { addRows } from "../../ops/add.ts";
import { addRowsRef } from "../reference/add.ts";
import { expectClose, f64, randomArray, roundF16, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

async function check(gpu: Gpu, rows: number, rowsB: number, cols: number, dtype: DType, scaleB = 1) {
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  const a = round(randomArray(rows * cols, rows + cols, 1));
  const b = round(randomArray(rowsB * cols, rowsB * 3 + cols, 1));
  const out = gpu.empty([rows, cols], dtype);
  addRows(gpu, gpu.upload(a, [rows, cols], dtype), gpu.upload(b, [rowsB, cols], dtype), out, scaleB);
  expectClose(`addRows [${rows},${cols}] + ${scaleB} x [${rowsB},${cols}] ${dtype}`, await gpu.read(out), addRowsRef(f64(a), f64(b), rows, rowsB, cols, scaleB), TOL.elementwise[dtype]);
}

// [rows, rowsB, cols]: Wan's [6,d] + [6,d] and [2,d] + [1,d], plus awkward sizes and a many-row broadcast.
const cases = [[6, 6, 24], [2, 1, 24], [6, 6, 1536], [2, 1, 5120], [45, 1, 12], [7, 7, 1000], [210, 1, 96], [1, 1, 1]];
for (const [rows, rowsB, cols] of cases) {
  test(`add f32 [${rows},${cols}] + [${rowsB},${cols}]`, () => withGpu((gpu) => check(gpu, rows, rowsB, cols, "f32")));
  test(`add f16 [${rows},${cols}] + [${rowsB},${cols}]`, () => withGpuF16((gpu) => check(gpu, rows, rowsB, cols, "f16")), { needs: ["f16"] });
}
// The step caches' residual: h after the blocks - h before them.
test("add f32 [45,96] - [45,96] (scaleB -1)", () => withGpu((gpu) => check(gpu, 45, 45, 96, "f32", -1)));
test("add f16 [45,96] - [45,96] (scaleB -1)", () => withGpuF16((gpu) => check(gpu, 45, 45, 96, "f16", -1)), { needs: ["f16"] });
test("add f32 [70000,300] + [1,300] (2-D grid)", () => withGpu((gpu) => check(gpu, 70000, 1, 300, "f32")), { tags: ["slow"] });

test("add errors name the tensor, expected vs found", () =>
  withGpu(async (gpu) => {
    const a = gpu.empty([6, 24], "f32");
    const expectThrow = (f: () => void, re: RegExp) => {
      try { f(); } catch (e) { if (re.test((e as Error).message)) return; throw new Error(`wrong error: ${(e as Error).message}`); }
      throw new Error(`no error, expected ${re}`);
    };
    expectThrow(() => addRows(gpu, a, gpu.empty([4, 24], "f32"), gpu.empty([6, 24], "f32")), /addRows b: expected shape \[1, 24\] or \[6, 24\]/);
    expectThrow(() => addRows(gpu, a, gpu.empty([1, 24], "f16"), gpu.empty([6, 24], "f32")), /addRows b: expected dtype f32/);
    expectThrow(() => addRows(gpu, a, gpu.empty([1, 24], "f32"), gpu.empty([6, 12], "f32")), /addRows out: expected shape \[6,24\], found \[6,12\]/);
    expectThrow(() => addRows(gpu, a, gpu.empty([1, 24], "f32"), a), /addRows: out overlaps a/);
  }));
