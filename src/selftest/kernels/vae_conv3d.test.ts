// vae_conv3d against its Float64 reference: the causal 3x3x3 conv with 0, 1 or 2 cached frames, halo
// rows (padTop 0) and conv padding (padTop 1), the residual epilogue, the (3,1,1) time conv with its
// output split into two frames, the 3x3 Conv2d and a 1x1x1 conv; widths off every tile (Cout 3, 7, 33, 70,
// 130), odd H x W, channel counts with and without vec4 reads (Cin % 4), several tiles, and the narrow
// kernel (Cout <= 4: conv_out).
import { chooseConv, CONV_MATRIX_TILES, CONV_TILES, parseConvOverride, uploadConv, vaeConv3d } from "../../ops/vae_conv3d.ts";
import { matrixGemmSupport } from "../../ops/gemm_matrix.ts";
import { vaeConv3dRef } from "../reference/vae_conv3d.ts";
import { expectClose, expectThrows, f64, randomArray, roundF16, skip, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

interface Case {
  T: number;
  Hout: number;
  W: number;
  Cin: number;
  Cout: number;
  k: [number, number, number];
  zeroFrames?: number;
  halo?: boolean;
  residual?: boolean;
  split?: boolean;
  tile?: string;
  /** Run vae_conv3d_matrix (f16 on the matrix units), with this tile of CONV_MATRIX_TILES or the default. */
  matrix?: string | true;
}

async function check(gpu: Gpu, c: Case, dtype: DType) {
  if (c.matrix) {
    const s = matrixGemmSupport(gpu);
    if (!s.ok) skip(s.reason);
  }
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  const [KT, KH, KW] = c.k;
  const padTop = c.halo ? 0 : (KH - 1) / 2;
  const Hin = c.Hout - 2 * padTop + (KH - 1);
  const seed = c.T * 1000 + c.Hout * 100 + c.W * 10 + c.Cin + c.Cout * 7 + KT;
  const x = round(randomArray(c.T * Hin * c.W * c.Cin, seed, 1));
  const nCache = KT - 1;
  const cache = round(randomArray(Math.max(nCache, 1) * Hin * c.W * c.Cin, seed + 1, 1));
  const wShape: [number, number, number, number, number] = [c.Cout, c.Cin, KT, KH, KW];
  const w = round(randomArray(c.Cout * c.Cin * KT * KH * KW, seed + 2, 1 / Math.sqrt(c.Cin * KT * KH * KW)));
  const b = round(randomArray(c.Cout, seed + 3, 0.1));
  const splitC = c.split ? c.Cout / 2 : c.Cout;
  const outShape = [c.T * (c.Cout / splitC), c.Hout, c.W, splitC];
  const res = round(randomArray(outShape.reduce((a, v) => a * v, 1), seed + 4, 1));
  // The Conv2d is stored [Cout, Cin, 3, 3] (nn.Conv2d), the others [Cout, Cin, KT, KH, KW].
  const layer = uploadConv(gpu, w, [c.Cout, c.Cin, ...(KT === 1 && KH === 3 ? [KH, KW] : c.k)], b, dtype, "conv");
  const out = gpu.empty(outShape, dtype);
  const resT = c.residual ? gpu.upload(res, outShape, dtype) : undefined;
  vaeConv3d(gpu, gpu.upload(x, [c.T, Hin, c.W, c.Cin], dtype), layer, out, {
    cache: nCache ? gpu.upload(cache, [nCache, Hin, c.W, c.Cin], dtype) : undefined,
    zeroFrames: c.zeroFrames,
    padTop,
    residual: resT,
    splitC,
    tile: c.tile ? CONV_TILES[c.tile] : undefined,
    kernel: c.matrix ? "matrix" : c.tile ? undefined : "scalar",
    matrixTile: typeof c.matrix === "string" ? CONV_MATRIX_TILES[c.matrix] : undefined,
  });
  const ref = vaeConv3dRef(f64(x), [c.T, Hin, c.W, c.Cin], f64(w), wShape, f64(b), {
    cache: f64(cache),
    zeroFrames: c.zeroFrames,
    padTop,
    residual: c.residual ? f64(res) : undefined,
    splitC,
  });
  expectClose(`vaeConv3d ${JSON.stringify(c)} ${dtype}`, await gpu.read(out), ref.out, TOL.matmul[dtype]);
}

const cases: Case[] = [
  { T: 1, Hout: 3, W: 5, Cin: 5, Cout: 7, k: [3, 3, 3] }, // first chunk: both cache frames are padding
  { T: 1, Hout: 4, W: 6, Cin: 16, Cout: 33, k: [3, 3, 3], zeroFrames: 1 },
  { T: 2, Hout: 3, W: 7, Cin: 12, Cout: 70, k: [3, 3, 3], zeroFrames: 0, residual: true },
  { T: 4, Hout: 5, W: 3, Cin: 8, Cout: 3, k: [3, 3, 3], zeroFrames: 0, halo: true }, // conv_out: RGB, halo rows
  { T: 2, Hout: 2, W: 9, Cin: 20, Cout: 130, k: [3, 3, 3], zeroFrames: 0, halo: true, residual: true },
  { T: 2, Hout: 3, W: 5, Cin: 6, Cout: 12, k: [3, 1, 1], zeroFrames: 1, split: true }, // time upsampler
  { T: 1, Hout: 5, W: 5, Cin: 9, Cout: 64, k: [3, 1, 1], zeroFrames: 2, split: true },
  { T: 4, Hout: 6, W: 10, Cin: 7, Cout: 5, k: [1, 3, 3] }, // the upsamplers' Conv2d
  { T: 2, Hout: 4, W: 6, Cin: 16, Cout: 8, k: [1, 3, 3], halo: true },
  { T: 3, Hout: 3, W: 3, Cin: 17, Cout: 19, k: [1, 1, 1], residual: true }, // conv_shortcut
  { T: 1, Hout: 5, W: 13, Cin: 16, Cout: 64, k: [3, 3, 3], zeroFrames: 1, tile: "128x128x8" },
  { T: 1, Hout: 5, W: 13, Cin: 16, Cout: 64, k: [3, 3, 3], zeroFrames: 1, tile: "128x64x8" },
  { T: 2, Hout: 5, W: 13, Cin: 16, Cout: 96, k: [3, 3, 3], zeroFrames: 0, tile: "128x32x8", residual: true },
  { T: 1, Hout: 5, W: 13, Cin: 16, Cout: 64, k: [3, 3, 3], zeroFrames: 1, tile: "64x64x8" },
  { T: 1, Hout: 3, W: 5, Cin: 8, Cout: 3, k: [3, 3, 3], zeroFrames: 1, tile: "64x64x8" }, // RGB through a GEMM tile
  { T: 1, Hout: 3, W: 5, Cin: 12, Cout: 4, k: [3, 3, 3], zeroFrames: 1, residual: true }, // narrow kernel, + residual
];

for (const c of cases) {
  const label = `vae_conv3d ${c.k.join("x")} T${c.T} ${c.Hout}x${c.W} ${c.Cin}->${c.Cout}${c.halo ? " halo" : ""}${c.residual ? " +res" : ""}${c.split ? " split" : ""}${c.tile ? ` ${c.tile}` : ""}`;
  test(`${label} f32`, () => withGpu((gpu) => check(gpu, c, "f32")), { tags: ["slow"] });
  test(`${label} f16`, () => withGpuF16((gpu) => check(gpu, c, "f16")), { tags: ["slow"], needs: ["f16"], hosts: ["deno"] });
}

// The matrix conv (f16, subgroup matrices; the GPU host): the awkward cases above that are not narrow, and
// every matrix tile on an edge-heavy shape (Cout off every tile width, Cin with and without vec4 reads).
const matrixCases: Case[] = [
  ...cases.filter((c) => !c.tile && c.Cout > 4).map((c) => ({ ...c, matrix: true as const })),
  ...Object.keys(CONV_MATRIX_TILES).map((t) => ({ T: 2, Hout: 5, W: 13, Cin: 20, Cout: 70, k: [3, 3, 3] as [number, number, number], zeroFrames: 0, residual: true, matrix: t })),
  ...Object.keys(CONV_MATRIX_TILES).map((t) => ({ T: 1, Hout: 4, W: 9, Cin: 7, Cout: 33, k: [3, 3, 3] as [number, number, number], zeroFrames: 1, matrix: t })),
];
for (const c of matrixCases) {
  const label = `vae_conv3d_matrix ${c.k.join("x")} T${c.T} ${c.Hout}x${c.W} ${c.Cin}->${c.Cout}${c.halo ? " halo" : ""}${c.residual ? " +res" : ""}${c.split ? " split" : ""}${typeof c.matrix === "string" ? ` ${c.matrix}` : ""}`;
  test(`${label} f16`, () => withGpuF16((gpu) => check(gpu, c, "f16")), { needs: ["subgroupMatrix"], hosts: ["deno"] });
}

test("vae_conv3d refuses a missing cache and a wrong output shape", () =>
  withGpu(async (gpu) => {
    const layer = uploadConv(gpu, new Float32Array(2 * 4 * 27), [2, 4, 3, 3, 3], new Float32Array(2), "f32", "decoder.conv_in");
    const x = gpu.empty([1, 3, 3, 4], "f32");
    await expectThrows("no cache", () => vaeConv3d(gpu, x, layer, gpu.empty([1, 3, 3, 2], "f32"), { zeroFrames: 0 }), /no feature cache/);
    await expectThrows("wrong output", () => vaeConv3d(gpu, x, layer, gpu.empty([1, 3, 3, 3], "f32")), /decoder\.conv_in output: expected shape \[1,3,3,2\]/);
  }));

test("vae_conv3d override: SHARDIT_CONV values and the kernel vaeConv3d()'s auto runs under each", async () => {
  for (const v of [undefined, "", "default"]) if (parseConvOverride(v).kind !== "default") throw new Error(`"${v}" should be the default`);
  if (parseConvOverride("scalar").kind !== "scalar") throw new Error("scalar not parsed");
  const t = parseConvOverride("tile:256x128x16/4x4k");
  if (t.kind !== "tile" || t.tile !== CONV_MATRIX_TILES["256x128x16/4x4k"]) throw new Error(`tile:256x128x16/4x4k parsed as ${JSON.stringify(t)}`);
  // a gemm-only tile, a bare name, "0" (the retired SHARDIT_CONV_MATRIX's value), Object's own keys
  for (const bad of ["bogus", "tile:64x64x16/2x2", "128x128x16/2x2", "0", "tile:constructor", "packed:128x128/4x4"]) {
    await expectThrows(bad, () => parseConvOverride(bad), new RegExp(`^SHARDIT_CONV: expected default, scalar or tile:<[^\\n]*128x128x16/2x2k[^\\n]*>, found "${bad}"$`));
  }
  const same = (what: string, got: unknown, want: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${what}: chose ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  };
  for (const o of [parseConvOverride("default"), t]) {
    same(`f32 under ${o.kind}`, chooseConv(false, true, o), { kernel: "scalar" });
    same(`no matrices under ${o.kind}`, chooseConv(true, false, o), { kernel: "scalar" });
  }
  same("f16 default", chooseConv(true, true, parseConvOverride("default")), { kernel: "matrix" });
  same("f16 scalar", chooseConv(true, true, parseConvOverride("scalar")), { kernel: "scalar" });
  same("f16 tile", chooseConv(true, true, t), { kernel: "matrix", tile: CONV_MATRIX_TILES["256x128x16/4x4k"] });
});
