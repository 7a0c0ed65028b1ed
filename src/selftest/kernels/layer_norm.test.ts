import { layerNormAffine, layerNormModulated } from "../../ops/layer_norm.ts";
import { layerNormAffineRef, layerNormModulatedRef } from "../reference/layer_norm.ts";
import { expectClose, f64, randomArray, roundF16, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

const roundFor = (dtype: DType) => dtype === "f16" ? roundF16 : (a: Float32Array) => a;

async function checkModulated(gpu: Gpu, rows: number, cols: number, R: number, shiftRow: number, scaleRow: number, dtype: DType, offset = 0) {
  const round = roundFor(dtype);
  // An offset mean makes a one-pass (E[x^2] - mean^2) variance visibly wrong; the exact two-pass is not.
  const x = round(Float32Array.from(randomArray(rows * cols, rows * 13 + cols, 2), (v) => v + offset));
  const mod = round(randomArray(R * cols, R + cols, 0.5));
  const xt = gpu.upload(x, [rows, cols], dtype), mt = gpu.upload(mod, [R, cols], dtype), out = gpu.empty([rows, cols], dtype);
  layerNormModulated(gpu, xt, mt, shiftRow, scaleRow, out);
  const ref = layerNormModulatedRef(f64(x), f64(mod), shiftRow, scaleRow, rows, cols);
  expectClose(`layerNormModulated ${rows}x${cols} ${dtype}`, await gpu.read(out), ref, TOL.elementwise[dtype]);
}

async function checkAffine(gpu: Gpu, rows: number, cols: number, dtype: DType) {
  const round = roundFor(dtype);
  const x = round(randomArray(rows * cols, rows * 7 + cols, 3));
  const w = round(Float32Array.from(randomArray(cols, cols + 1, 0.1), (v) => 1 + v));
  const b = round(randomArray(cols, cols + 2, 0.05));
  const xt = gpu.upload(x, [rows, cols], dtype), out = gpu.empty([rows, cols], dtype);
  layerNormAffine(gpu, xt, gpu.upload(w, [cols], dtype), gpu.upload(b, [cols], dtype), out);
  expectClose(`layerNormAffine ${rows}x${cols} ${dtype}`, await gpu.read(out), layerNormAffineRef(f64(x), f64(w), f64(b), rows, cols), TOL.elementwise[dtype]);
}

// [rows, cols, R, shiftRow, scaleRow]: block rows (0, 1) and (3, 4) of 6, output rows (0, 1) of 2.
const modCases: [number, number, number, number, number][] = [[1, 24, 6, 0, 1], [45, 24, 6, 3, 4], [210, 96, 2, 0, 1], [7, 1536, 6, 3, 4], [3, 1000, 6, 0, 1], [2, 5120, 6, 3, 4],
  // odd cols (scalar path), and rows longer than the register cache (6144 paired, 3072 scalar)
  [45, 7, 6, 3, 4], [3, 1001, 2, 0, 1], [2, 7000, 6, 3, 4], [2, 5001, 6, 0, 1]];
for (const [rows, cols, R, s, c] of modCases) {
  test(`layer_norm modulated f32 ${rows}x${cols}`, () => withGpu((gpu) => checkModulated(gpu, rows, cols, R, s, c, "f32")));
  test(`layer_norm modulated f16 ${rows}x${cols}`, () => withGpuF16((gpu) => checkModulated(gpu, rows, cols, R, s, c, "f16")), { needs: ["f16"] });
}
for (const [rows, cols] of [[1, 24], [45, 12], [210, 96], [7, 1536], [3, 1000], [7, 13], [2, 6999]]) {
  test(`layer_norm affine f32 ${rows}x${cols}`, () => withGpu((gpu) => checkAffine(gpu, rows, cols, "f32")), { tags: ["slow"] });
  test(`layer_norm affine f16 ${rows}x${cols}`, () => withGpuF16((gpu) => checkAffine(gpu, rows, cols, "f16")), { needs: ["f16"] });
}
test("layer_norm modulated f32 mean offset 100 (two-pass variance)", () => withGpu((gpu) => checkModulated(gpu, 5, 1536, 6, 0, 1, "f32", 100)));

// More rows than one grid dimension holds (65535): the row index must use wg.y as well.
// 70,000 rows (> 65,535 workgroups: the 2-D grid split) take 80 s on SwiftShader: Deno only; Chromium runs the other shapes.
test("layer_norm affine f32 70000x12 (2-D grid)", () => withGpu((gpu) => checkAffine(gpu, 70000, 12, "f32")), { tags: ["slow"], hosts: ["deno"] });

test("layer_norm errors name the tensor, expected vs found", () =>
  withGpu(async (gpu) => {
    const x = gpu.empty([4, 24], "f32"), mod = gpu.empty([6, 24], "f32"), out = gpu.empty([4, 24], "f32");
    const expectThrow = (f: () => void, re: RegExp) => {
      try { f(); } catch (e) { if (re.test((e as Error).message)) return; throw new Error(`wrong error: ${(e as Error).message}`); }
      throw new Error(`no error, expected ${re}`);
    };
    expectThrow(() => layerNormModulated(gpu, x, gpu.empty([6, 12], "f32"), 0, 1, out), /layerNormModulated mod: expected shape \[6,24\], found \[6,12\]/);
    expectThrow(() => layerNormModulated(gpu, x, mod, 0, 6, out), /layerNormModulated scaleRow: expected an integer in \[0, 6\), found 6/);
    expectThrow(() => layerNormModulated(gpu, x, mod, 0, 1, x), /overlaps x/);
    expectThrow(() => layerNormAffine(gpu, x, gpu.empty([24], "f16"), gpu.empty([24], "f32"), out), /layerNormAffine weight: expected dtype f32, found f16/);
    expectThrow(() => layerNormAffine(gpu, x, gpu.empty([24], "f32"), gpu.empty([24], "f32"), gpu.empty([4, 23], "f32")), /layerNormAffine out: expected shape \[4,24\], found \[4,23\]/);
  }));
