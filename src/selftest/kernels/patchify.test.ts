import { patchify } from "../../ops/patchify.ts";
import { patchifyRef } from "../reference/patchify.ts";
import { expectClose, f64, randomArray, roundF16, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import { golden, readFixture } from "./golden.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType, Grid3 } from "../../shape.ts";

/** A latent [C, F, H, W]: its channels and its grid. */
type Grid = { C: number } & Grid3;

async function check(gpu: Gpu, grid: Grid, start: number, count: number, dtype: DType, batched = false) {
  const { C, F, H, W } = grid;
  const x = randomArray(C * F * H * W, C + F * 7 + H * 31 + W, 2);
  const xt = gpu.upload(x, batched ? [1, C, F, H, W] : [C, F, H, W], "f32");
  const out = gpu.empty([count, C * 4], dtype);
  patchify(gpu, xt, start, count, out);
  const ref = patchifyRef(f64(x), start, count, grid);
  // A copy is exact in f32; f16 is exactly the rounding of each value.
  expectClose(`patchify [${C},${F},${H},${W}] tokens [${start}, ${start + count}) ${dtype}`, await gpu.read(out), dtype === "f16" ? f64(roundF16(Float32Array.from(ref))) : ref, 0);
}

// [grid, start, count]: wan-tiny (F=3, H=6, W=10: 45 tokens) whole and a middle shard, wan-small
// (210 tokens) middle shard, one token, and a 16-channel latent.
const cases: [Grid, number, number][] = [
  [{ C: 4, F: 3, H: 6, W: 10 }, 0, 45],
  [{ C: 4, F: 3, H: 6, W: 10 }, 17, 11],
  [{ C: 16, F: 5, H: 12, W: 14 }, 100, 110],
  [{ C: 16, F: 5, H: 12, W: 14 }, 209, 1],
  [{ C: 3, F: 1, H: 2, W: 2 }, 0, 1],
];
for (const [grid, start, count] of cases) {
  const g = `${grid.C}x${grid.F}x${grid.H}x${grid.W} [${start},${start + count})`;
  test(`patchify f32 ${g}`, () => withGpu((gpu) => check(gpu, grid, start, count, "f32")));
  test(`patchify f16 ${g}`, () => withGpuF16((gpu) => check(gpu, grid, start, count, "f16")), { needs: ["f16"] });
}
test("patchify f32 accepts x [1, C, F, H, W]", () => withGpu((gpu) => check(gpu, { C: 4, F: 3, H: 6, W: 10 }, 5, 30, "f32", true)));
// 16 x 21 x 60 x 104: a 480p-wide latent row, 32,760 tokens x 64 = 2.1M elements; a late shard.
test("patchify f32 16x21x60x104 last shard", () => withGpu((gpu) => check(gpu, { C: 16, F: 21, H: 60, W: 104 }, 24570, 8190, "f32")));

test("patchify errors name the tensor, expected vs found", () =>
  withGpu(async (gpu) => {
    const x = gpu.empty([4, 3, 6, 10], "f32");
    for (const [f, re] of [
      [() => patchify(gpu, gpu.empty([4, 3, 6, 10], "f16"), 0, 45, gpu.empty([45, 16], "f32")), /patchify x: expected dtype f32/],
      [() => patchify(gpu, gpu.empty([4, 3, 5, 10], "f32"), 0, 1, gpu.empty([1, 16], "f32")), /H and W must be even/],
      [() => patchify(gpu, x, 40, 6, gpu.empty([6, 16], "f32")), /token range \[40, 46\) must lie inside the 45 tokens/],
      [() => patchify(gpu, x, 0, 45, gpu.empty([45, 12], "f32")), /patchify out: expected shape \[45,16\], found \[45,12\]/],
    ] as [() => void, RegExp][]) {
      let msg = "";
      try { f(); } catch (e) { msg = (e as Error).message; }
      if (!re.test(msg)) throw new Error(`expected ${re}, got ${msg || "no error"}`);
    }
  }));

// Golden: the patch-embedding Conv3d equals patchify, then tokens W^T + b with W [d, C*4]; checked against
// diffusers' float64 intermediate.patch_embedding [1, d, F, H/2, W/2], patchify done per shard of 3.
for (const name of ["wan-tiny", "wan-small"] as const) {
  test(`patchify f32 (3 shards) + patch embedding vs ${name} golden`, () =>
    withGpu(async (gpu) => {
      const [io, model] = await Promise.all([readFixture(name, "io.safetensors"), readFixture(name, "model.safetensors")]);
      const hs = golden(io, "hidden_states");
      const [, C, F, H, W] = hs.shape;
      const L = F * (H / 2) * (W / 2);
      const wt = golden(model, "patch_embedding.weight"), bias = golden(model, "patch_embedding.bias").data;
      const d = wt.shape[0], K = C * 4;
      const xt = gpu.upload(Float32Array.from(hs.data), hs.shape, "f32");
      const got = new Float64Array(d * L); // [d, L] like the conv output
      for (const [start, end] of [[0, Math.floor(L / 3)], [Math.floor(L / 3), L - 2], [L - 2, L]]) {
        const tok = gpu.empty([end - start, K], "f32");
        patchify(gpu, xt, start, end - start, tok);
        const p = await gpu.read(tok);
        for (let t = 0; t < end - start; t++) {
          for (let o = 0; o < d; o++) {
            let s = bias[o];
            for (let k = 0; k < K; k++) s += p[t * K + k] * wt.data[o * K + k];
            got[o * L + start + t] = s;
          }
        }
      }
      expectClose(`${name} patch embedding`, got, golden(io, "intermediate.patch_embedding").data, TOL.elementwise.f32);
    }));
}
