// Matrix flash attention (shaders/attention_matrix.wgsl: Q K^T and P V on subgroup matrices) against the
// Float64 references: f16, head dim 128, masked keys, LSE and the merge, text-length keys, scores that force
// the lazy O rescaling, every config. They run where the device has f16 -> f32 subgroup matrices (Dawn on
// NVIDIA: `SHARDIT_WEBGPU=dawn`, see npm run test:gpu) and skip with the reason elsewhere (CPU adapters and
// SwiftShader have no matrix units). The refusal test runs everywhere. They call the kernel by config, so they
// test it whether or not attention() picks it (MATRIX_ATTENTION_AUTO).
import { attentionWith } from "../../ops/attention.ts";
import {
  firstMatrixAttentionConfig, MATRIX_ATTENTION_CONFIGS, matrixAttentionFits, matrixAttentionUnsupported, type MatrixAttentionConfig,
  wideAttentionConfig, wideAttentionUnsupported,
} from "../../ops/attention_matrix.ts";
import { attentionMerge } from "../../ops/attention_merge.ts";
import { attentionRef } from "../reference/attention.ts";
import { attentionWithLseRef, concatKeys } from "../reference/attention_merge.ts";
import { expectClose, f64, randomArray, roundF16, skip, test, TOL, withGpu } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";

const D = 128;

/** Runs `fn` on a device that can run the matrix kernel; skips naming what is missing otherwise. */
function withMatrixGpu(fn: (gpu: Gpu) => Promise<void>): Promise<void> {
  return withGpu(async (gpu) => {
    const why = matrixAttentionUnsupported(gpu, D, "f16");
    if (why) skip(why);
    await fn(gpu);
  });
}

/** LSE values are O(1..10): compared by absolute error, relative above 1 (as attention_merge.test.ts). */
function expectLse(what: string, got: Float32Array, ref: Float64Array, tol: number) {
  for (let i = 0; i < ref.length; i++) {
    const ok = ref[i] <= -1e29 ? got[i] <= -1e29 : Math.abs(got[i] - ref[i]) <= tol * Math.max(1, Math.abs(ref[i]));
    if (!ok) throw new Error(`${what}: lse[${i}] got ${got[i]} expected ${ref[i]}`);
  }
}

/** Attention of f16 q [Lq, N, 128] over k, v [Lk, N, 128] (keys < valid) with the matrix kernel vs Float64. */
async function check(gpu: Gpu, Lq: number, Lk: number, N: number, valid: number | undefined, withLse: boolean, cfg?: MatrixAttentionConfig, inputs?: { q: Float32Array; k: Float32Array; v: Float32Array }) {
  const seed = Lq * 1009 + Lk * 31 + N * 7;
  // Scale 2 makes the softmax peaked enough that masking and max-tracking errors would show.
  const q = roundF16(inputs?.q ?? randomArray(Lq * N * D, seed, 2));
  const k = roundF16(inputs?.k ?? randomArray(Lk * N * D, seed + 1, 2));
  const v = roundF16(inputs?.v ?? randomArray(Lk * N * D, seed + 2, 1));
  const qt = gpu.upload(q, [Lq, N, D], "f16"), kt = gpu.upload(k, [Lk, N, D], "f16"), vt = gpu.upload(v, [Lk, N, D], "f16");
  const ot = gpu.empty([Lq, N, D], "f16");
  const lse = withLse ? gpu.empty([Lq, N], "f32") : undefined;
  const config = cfg ?? firstMatrixAttentionConfig(gpu, D, "f16");
  if (!config) throw new Error(`no matrix attention config fits ${gpu.label}`);
  attentionWith(gpu, qt, kt, vt, ot, valid, config, lse);
  const nValid = valid ?? Lk;
  const ref = attentionWithLseRef(f64(q), f64(k), f64(v), Lq, Lk, N, D, nValid);
  const what = `attention_matrix ${Lq}x${Lk} ${N}x${D} valid ${nValid} ${JSON.stringify(config)}`;
  expectClose(what, await gpu.read(ot), ref.o, TOL.matmul.f16);
  if (lse) expectLse(`${what} lse`, await gpu.read(lse), ref.lse, 1e-3);
}

