// The matrix GEMM and matrix conv sweep (bench/sweep.ts): every gemm_matrix tile at the forward's GEMM
// shapes, the best-guess tiles again with Dawn's robustness toggles, the scalar f16 kernel as the baseline;
// vae_conv3d_matrix's tiles at one chunk-frame of each decoder stage's causal 3x3x3 conv beside the scalar
// conv. Each variant is checked first: 256 sampled outputs (GEMM: 32 rows x 8 columns; conv: 64 pixels x 4
// channels) against Float64 sums over the f16-rounded operands the GPU holds.
//
//   deno run -A bench/sweep_gemm.ts [--shapes 4096x4096x4096,...] [--tiles a,b] [--toggle-tiles a,b]
//        [--packed-tiles a,b] [--packed-toggle-tiles a,b] [--diags samek:<packed>,nogl:<tile>,packx]
//        [--convs 384@120x208,...] [--conv-tiles a,b] [--only gemm|conv] [--iters 10] [--warmup 2] [--repeats 3]
//        [--log f] [--json f]
// Toggle sets timed: none, and (for --toggle-tiles, --packed-toggle-tiles) disable_robustness,disable_workgroup_init.
// Packed rows ("packed <tile>", src/ops/gemm_matrix_packed.ts) include the per-call packing of X ("packx"
// times it alone); the weight is packed once, before timing.
// SHARDIT_SWEEP_BACKEND=null compiles and checks nothing on the GPU (the null backend runs no dispatch; use
// test/kernels/matrix_null_compile.test.ts for the CPU-side compile check).
import { parseArgs } from "../src/cli/args.ts";
import type { Gpu } from "../src/gpu/device.ts";
import type { Tensor } from "../src/gpu/tensor.ts";
import { gemm, pickTile } from "../src/ops/gemm.ts";
import { freeLinear, uploadLinear } from "../src/ops/gemm_common.ts";
import { MATRIX_TILES, matrixTileFits, matrixGemmSupport } from "../src/ops/gemm_matrix.ts";
import { PACKED_TILES } from "../src/ops/gemm_matrix_packed.ts";
import { packedElements, packRows } from "../src/ops/gemm_pack.ts";
import { CONV_MATRIX_TILES, freeConv, uploadConv, vaeConv3d } from "../src/ops/vae_conv3d.ts";
import { randomArray } from "../src/selftest/harness.ts";
import { sweep, type SweepCase, type SweepVariant } from "./sweep.ts";

const parsed = parseArgs(Deno.args, []);
const arg = (n: string) => {
  const v = parsed.flags.get(n);
  return typeof v === "string" ? v : undefined;
};
const list = (n: string, d: string[]) => arg(n)?.split(",").filter(Boolean) ?? d;
const shapes = list("shapes", ["32760x1536x8960", "4096x4096x4096", "32760x8960x1536"]);
const tiles = list("tiles", Object.keys(MATRIX_TILES));
const toggleTiles = list("toggle-tiles", ["256x128x16/4x4", "128x256x16/4x4", "128x128x32/2x4"]);
const packedTiles = list("packed-tiles", Object.keys(PACKED_TILES));
const packedToggleTiles = list("packed-toggle-tiles", ["256x128/4x4", "128x128/4x4"]);
// Diagnostics (their results are wrong by design, so their check only reports the error): "samek:<tile>"
// reads K slice 0 on every step of a packed tile (products + L1-resident loads, no operand stream);
// "packx" times gemm_pack of X alone (the packed kernel's per-call overhead).
// "nogl:<tile>" runs a gemm_matrix tile without its global loads after step 0 (staging, barriers and
// products from workgroup memory only).
const diags = list("diags", ["samek:256x128/4x4", "samek:128x128/4x4", "packx", "nogl:256x128x16/4x4", "nogl:256x128x16/4x4k"]);
const convs = list("convs", ["384@120x208", "192@240x416", "96@480x832"]);
const convTiles = list("conv-tiles", Object.keys(CONV_MATRIX_TILES));
const only = arg("only");
const ROBUST_OFF = ["disable_robustness", "disable_workgroup_init"];
for (const t of [...tiles, ...toggleTiles]) if (!MATRIX_TILES[t]) throw new Error(`--tiles: unknown tile ${t} (known: ${Object.keys(MATRIX_TILES).join(", ")})`);
for (const t of [...packedTiles, ...packedToggleTiles]) if (!PACKED_TILES[t]) throw new Error(`--packed-tiles: unknown tile ${t} (known: ${Object.keys(PACKED_TILES).join(", ")})`);
for (const t of convTiles) if (!CONV_MATRIX_TILES[t]) throw new Error(`--conv-tiles: unknown tile ${t} (known: ${Object.keys(CONV_MATRIX_TILES).join(", ")})`);

