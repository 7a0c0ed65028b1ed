import { unpatchify } from "../../ops/unpatchify.ts";
import { addRows } from "../../ops/add.ts";
import { layerNormModulated } from "../../ops/layer_norm.ts";
import { unpatchifyRef } from "../reference/unpatchify.ts";
import { expectClose, f64, randomArray, roundF16, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import { golden, linearF64, readFixture } from "./golden.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType, Grid3 } from "../../shape.ts";

/** A latent [C, F, H, W]: its channels and its grid. */
type Grid = { C: number } & Grid3;

// Writes the given token ranges one call each into an output prefilled with other values, and checks
// every pixel: those of the ranges from y, all others untouched.
async function check(gpu: Gpu, grid: Grid, ranges: [number, number][], dtype: DType) {
  const { C, F, H, W } = grid;
  const init = randomArray(C * F * H * W, 99 + C * F, 5);
  const out = gpu.upload(init, [C, F, H, W], "f32");
  const ref = f64(init);
  for (const [start, end] of ranges) {
    const count = end - start;
    const y = randomArray(count * 4 * C, start * 7 + count, 1);
    const yin = dtype === "f16" ? roundF16(y) : y;
    unpatchify(gpu, gpu.upload(yin, [count, 4 * C], dtype), start, count, grid, out);
    unpatchifyRef(f64(yin), start, count, grid, ref);
  }
  // A copy (f16 values widen exactly), so exact.
  expectClose(`unpatchify [${C},${F},${H},${W}] ranges ${JSON.stringify(ranges)} ${dtype}`, await gpu.read(out), ref, 0);
}

const tiny = { C: 4, F: 3, H: 6, W: 10 }, small = { C: 16, F: 5, H: 12, W: 14 };
const cases: [string, Grid, [number, number][]][] = [
  ["wan-tiny all", tiny, [[0, 45]]],
  ["wan-tiny middle shard", tiny, [[17, 28]]],
  ["wan-tiny 3 uneven shards", tiny, [[0, 16], [16, 44], [44, 45]]],
  ["wan-small middle shard", small, [[100, 210 - 13]]],
  ["one token", { C: 3, F: 1, H: 2, W: 2 }, [[0, 1]]],
];
for (const [label, grid, ranges] of cases) {
  test(`unpatchify f32 ${label}`, () => withGpu((gpu) => check(gpu, grid, ranges, "f32")));
  test(`unpatchify f16 ${label}`, () => withGpuF16((gpu) => check(gpu, grid, ranges, "f16")), { needs: ["f16"] });
}
test("unpatchify f32 16x21x60x104 two shards", () => withGpu((gpu) => check(gpu, { C: 16, F: 21, H: 60, W: 104 }, [[0, 16381], [16381, 32760]], "f32")));

test("unpatchify errors name the tensor, expected vs found", () =>
  withGpu(async (gpu) => {
    const out = gpu.empty([4, 3, 6, 10], "f32");
    for (const [f, re] of [
      [() => unpatchify(gpu, gpu.empty([45, 16], "f32"), 0, 45, tiny, gpu.empty([4, 3, 6, 10], "f16")), /unpatchify out: expected dtype f32/],
      [() => unpatchify(gpu, gpu.empty([45, 16], "f32"), 0, 45, { ...tiny, W: 12 }, out), /unpatchify out: expected shape \[4,3,6,12\] \(the grid\), found \[4,3,6,10\]/],
      [() => unpatchify(gpu, gpu.empty([45, 12], "f32"), 0, 45, tiny, out), /unpatchify y: expected shape \[45,16\], found \[45,12\]/],
      [() => unpatchify(gpu, gpu.empty([2, 16], "f32"), 44, 2, tiny, out), /token range \[44, 46\) must lie inside the 45 tokens/],
    ] as [() => void, RegExp][]) {
      let msg = "";
      try { f(); } catch (e) { msg = (e as Error).message; }
      if (!re.test(msg)) throw new Error(`expected ${re}, got ${msg || "no error"}`);
    }
  }));

// Golden: the output stage against diffusers' float64 output, from the hidden states after the last
// block: mod = scale_shift_table [2, d] + temb [1, d] (addRows), LN(h) * (1 + scale) + shift
// (layerNormModulated, rows 0 and 1), proj_out in Float64 here, then unpatchify in two shards.
for (const name of ["wan-tiny", "wan-small"] as const) {
  test(`addRows + layerNormModulated + unpatchify f32 output stage vs ${name} golden`, () =>
    withGpu(async (gpu) => {
      const [io, model] = await Promise.all([readFixture(name, "io.safetensors"), readFixture(name, "model.safetensors")]);
      const cfgLayers = [...io.keys()].filter((k) => k.startsWith("intermediate.blocks.")).length;
      const hLast = golden(io, `intermediate.blocks.${cfgLayers - 1}`);
      const [, L, d] = hLast.shape;
      const [, C, F, H, W] = golden(io, "expected").shape;
      const up = (a: Float64Array, shape: number[]) => gpu.upload(Float32Array.from(a), shape, "f32");
      const mod = gpu.empty([2, d], "f32");
      addRows(gpu, up(golden(model, "scale_shift_table").data, [2, d]), up(golden(io, "intermediate.condition_embedder.0").data, [1, d]), mod);
      const n = gpu.empty([L, d], "f32");
      layerNormModulated(gpu, up(hLast.data, [L, d]), mod, 0, 1, n);
      const pw = golden(model, "proj_out.weight");
      const y = linearF64(f64(await gpu.read(n)), pw.data, golden(model, "proj_out.bias").data, L, d, pw.shape[0]);
      const out = gpu.empty([1, C, F, H, W], "f32");
      const cut = Math.floor(L / 2) + 1;
      unpatchify(gpu, up(y.subarray(0, cut * 4 * C), [cut, 4 * C]), 0, cut, { F, H, W }, out);
      unpatchify(gpu, up(y.subarray(cut * 4 * C), [L - cut, 4 * C]), cut, L - cut, { F, H, W }, out);
      expectClose(`${name} output`, await gpu.read(out), golden(io, "expected").data, TOL.elementwise.f32);
    }));
}