// [Lq, Lk, N, validKeys, lse]: lengths that are no multiple of the 64-query or 32-key tile, masked tails,
// text-length key sets (Lt = 7 and 512) with many queries.
const shapes: [number, number, number, number | undefined, boolean][] = [
  [100, 77, 2, 70, true],
  [300, 300, 2, undefined, false],
  [257, 257, 1, 200, true],
  [130, 7, 3, undefined, true], // cross-attention, 7 text keys
  [70, 512, 2, undefined, true], // cross-attention, 512 text keys
  [1, 33, 1, 1, true], // one query, one valid key
];
for (const [Lq, Lk, N, valid, lse] of shapes) {
  test(`attention_matrix f16 ${Lq}x${Lk} ${N}x${D}${valid !== undefined ? ` valid ${valid}` : ""}${lse ? " lse" : ""}`, () =>
    withMatrixGpu((gpu) => check(gpu, Lq, Lk, N, valid, lse)), { needs: ["subgroupMatrix"] });
}

// The flash kernels (attention_flash.wgsl, staged and direct; attention_flash2.wgsl, w*) at awkward shapes: a last tile that starts at
// validKeys - BK and repeats keys (masked), fewer valid keys than a tile (direct falls back to staged; staged
// zero-fills), a query tail of one row past a 128-query workgroup, text keys. [Lq, Lk, N, validKeys, lse, configs]
const flashShapes: [number, number, number, number | undefined, boolean, string[]][] = [
  [129, 1000, 3, 999, true, ["f4x32", "f8x32o", "f4x32d", "f4x64d", "w4x32o", "w4x16", "w8x16"]], // 999 = 15 x 64 + 39: repeated keys in the last tile
  [97, 45, 2, 33, true, ["f4x32", "f2x64o", "f4x32d", "f2x64d", "w4x32o", "w2x32"]], // 33 valid: one repeated-key tile at BK 32, < BK at 64
  [50, 20, 1, undefined, false, ["f4x32o", "f4x32d", "w4x32o", "w4x16o"]], // 20 keys < BK 32: zero-filled tile; direct falls back
  [33, 512, 2, undefined, true, ["f8x32d", "f1x32", "f1x32d", "w8x16o", "w4x32on", "w8x16"]], // 512 text keys, 33 queries (one past 32)
];
for (const [Lq, Lk, N, valid, lse, names] of flashShapes) {
  for (const name of names) {
    test(`attention_matrix f16 flash ${name} ${Lq}x${Lk} ${N}x${D}${valid !== undefined ? ` valid ${valid}` : ""}${lse ? " lse" : ""}`, () =>
      withMatrixGpu(async (gpu) => {
        const cfg = MATRIX_ATTENTION_CONFIGS[name];
        if (!matrixAttentionFits(gpu, cfg)) skip(`config ${name} does not fit this device's workgroup memory`);
        await check(gpu, Lq, Lk, N, valid, lse, cfg);
      }), { needs: ["subgroupMatrix"] });
  }
}

// Every config (the pick depends on the adapter's workgroup memory; the bench compares them).
for (const [name, cfg] of Object.entries(MATRIX_ATTENTION_CONFIGS)) {
  test(`attention_matrix f16 config ${name} 150x77 2x128 valid 70 lse`, () =>
    withMatrixGpu(async (gpu) => {
      if (!matrixAttentionFits(gpu, cfg)) skip(`config ${name} does not fit this device's workgroup memory`);
      await check(gpu, 150, 77, 2, 70, true, cfg);
    }), { needs: ["subgroupMatrix"] });
}