// ---------------------------------------------------------------- GEMM

/** Host operands per shape, made once (f16-rounded copies for the reference). */
const hostCache = new Map<string, { x: Float32Array; w: Float32Array; b: Float32Array; xs: Float16Array; ws: Float16Array; bs: Float16Array }>();
function host(key: string, M: number, K: number, N: number) {
  let h = hostCache.get(key);
  if (!h) {
    const x = randomArray(M * K, 1, 1), w = randomArray(N * K, 2, 1 / Math.sqrt(K)), b = randomArray(N, 3, 0.5);
    h = { x, w, b, xs: new Float16Array(x), ws: new Float16Array(w), bs: new Float16Array(b) };
    hostCache.set(key, h);
  }
  return h;
}

/** Device operands per (Gpu, shape): uploaded once per device, freed when the device goes. */
const deviceCache = new WeakMap<Gpu, Map<string, { layer: ReturnType<typeof uploadLinear>; x: Tensor; y: Tensor }>>();
function deviceOperands(gpu: Gpu, key: string, M: number, K: number, N: number) {
  let m = deviceCache.get(gpu);
  if (!m) deviceCache.set(gpu, m = new Map());
  for (const [k, v] of m) {
    if (k !== key) {
      freeLinear(gpu, v.layer);
      gpu.freeTensor(v.x);
      gpu.freeTensor(v.y);
      m.delete(k);
    }
  }
  let d = m.get(key);
  if (!d) {
    const h = host(key, M, K, N);
    d = { layer: uploadLinear(gpu, h.w, [N, K], h.b, "f16", `sweep ${key}`), x: gpu.upload(h.x, [M, K], "f16", "sweep x"), y: gpu.empty([M, N], "f16", "sweep y") };
    m.set(key, d);
  }
  return d;
}

function gemmVariant(key: string, name: string, kernel: "matrix" | "scalar" | "packed", toggles: string[], diag?: "samek" | "nogl"): SweepVariant {
  const [M, K, N] = key.split("x").map(Number);
  const matrixTile = kernel === "matrix" ? { ...MATRIX_TILES[name], noGlobalLoads: diag === "nogl" } : undefined;
  const tile = kernel === "matrix" ? MATRIX_TILES[name] : kernel === "packed" ? { ...PACKED_TILES[name], samek: diag === "samek" } : undefined;
  return {
    name: kernel === "matrix" ? `${diag ? diag + " " : ""}${name}` : kernel === "packed" ? `${diag ? diag + " " : ""}packed ${name}` : "scalar " + name,
    group: `${diag ? "diag" : "gemm"} ${key}`,
    toggles,
    info: { kernel, tile },
    setup(gpu: Gpu): SweepCase {
      if (kernel !== "scalar") {
        const s = matrixGemmSupport(gpu);
        if (!s.ok) throw new Error(s.reason);
        if (kernel === "matrix" && !matrixTileFits(gpu, MATRIX_TILES[name], s.subgroupSize)) throw new Error(`tile ${name} does not fit this adapter's limits`);
      }
      const d = deviceOperands(gpu, key, M, K, N);
      const opts = kernel === "matrix" ? { kernel, matrixTile } : kernel === "packed" ? { kernel, packedTile: PACKED_TILES[name] && { ...PACKED_TILES[name], samek: diag === "samek" } } : { kernel, tile: pickTile(M, N) };
      return {
        flops: 2 * M * N * K,
        run: () => gemm(gpu, d.x, d.layer, d.y, opts),
        check: async () => {
          const h = host(key, M, K, N);
          const rs = randomArray(32, 11, 1), cs = randomArray(8, 12, 1);
          let num = 0, den = 0;
          for (let i = 0; i < 32; i++) {
            const m = Math.min(M - 1, Math.floor((rs[i] * 0.5 + 0.5) * M));
            const start = m * N * 2, at = start % 4;
            const row = new Float16Array(await gpu.readBytes(d.y.buffer, start - at, N * 2 + at), at, N);
            for (let j = 0; j < 8; j++) {
              const n = Math.min(N - 1, Math.floor((cs[j] * 0.5 + 0.5) * N));
              let s = Number(h.bs[n]);
              for (let k = 0; k < K; k++) s += Number(h.xs[m * K + k]) * Number(h.ws[n * K + k]);
              num += (Number(row[n]) - s) ** 2;
              den += s * s;
            }
          }
          // A diagnostic computes the wrong sums by design: its error is reported, not judged.
          return { relErr: Math.sqrt(num / den), tol: diag ? Infinity : 1e-2 };
        },
      };
    },
  };
}

