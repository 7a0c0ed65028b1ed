import { geluTanh, silu } from "../../ops/activation.ts";
import { geluTanhRef, siluRef } from "../reference/activation.ts";
import { expectClose, f64, randomArray, roundF16, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

const OPS = { silu: [silu, siluRef], gelu_tanh: [geluTanh, geluTanhRef] } as const;

async function check(gpu: Gpu, name: keyof typeof OPS, shape: number[], dtype: DType, scale = 6) {
  const [op, ref] = OPS[name];
  const n = shape.reduce((a, b) => a * b, 1);
  const x = randomArray(n, n + shape.length, scale);
  const xin = dtype === "f16" ? roundF16(x) : x;
  const t = gpu.upload(xin, shape, dtype);
  op(gpu, t);
  expectClose(`${name} [${shape}] ${dtype}`, await gpu.read(t), ref(f64(xin)), TOL.elementwise[dtype]);
}

// Extreme inputs: the naive formulas give inf/inf or inf * 0 (NaN); values must stay finite and right.
async function checkExtremes(gpu: Gpu, name: keyof typeof OPS, dtype: DType) {
  const [op, ref] = OPS[name];
  const big = dtype === "f16" ? [6e4, -6e4, 1e4, -1e4, 80, -80, 20, -20] : [3e38, -3e38, 1e13, -1e13, 1e4, -1e4, 100, -100, 89, -89, 20, -20];
  const x = Float32Array.from([...big, 1e-8, -1e-8, 0, 0.5, -0.5, 3, -3, -5.5]);
  const t = gpu.upload(x, [x.length], dtype);
  op(gpu, t);
  const got = await gpu.read(t);
  // Element by element (relative L2 would be swamped by the 3e38 entries): finite, and close in relative
  // terms with an absolute floor for results that underflow towards 0.
  const want = ref(f64(dtype === "f16" ? roundF16(x) : x));
  const [rel, abs] = dtype === "f16" ? [TOL.elementwise.f16, 1e-3] : [TOL.elementwise.f32, 1e-6];
  got.forEach((g, i) => {
    if (!Number.isFinite(g) || !(Math.abs(g - want[i]) <= rel * Math.abs(want[i]) + abs)) {
      throw new Error(`${name} extremes ${dtype}: x = ${x[i]}: got ${g}, expected ${want[i]}`);
    }
  });
}

const shapes = [[1, 24], [45, 96], [210, 1536], [7, 1000], [3, 5, 7]];
for (const name of ["silu", "gelu_tanh"] as const) {
  for (const shape of shapes) {
    test(`${name} f32 [${shape}]`, () => withGpu((gpu) => check(gpu, name, shape, "f32")));
    test(`${name} f16 [${shape}]`, () => withGpuF16((gpu) => check(gpu, name, shape, "f16")), { needs: ["f16"] });
  }
  test(`${name} f32 extremes (no NaN for |x| ~ 1e4 and beyond)`, () => withGpu((gpu) => checkExtremes(gpu, name, "f32")));
  test(`${name} f16 extremes`, () => withGpuF16((gpu) => checkExtremes(gpu, name, "f16")), { needs: ["f16"] });
}
// More than 65535 * 256 elements: the workgroup index must use wg.y as well (one op suffices: same shader).
test("silu f32 [17000000] (2-D grid)", () => withGpu((gpu) => check(gpu, "silu", [17_000_000], "f32", 4)), { tags: ["slow"] });