// Scores that grow along the keys (positive q, keys scaled up to 6x): the running max moves by more than the
// lazy-rescale threshold several times, so O goes through its rescaling round trip mid-run.
for (const name of [undefined, "f4x32", "f4x32d", "w4x32o", "w4x16", "w8x16o", "w4x32o1", "w4x16_1"]) {
  test(`attention_matrix f16 rising scores rescale O 50x300 2x128 lse${name ? ` ${name}` : ""}`, () =>
    withMatrixGpu(async (gpu) => {
      const [Lq, Lk, N] = [50, 300, 2];
      const q = randomArray(Lq * N * D, 71, 1).map((x) => 1 + x); // [0, 2)
      const k = randomArray(Lk * N * D, 72, 0.5).map((x, i) => (0.5 + x) * 6 * (Math.floor(i / (N * D)) / Lk)); // key j: [0, 1) * 6j / Lk
      const v = randomArray(Lk * N * D, 73, 1);
      await check(gpu, Lq, Lk, N, undefined, true, name ? MATRIX_ATTENTION_CONFIGS[name] : undefined, { q, k, v });
    }), { needs: ["subgroupMatrix"] });
}

// The LSE contract of the scalar kernel: two matrix-kernel parts merged by attention_merge == attention over both.
// (what src/parallel/sharded_attention.ts relies on), for the default config and the flash kernel's two modes.
for (const name of [undefined, "f4x32", "f4x32d", "w4x32o", "w4x16"]) {
test(`attention_matrix f16 parts merged through lse == attention over all keys 90 x (61/64 + 100/100) 2x128${name ? ` ${name}` : ""}`, () =>
  withMatrixGpu(async (gpu) => {
    const [Lq, La, validA, Lb, N] = [90, 64, 61, 100, 2];
    const cfg = name ? MATRIX_ATTENTION_CONFIGS[name] : firstMatrixAttentionConfig(gpu, D, "f16")!;
    const q = roundF16(randomArray(Lq * N * D, 81, 2));
    const ka = roundF16(randomArray(La * N * D, 82, 2)), va = roundF16(randomArray(La * N * D, 83, 1));
    const kb = roundF16(randomArray(Lb * N * D, 84, 2)), vb = roundF16(randomArray(Lb * N * D, 85, 1));
    const qt = gpu.upload(q, [Lq, N, D], "f16");
    const part = (k: Float32Array, v: Float32Array, L: number, valid: number) => {
      const o = gpu.empty([Lq, N, D], "f16"), lse = gpu.empty([Lq, N], "f32");
      attentionWith(gpu, qt, gpu.upload(k, [L, N, D], "f16"), gpu.upload(v, [L, N, D], "f16"), o, valid, cfg, lse);
      return { o, lse };
    };
    const a = part(ka, va, La, validA), b = part(kb, vb, Lb, Lb);
    const out = gpu.empty([Lq, N, D], "f16");
    attentionMerge(gpu, a.o, a.lse, b.o, b.lse, out);
    const row = N * D;
    const cut = (x: Float32Array) => Array.from(x.subarray(0, validA * row));
    const k = concatKeys(cut(ka), kb, validA, Lb, N, D), v = concatKeys(cut(va), vb, validA, Lb, N, D);
    expectClose(`attention_matrix parts merged ${JSON.stringify(cfg)}`, await gpu.read(out), attentionRef(f64(q), k, v, Lq, validA + Lb, N, D), TOL.matmul.f16);
  }), { needs: ["subgroupMatrix"] });
}