/** gemm_pack of X [M, K] alone: the packed kernel's per-call overhead (checked: 64 sampled elements exactly). */
function packVariant(key: string): SweepVariant {
  const [M, K] = key.split("x").map(Number);
  return {
    name: "packx",
    group: `diag ${key}`,
    info: { kernel: "gemm_pack" },
    setup(gpu: Gpu): SweepCase {
      const d = deviceOperands(gpu, key, M, K, key.split("x").map(Number)[2]);
      const out = gpu.empty([packedElements(M, K)], "f16", "sweep packed x");
      const KT = Math.ceil(K / 16);
      return {
        flops: 0, // not a product: its time is what the log shows
        run: () => packRows(gpu, d.x, out, "sweep packx"),
        check: async () => {
          const h = host(key, M, K, key.split("x").map(Number)[2]);
          const rs = randomArray(64, 31, 1), ks = randomArray(64, 32, 1);
          let bad = 0;
          for (let i = 0; i < 64; i++) {
            const m = Math.min(M - 1, Math.floor((rs[i] * 0.5 + 0.5) * M)), k = Math.min(K - 1, Math.floor((ks[i] * 0.5 + 0.5) * K));
            const e = ((Math.floor(m / 16) * KT + Math.floor(k / 16)) * 16 + (m % 16)) * 16 + (k % 16);
            const got = new Float16Array(await gpu.readBytes(out.buffer, e * 2 - (e * 2) % 4, 4))[(e * 2) % 4 / 2];
            if (got !== h.xs[m * K + k]) bad++;
          }
          return { relErr: bad / 64, tol: 0 };
        },
        dispose: () => gpu.freeTensor(out),
      };
    },
  };
}

// ---------------------------------------------------------------- conv

/** Host operands per conv spec, made once (f16-rounded copies for the reference). */
const convHostCache = new Map<string, Record<"x" | "cache" | "w" | "b", Float32Array> & Record<"xs" | "cs" | "ws" | "bs", Float16Array>>();
function convHost(spec: string, C: number, H: number, W: number) {
  let h = convHostCache.get(spec);
  if (!h) {
    const seed = C + H;
    const x = randomArray(H * W * C, seed, 1), cache = randomArray(2 * H * W * C, seed + 1, 1);
    const w = randomArray(C * C * 27, seed + 2, 1 / Math.sqrt(27 * C)), b = randomArray(C, seed + 3, 0.1);
    h = { x, cache, w, b, xs: new Float16Array(x), cs: new Float16Array(cache), ws: new Float16Array(w), bs: new Float16Array(b) };
    convHostCache.set(spec, h);
  }
  return h;
}

