// Attention split over key sets, merged exactly: attention over A u B == merge(attention over A, attention
// over B) through the log-sum-exp that attention writes with its `lse` option; masked keys, empty parts,
// every tile config, and a three-way merge through the merged LSE.
import { ATTENTION_CONFIGS, attention, attentionPlan, attentionWith } from "../../ops/attention.ts";
import { attentionMerge } from "../../ops/attention_merge.ts";
import { attentionRef } from "../reference/attention.ts";
import { attentionLseRef, attentionMergeRef, attentionWithLseRef, concatKeys } from "../reference/attention_merge.ts";
import { expectClose, f64, randomArray, roundF16, skip, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";
import type { Tensor } from "../../gpu/tensor.ts";

const cut = (a: ArrayLike<number>, rows: number, row: number) => Array.prototype.slice.call(a, 0, rows * row) as number[];

/** LSE values are O(1..10): compared by absolute error (relative L2 would hide nothing useful either way). */
function expectLse(what: string, got: Float32Array, ref: Float64Array, tol: number) {
  for (let i = 0; i < ref.length; i++) {
    const ok = ref[i] <= -1e29 ? got[i] <= -1e29 : Math.abs(got[i] - ref[i]) <= tol * Math.max(1, Math.abs(ref[i]));
    if (!ok) throw new Error(`${what}: lse[${i}] got ${got[i]} expected ${ref[i]}`);
  }
}

/** Attention of q over A (valid rows < validA) and over B (< validB), merged on the GPU, vs attention over the union. */
async function checkSplit(gpu: Gpu, Lq: number, La: number, validA: number, Lb: number, validB: number, N: number, D: number, dtype: DType) {
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  const seed = Lq * 1009 + La * 31 + Lb * 17 + N * 7 + D;
  const q = round(randomArray(Lq * N * D, seed, 2));
  const ka = round(randomArray(La * N * D, seed + 1, 2)), va = round(randomArray(La * N * D, seed + 2, 1));
  const kb = round(randomArray(Lb * N * D, seed + 3, 2)), vb = round(randomArray(Lb * N * D, seed + 4, 1));
  const qt = gpu.upload(q, [Lq, N, D], dtype);
  const part = (k: Float32Array, v: Float32Array, L: number, valid: number) => {
    const o = gpu.empty([Lq, N, D], dtype), lse = gpu.empty([Lq, N], "f32");
    attention(gpu, qt, gpu.upload(k, [L, N, D], dtype), gpu.upload(v, [L, N, D], dtype), o, { validKeys: valid, lse });
    return { o, lse };
  };
  const a = part(ka, va, La, validA), b = part(kb, vb, Lb, validB);
  const out = gpu.empty([Lq, N, D], dtype);
  attentionMerge(gpu, a.o, a.lse, b.o, b.lse, out);
  const row = N * D;
  const k = concatKeys(cut(ka, validA, row), kb, validA, validB, N, D), v = concatKeys(cut(va, validA, row), vb, validA, validB, N, D);
  const what = `split attention ${Lq} x (${validA}/${La} + ${validB}/${Lb}) ${N}x${D} ${dtype}`;
  expectLse(`${what} lse A`, await gpu.read(a.lse), attentionLseRef(f64(q), f64(ka), Lq, N, D, validA), TOL.lse[dtype]);
  expectLse(`${what} lse B`, await gpu.read(b.lse), attentionLseRef(f64(q), f64(kb), Lq, N, D, validB), TOL.lse[dtype]);
  const ref = attentionRef(f64(q), k, v, Lq, validA + validB, N, D);
  expectClose(what, await gpu.read(out), ref, TOL.matmul[dtype]);
}

// [Lq, La, validA, Lb, validB, N, D]: awkward sizes, masking in B (and A), one empty part, cross-tile splits.
const cases: [number, number, number, number, number, number, number][] = [
  [45, 23, 23, 22, 22, 2, 12],
  [45, 15, 15, 40, 30, 2, 12], // B padded at its tail (frame-mode remote keys)
  [210, 70, 64, 140, 133, 4, 24],
  [7, 5, 5, 13, 9, 3, 36],
  [100, 77, 70, 66, 61, 2, 128],
  [130, 1, 1, 200, 199, 1, 8],
  [33, 20, 20, 12, 0, 2, 16], // B has no valid key: merge == attention over A
  [33, 9, 0, 12, 12, 2, 16], // A has no valid key (a shard of padding only)
];
for (const [Lq, La, validA, Lb, validB, N, D] of cases) {
  const name = `${Lq} x (${validA}/${La} + ${validB}/${Lb}) ${N}x${D}`;
  test(`attention_merge f32 ${name}`, () => withGpu((gpu) => checkSplit(gpu, Lq, La, validA, Lb, validB, N, D, "f32")));
  test(`attention_merge f16 ${name}`, () => withGpuF16((gpu) => checkSplit(gpu, Lq, La, validA, Lb, validB, N, D, "f16")), { tags: ["slow"], needs: ["f16"] });
}

// The LSE output of every tile config (TM 4 and 8, several D chunks). Deno only, as in attention.test.ts.
for (const cfgName of Object.keys(ATTENTION_CONFIGS)) {
  test(`attention lse f32 config ${cfgName} 100x77 2x128 valid 70`, () =>
    withGpu(async (gpu) => {
      const cfg = ATTENTION_CONFIGS[cfgName];
      if (attentionPlan(cfg, 128, false).workgroupBytes > gpu.limits.maxComputeWorkgroupStorageSize) skip(`config ${cfgName} needs more workgroup memory`);
      const [Lq, Lk, N, D, valid] = [100, 77, 2, 128, 70];
      const q = randomArray(Lq * N * D, 5, 2), k = randomArray(Lk * N * D, 6, 2), v = randomArray(Lk * N * D, 7, 1);
      const o = gpu.empty([Lq, N, D], "f32"), lse = gpu.empty([Lq, N], "f32");
      attentionWith(gpu, gpu.upload(q, [Lq, N, D]), gpu.upload(k, [Lk, N, D]), gpu.upload(v, [Lk, N, D]), o, valid, cfg, lse);
      const ref = attentionWithLseRef(f64(q), f64(k), f64(v), Lq, Lk, N, D, valid);
      expectClose(`attention ${cfgName} with lse: O`, await gpu.read(o), ref.o, TOL.matmul.f32);
      expectLse(`attention ${cfgName} lse`, await gpu.read(lse), ref.lse, TOL.lse.f32);
    }), { hosts: ["deno"] });
}

test("attention_merge: three parts through the merged LSE == attention over all keys", () =>
  withGpu(async (gpu) => {
    const [Lq, N, D] = [50, 3, 20];
    const sizes = [17, 40, 9];
    const q = randomArray(Lq * N * D, 11, 2);
    const qt = gpu.upload(q, [Lq, N, D]);
    const ks = sizes.map((L, i) => randomArray(L * N * D, 20 + i, 2)), vs = sizes.map((L, i) => randomArray(L * N * D, 30 + i, 1));
    const parts = sizes.map((L, i) => {
      const o = gpu.empty([Lq, N, D], "f32"), lse = gpu.empty([Lq, N], "f32");
      attention(gpu, qt, gpu.upload(ks[i], [L, N, D]), gpu.upload(vs[i], [L, N, D]), o, { lse });
      return { o, lse };
    });
    const ab = { o: gpu.empty([Lq, N, D], "f32"), lse: gpu.empty([Lq, N], "f32") };
    attentionMerge(gpu, parts[0].o, parts[0].lse, parts[1].o, parts[1].lse, ab.o, ab.lse);
    const out = gpu.empty([Lq, N, D], "f32"), lse = gpu.empty([Lq, N], "f32");
    attentionMerge(gpu, ab.o, ab.lse, parts[2].o, parts[2].lse, out, lse);
    const total = sizes.reduce((a, b) => a + b, 0);
    const cat = (xs: Float32Array[]) => {
      const all = new Float64Array(total * N * D);
      let at = 0;
      for (const x of xs) { all.set(x, at); at += x.length; }
      return all;
    };
    const k = cat(ks), v = cat(vs);
    expectClose("three-way merge", await gpu.read(out), attentionRef(f64(q), k, v, Lq, total, N, D), TOL.matmul.f32);
    expectLse("three-way merged lse", await gpu.read(lse), attentionLseRef(f64(q), k, Lq, N, D, total), TOL.lse.f32);
  }));

test("attention_merge: both parts empty give zeros; the Float64 merge of references is exact", () =>
  withGpu(async (gpu) => {
    const [Lq, N, D] = [6, 2, 8];
    const neg = new Float32Array(Lq * N).fill(-1e30);
    const o = gpu.empty([Lq, N, D], "f32");
    const zeros = gpu.upload(new Float32Array(Lq * N * D), [Lq, N, D]);
    attentionMerge(gpu, zeros, gpu.upload(neg, [Lq, N]), zeros, gpu.upload(neg, [Lq, N]), o);
    expectClose("empty merge", await gpu.read(o), new Float64Array(Lq * N * D), 0);
    // The reference merge itself: attention over A u B from the Float64 parts.
    const q = randomArray(Lq * N * D, 1, 2), ka = randomArray(5 * N * D, 2, 2), kb = randomArray(7 * N * D, 3, 2);
    const va = randomArray(5 * N * D, 4), vb = randomArray(7 * N * D, 5);
    const a = attentionWithLseRef(f64(q), f64(ka), f64(va), Lq, 5, N, D), b = attentionWithLseRef(f64(q), f64(kb), f64(vb), Lq, 7, N, D, 6);
    const m = attentionMergeRef(a.o, a.lse, b.o, b.lse, Lq, N, D);
    const ref = attentionRef(f64(q), concatKeys(ka, kb, 5, 6, N, D), concatKeys(va, vb, 5, 6, N, D), Lq, 11, N, D);
    expectClose("Float64 merge", m.o, ref, TOL.float64.identity);
  }));

test("attention_merge rejects bad shapes and in-place use", () =>
  withGpu(async (gpu) => {
    const o = gpu.empty([5, 2, 8], "f32"), lse = gpu.empty([5, 2], "f32");
    const expectThrow = (f: () => void, re: RegExp) => {
      try { f(); } catch (e) { if (re.test((e as Error).message)) return; throw new Error(`wrong error: ${(e as Error).message}`); }
      throw new Error(`no error, expected ${re}`);
    };
    const o2: Tensor = gpu.empty([5, 2, 8], "f32"), out = gpu.empty([5, 2, 8], "f32");
    expectThrow(() => attentionMerge(gpu, o, lse, o2, gpu.empty([5, 3], "f32"), out), /attentionMerge lse2: expected shape \[5,2\]/);
    expectThrow(() => attentionMerge(gpu, o, lse, gpu.empty([5, 2, 8], "f16"), lse, out), /attentionMerge o2: expected dtype f32/);
    expectThrow(() => attentionMerge(gpu, o, lse, o2, lse, o), /attentionMerge: out overlaps o1/);
    expectThrow(() => attention(gpu, o, o2, o2, out, { lse: gpu.empty([5, 2], "f16") }), /attention lse: expected dtype f32/);
  }));