// The wide kernel (attention_flash_wide.wgsl: head dims 256 and 384, the VAE mid block's single head at 384) vs
// Float64: a query block's tail, masked keys with a repeated-key last tile, two heads, LSE, and rising scores that
// force the O rescale. [Lq, Lk, N, D, validKeys, lse, rising]
const wideShapes: [number, number, number, number, number | undefined, boolean, boolean][] = [
  [150, 150, 1, 384, undefined, false, false], // the VAE's case: one head, self-attention over the frame
  [97, 200, 2, 384, 190, true, false], // 190 = 5 x 32 + 30: the last tile repeats keys
  [33, 20, 1, 384, undefined, true, false], // 20 keys < BK: zero-filled tile
  [70, 130, 2, 256, 100, true, false],
  [50, 300, 1, 384, undefined, true, true], // keys scaled up along the sequence: the row max moves mid-run
];
for (const [Lq, Lk, N, Dw, valid, withLse, rising] of wideShapes) {
  test(`attention_matrix f16 wide ${Lq}x${Lk} ${N}x${Dw}${valid !== undefined ? ` valid ${valid}` : ""}${withLse ? " lse" : ""}${rising ? " rising scores" : ""}`, () =>
    withGpu(async (gpu) => {
      const why = wideAttentionUnsupported(gpu, Dw, "f16");
      if (why) skip(why);
      const cfg = wideAttentionConfig(Dw);
      if (!matrixAttentionFits(gpu, cfg)) skip(`the wide config does not fit this device's workgroup memory`);
      const seed = Lq * 1009 + Lk * 31 + N * 7 + Dw;
      const q = roundF16(rising ? randomArray(Lq * N * Dw, seed, 1).map((x) => 1 + x) : randomArray(Lq * N * Dw, seed, 0.3));
      const k = roundF16(rising ? randomArray(Lk * N * Dw, seed + 1, 0.5).map((x, i) => (0.5 + x) * 4 * (Math.floor(i / (N * Dw)) / Lk)) : randomArray(Lk * N * Dw, seed + 1, 0.3));
      const v = roundF16(randomArray(Lk * N * Dw, seed + 2, 1));
      const ot = gpu.empty([Lq, N, Dw], "f16"), lse = withLse ? gpu.empty([Lq, N], "f32") : undefined;
      attentionWith(gpu, gpu.upload(q, [Lq, N, Dw], "f16"), gpu.upload(k, [Lk, N, Dw], "f16"), gpu.upload(v, [Lk, N, Dw], "f16"), ot, valid, cfg, lse);
      const ref = attentionWithLseRef(f64(q), f64(k), f64(v), Lq, Lk, N, Dw, valid ?? Lk);
      const what = `attention_matrix wide ${Lq}x${Lk} ${N}x${Dw} valid ${valid ?? Lk}`;
      expectClose(what, await gpu.read(ot), ref.o, TOL.matmul.f16);
      if (lse) expectLse(`${what} lse`, await gpu.read(lse), ref.lse, 1e-3);
    }), { needs: ["subgroupMatrix"] });
}

/** Throws unless fn throws a message matching `pattern`. */
function expectRefusal(what: string, fn: () => void, pattern: RegExp) {
  let message = "";
  try {
    fn();
  } catch (e) {
    message = (e as Error).message;
  }
  if (!pattern.test(message)) throw new Error(`${what}: expected an error matching ${pattern}, got ${message ? `"${message}"` : "no error"}`);
}

// Refusals run on every host: f32 tensors are refused before the device is asked for matrices.
test("attention_matrix refuses f32 and other head dims with a clear error", () =>
  withGpu(async (gpu) => {
    const cfg = MATRIX_ATTENTION_CONFIGS[Object.keys(MATRIX_ATTENTION_CONFIGS)[0]];
    const q = gpu.empty([5, 1, 128], "f32"), kv = gpu.empty([4, 1, 128], "f32");
    expectRefusal("f32", () => attentionWith(gpu, q, kv, kv, gpu.empty([5, 1, 128], "f32"), undefined, cfg), /^attention_matrix: matrix attention is f16 only \(found f32\)$/);
    if (!gpu.features.f16) return;
    const q64 = gpu.empty([5, 1, 64], "f16"), kv64 = gpu.empty([4, 1, 64], "f16");
    expectRefusal("head dim 64", () => attentionWith(gpu, q64, kv64, kv64, gpu.empty([5, 1, 64], "f16"), undefined, cfg), /^attention_matrix: matrix attention needs head dim 128 \(found 64\)$/);
    if (matrixAttentionUnsupported(gpu, D, "f16") === null) return;
    const q16 = gpu.empty([5, 1, 128], "f16"), kv16 = gpu.empty([4, 1, 128], "f16");
    expectRefusal("no matrices", () => attentionWith(gpu, q16, kv16, kv16, gpu.empty([5, 1, 128], "f16"), undefined, cfg), /^attention_matrix: .*(subgroup matri|subgroups of exactly 32)/);
  }));