/** One chunk frame of a decoder stage's causal 3x3x3 conv, C -> C channels at H x W, two cached frames. */
function convVariant(spec: string, tileName: string | null): SweepVariant {
  const [c, hw] = spec.split("@");
  const C = Number(c), [H, W] = hw.split("x").map(Number);
  const M = H * W, K = 27 * C;
  return {
    name: tileName ?? "scalar",
    group: `conv ${C}->${C} 3x3x3 @${H}x${W}`,
    info: { tile: tileName ? CONV_MATRIX_TILES[tileName] : "scalar", C, H, W },
    setup(gpu: Gpu): SweepCase {
      const { x, cache, w, b, xs, cs, ws, bs } = convHost(spec, C, H, W);
      const layer = uploadConv(gpu, w, [C, C, 3, 3, 3], b, "f16", `sweep conv ${C}`);
      const xt = gpu.upload(x, [1, H, W, C], "f16"), ct = gpu.upload(cache, [2, H, W, C], "f16"), out = gpu.empty([1, H, W, C], "f16");
      const opts = tileName ? { kernel: "matrix" as const, matrixTile: CONV_MATRIX_TILES[tileName], cache: ct, zeroFrames: 0 } : { kernel: "scalar" as const, cache: ct, zeroFrames: 0 };
      return {
        flops: 2 * M * C * K,
        run: () => vaeConv3d(gpu, xt, layer, out, opts),
        check: async () => {
          const got = new Float16Array(await gpu.readBytes(out.buffer, 0, M * C * 2));
          const at = (tv: number, r: number, q: number, ci: number) => {
            if (r < 0 || r >= H || q < 0 || q >= W) return 0;
            return tv < 2 ? Number(cs[((tv * H + r) * W + q) * C + ci]) : Number(xs[(r * W + q) * C + ci]);
          };
          const ps = randomArray(64, 21, 1), ns = randomArray(4, 22, 1);
          let num = 0, den = 0;
          for (let i = 0; i < 64; i++) {
            const m = Math.min(M - 1, Math.floor((ps[i] * 0.5 + 0.5) * M)), h = Math.floor(m / W), q = m % W;
            for (let j = 0; j < 4; j++) {
              const n = Math.min(C - 1, Math.floor((ns[j] * 0.5 + 0.5) * C));
              let s = Number(bs[n]);
              for (let kt = 0; kt < 3; kt++) {
                for (let kh = 0; kh < 3; kh++) {
                  for (let kw = 0; kw < 3; kw++) {
                    for (let ci = 0; ci < C; ci++) s += at(kt, h + kh - 1, q + kw - 1, ci) * Number(ws[(((n * C + ci) * 3 + kt) * 3 + kh) * 3 + kw]);
                  }
                }
              }
              num += (Number(got[m * C + n]) - s) ** 2;
              den += s * s;
            }
          }
          return { relErr: Math.sqrt(num / den), tol: 1e-2 };
        },
        dispose: () => {
          freeConv(gpu, layer);
          for (const t of [xt, ct, out]) gpu.freeTensor(t);
        },
      };
    },
  };
}

const variants: SweepVariant[] = [];
if (only !== "conv") {
  for (const key of shapes) {
    for (const t of packedTiles) variants.push(gemmVariant(key, t, "packed", []));
    for (const dg of diags) {
      if (dg === "packx") variants.push(packVariant(key));
      else if (dg.startsWith("samek:") && PACKED_TILES[dg.slice(6)]) variants.push(gemmVariant(key, dg.slice(6), "packed", [], "samek"));
      else if (dg.startsWith("nogl:") && MATRIX_TILES[dg.slice(5)]) variants.push(gemmVariant(key, dg.slice(5), "matrix", [], "nogl"));
      else throw new Error(`--diags: unknown diagnostic ${dg} (samek:<packed tile>, nogl:<matrix tile>, packx)`);
    }
    for (const t of tiles) variants.push(gemmVariant(key, t, "matrix", []));
    variants.push(gemmVariant(key, "auto", "scalar", []));
  }
  for (const key of shapes) {
    for (const t of packedToggleTiles) variants.push(gemmVariant(key, t, "packed", ROBUST_OFF));
    for (const t of toggleTiles) variants.push(gemmVariant(key, t, "matrix", ROBUST_OFF));
  }
}
if (only !== "gemm") {
  for (const spec of convs) {
    for (const t of convTiles) variants.push(convVariant(spec, t));
    variants.push(convVariant(spec, null));
  }
}

await sweep(variants, {
  title: "gemm_matrix + vae_conv3d_matrix",
  iters: Number(arg("iters") ?? 10),
  warmup: Number(arg("warmup") ?? 2),
  repeats: Number(arg("repeats") ?? 3),
  log: arg("log"),
  json: arg("json"),
});
Deno.exit(0);
