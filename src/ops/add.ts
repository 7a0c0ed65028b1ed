// addRows: out[r, :] = a[r, :] + scaleB * b[r % rowsB, :], b broadcast over rows when it has one row
// (scaleB = -1: a - b, the step caches' residual)
// (see shaders/add.wgsl). a, out [R, d]; b [1, d] or [R, d] (any rowsB dividing R).
import type { Gpu } from "../gpu/device.ts";
import { expectShape, type Tensor } from "../gpu/tensor.ts";
import { expect2d, expectNoOverlap } from "./checks.ts";
import { workgroups1d } from "./workgroups.ts";

export function addRows(gpu: Gpu, a: Tensor, b: Tensor, out: Tensor, scaleB = 1): void {
  // 1. validate
  const [rows, cols] = expect2d("addRows a", a);
  const [rowsB, colsB] = expect2d("addRows b", b);
  if (colsB !== cols || rowsB === 0 || rows % rowsB !== 0) {
    throw new Error(`addRows b: expected shape [1, ${cols}] or [${rows}, ${cols}] (rows dividing ${rows}), found [${b.shape}]`);
  }
  if (b.dtype !== a.dtype) throw new Error(`addRows b: expected dtype ${a.dtype} (a's), found ${b.dtype}`);
  expectShape("addRows out", out, [rows, cols], a.dtype);
  expectNoOverlap("addRows", ["out", out], ["a", a]);
  expectNoOverlap("addRows", ["out", out], ["b", b]);
  // 2. pipeline key: dtype  3. uniforms  4. dispatch: one invocation per element
  const n = rows * cols;
  const kernel = gpu.kernel("add", { f16: a.dtype === "f16" });
  gpu.dispatch(kernel, { n, cols, rows_b: rowsB, scale_b: scaleB }, [a, b, out], workgroups1d(Math.ceil(n / 256)));
}
