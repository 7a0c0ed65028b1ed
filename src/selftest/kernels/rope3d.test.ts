import { rope3d, ropeSplit, ropeTables } from "../../ops/rope3d.ts";
import { ropeRef } from "../reference/rope3d.ts";
import { expectClose, expectThrows, f64, randomArray, roundF16, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import { fixtureBytes, type FixtureName } from "../fixtures.ts";
import type { Gpu } from "../../gpu/device.ts";
import { type DType, type Grid3, gridSize } from "../../shape.ts";

/** From the production tables (ropeTables): cos and sin per token and head dim, [L, D] each, repeat-interleaved per pair (diffusers' layout). */
function ropeCosSin(grid: Grid3, D: number, start = 0, L = gridSize(grid)): { cos: Float32Array; sin: Float32Array } {
  const tab = ropeTables(grid, D);
  const { t, h } = ropeSplit(D);
  const cos = new Float32Array(L * D), sin = new Float32Array(L * D);
  for (let r = 0; r < L; r++) {
    const g = start + r;
    const f = Math.floor(g / (grid.H * grid.W)), hh = Math.floor(g / grid.W) % grid.H, w = g % grid.W;
    for (let i = 0; i < D / 2; i++) {
      const idx = i < t / 2 ? f * (t / 2) + i : i < (t + h) / 2 ? tab.offH + hh * (h / 2) + (i - t / 2) : tab.offW + w * (h / 2) + (i - (t + h) / 2);
      cos[r * D + 2 * i] = cos[r * D + 2 * i + 1] = tab.data[2 * idx];
      sin[r * D + 2 * i] = sin[r * D + 2 * i + 1] = tab.data[2 * idx + 1];
    }
  }
  return { cos, sin };
}

async function check(gpu: Gpu, grid: Grid3, start: number, L: number, N: number, D: number, dtype: DType) {
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  const x = round(randomArray(L * N * D, start * 131 + L * 7 + D, 2));
  const xt = gpu.upload(x, [L, N, D], dtype);
  rope3d(gpu, xt, grid, start);
  const what = `rope3d ${grid.F}x${grid.H}x${grid.W} rows ${start}..${start + L - 1} ${N}x${D} ${dtype}`;
  expectClose(what, await gpu.read(xt), ropeRef(f64(x), L, N, D, grid, start), TOL.elementwise[dtype]);
}

// [grid, start, L, N, D]: starts 0, 17, and a range inside crossing a frame boundary (H*W = 63 / 42 / 60);
// L not a multiple of the workgroup size, positions up to ~100 (where f32 angles would drift).
const cases: [Grid3, number, number, number, number][] = [
  [{ F: 3, H: 3, W: 5 }, 0, 45, 2, 12],
  [{ F: 5, H: 6, W: 7 }, 17, 150, 4, 24],
  [{ F: 4, H: 7, W: 9 }, 50, 33, 3, 36],
  [{ F: 4, H: 6, W: 10 }, 100, 37, 2, 128],
  [{ F: 2, H: 104, W: 110 }, 11400, 300, 1, 128],
];
for (const [grid, start, L, N, D] of cases) {
  const name = `${grid.F}x${grid.H}x${grid.W} start ${start} L ${L} ${N}x${D}`;
  test(`rope3d f32 ${name}`, () => withGpu((gpu) => check(gpu, grid, start, L, N, D, "f32")));
  test(`rope3d f16 ${name}`, () => withGpuF16((gpu) => check(gpu, grid, start, L, N, D, "f16")), { needs: ["f16"] });
}

// Two ranges around a gap (the other devices' keys around a shard): rows [0, at) are tokens start.., rows
// [at, L) are tokens start + at + tokens ..; gap at 0 (one range further on) and at L (no gap) too.
for (const [grid, start, L, at, tokens, N, D] of [
  [{ F: 5, H: 6, W: 7 }, 0, 150, 61, 60, 4, 24],
  [{ F: 3, H: 3, W: 5 }, 3, 30, 0, 12, 2, 12],
  [{ F: 4, H: 6, W: 10 }, 0, 201, 201, 30, 2, 128],
] as const) {
  for (const dtype of ["f32", "f16"] as const) {
    test(`rope3d ${dtype} ${grid.F}x${grid.H}x${grid.W} rows ${start}.. gap of ${tokens} at row ${at}, L ${L} ${N}x${D}`, () =>
      (dtype === "f32" ? withGpu : withGpuF16)(async (gpu) => {
        const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
        const x = round(randomArray(L * N * D, at * 31 + tokens, 2));
        const xt = gpu.upload(x, [L, N, D], dtype);
        rope3d(gpu, xt, grid, start, { at, tokens });
        expectClose(`rope3d gap ${dtype}`, await gpu.read(xt), ropeRef(f64(x), L, N, D, grid, start, { at, tokens }), TOL.elementwise[dtype]);
      }), { needs: ["f16"] });
  }
}

test("rope3d: rows past the grid (gap included) are an error naming the range", () =>
  withGpu((gpu) => {
    const x = gpu.empty([40, 1, 12], "f32");
    let msg = "";
    try {
      rope3d(gpu, x, { F: 3, H: 3, W: 5 }, 0, { at: 10, tokens: 10 });
    } catch (e) {
      msg = (e as Error).message;
    }
    if (!/rows 0\.\.49 are outside the 3x3x5 grid \(45 tokens\)/.test(msg)) throw new Error(`got "${msg}"`);
    return Promise.resolve();
  }));

test("rope3d twice on one Gpu reuses the cached table", () =>
  withGpu(async (gpu) => {
    await check(gpu, { F: 3, H: 3, W: 5 }, 0, 20, 2, 12, "f32");
    await check(gpu, { F: 3, H: 3, W: 5 }, 20, 25, 2, 12, "f32");
  }));

// Minimal safetensors reader: 8-byte little-endian header length, JSON header, then data (F32 only here).
function readF32(bytes: Uint8Array, name: string): { shape: number[]; data: Float32Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  const e = header[name];
  if (!e) throw new Error(`safetensors: no tensor ${name}`);
  if (e.dtype !== "F32") throw new Error(`safetensors: ${name} is ${e.dtype}, expected F32`);
  const [a, b] = e.data_offsets;
  const raw = bytes.slice(8 + hlen + a, 8 + hlen + b);
  return { shape: e.shape, data: new Float32Array(raw.buffer) };
}

// Golden cos/sin from diffusers (float64, repeat-interleaved per pair) vs our float64 tables.
for (const [fixture, grid, D] of [["wan-tiny", { F: 3, H: 3, W: 5 }, 12], ["wan-small", { F: 5, H: 6, W: 7 }, 24]] as const) {
  test(`rope3d tables match ${fixture} golden cos/sin`, async () => {
    const bytes = await fixtureBytes(fixture as FixtureName, "io.safetensors");
    const cos = readF32(bytes, "intermediate.rope.0"), sin = readF32(bytes, "intermediate.rope.1");
    const L = grid.F * grid.H * grid.W;
    if (cos.shape.join() !== `1,${L},1,${D}`) throw new Error(`${fixture} rope cos has shape [${cos.shape}], expected [1,${L},1,${D}]`);
    const ours = ropeCosSin(grid, D);
    expectClose(`${fixture} rope cos`, ours.cos, cos.data, TOL.float64.tables);
    expectClose(`${fixture} rope sin`, ours.sin, sin.data, TOL.float64.tables);
  });
  // The kernel applied to an identity-like input reproduces the golden cos/sin: x = (1, 0) pairs give (cos, sin).
  test(`rope3d kernel matches ${fixture} golden cos/sin`, () =>
    withGpu(async (gpu) => {
      const bytes = await fixtureBytes(fixture as FixtureName, "io.safetensors");
      const cos = readF32(bytes, "intermediate.rope.0").data, sin = readF32(bytes, "intermediate.rope.1").data;
      const L = grid.F * grid.H * grid.W;
      const x = new Float32Array(L * D);
      for (let i = 0; i < x.length; i += 2) x[i] = 1;
      const xt = gpu.upload(x, [L, 1, D]);
      rope3d(gpu, xt, grid, 0);
      const got = await gpu.read(xt);
      const want = new Float32Array(L * D);
      for (let i = 0; i < want.length; i += 2) [want[i], want[i + 1]] = [cos[i], sin[i]];
      expectClose(`${fixture} rope3d kernel vs golden`, got, want, TOL.elementwise.f32);
    }));
}

test("rope3d rejects rows outside the grid", () =>
  withGpu((gpu) => {
    const x = gpu.empty([10, 1, 12], "f32");
    return expectThrows("rows 1..10 of a 10-token grid", () => rope3d(gpu, x, { F: 1, H: 2, W: 5 }, 1), /rope3d: rows 1\.\.10 are outside the 1x2x5 grid \(10 tokens\)/);
  }));
