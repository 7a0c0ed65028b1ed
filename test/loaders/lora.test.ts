// LoRA merging (src/loaders/lora.ts): files in both layouts, written here with their keys spelled out as
// the tools that make them name them (diffusers' WanTransformer3DModel names with PEFT's lora_A/lora_B; the
// original Wan names with lora_down/lora_up/alpha and LightX2V's diff/diff_b/diff_m), merged on the GPU and
// compared with a Float64 merge done in this file from the same tensors: the merged weights (the update
// alone, so W cannot hide its error), the forward over them, two LoRAs at once, and the sharded forward.
import { bytesSource, Checkpoint, encodeSafetensors } from "../../src/io/safetensors.ts";
import { type LoraFile, mergeLoras, parseLoraArg, planLora, weightArrays } from "../../src/loaders/lora.ts";
import { forwardOnDevice } from "../../src/model/forward.ts";
import { WanModel } from "../../src/model/wan.ts";
import { uploadWanWeights } from "../../src/model/weights_gpu.ts";
import type { WanWeights } from "../../src/model/weights.ts";
import type { WanConfig } from "../../src/model/config.ts";
import { planShards, tokenGridFromLatent } from "../../src/parallel/plan.ts";
import { expectBitwiseEqual, expectClose, expectEqual, expectThrows, randomArray, relL2, test, TOL, withGpu } from "../../src/selftest/harness.ts";
import { loadGolden } from "../model/util.ts";
import { withSharedPool } from "../parallel/pools.ts";

const numelOf = (s: number[]) => s.reduce((a, b) => a * b, 1);
let seed = 100;
const rand = (shape: number[], scale = 0.1) => ({ shape, data: randomArray(numelOf(shape), seed++, scale) });

interface LowRank { target: string; out: number; inp: number; rank: number; down: string; up: string; downShape: number[]; upShape: number[]; alpha?: number }
interface Delta { target: string; key: string; shape: number[] }
interface Spec { name: string; lowRank: LowRank[]; deltas: Delta[]; metadata?: Record<string, string>; strength: number; alphaOf?: (l: LowRank) => number }

// wan-small: d = 96, ffn 256, in 16 channels (patch 1x2x2 -> 64 inputs), text 64, out 16 (proj_out 64 rows).
const d = 96;
const W = "diffusion_model.";
/** The original Wan / ComfyUI / LightX2V layout (module names of wan/modules/model.py). */
const wanLayout: Spec = {
  name: "wan_layout.safetensors",
  strength: 0.8,
  lowRank: [
    { target: "blocks.0.attn1.to_out.0.weight", out: d, inp: d, rank: 4, alpha: 8, down: `${W}blocks.0.self_attn.o.lora_down.weight`, up: `${W}blocks.0.self_attn.o.lora_up.weight`, downShape: [4, d], upShape: [d, 4] },
    { target: "blocks.1.attn2.to_k.weight", out: d, inp: d, rank: 2, alpha: 1, down: `${W}blocks.1.cross_attn.k.lora_down.weight`, up: `${W}blocks.1.cross_attn.k.lora_up.weight`, downShape: [2, d], upShape: [d, 2] },
    { target: "blocks.0.ffn.net.2.weight", out: d, inp: 256, rank: 3, down: `${W}blocks.0.ffn.2.lora_down.weight`, up: `${W}blocks.0.ffn.2.lora_up.weight`, downShape: [3, 256], upShape: [d, 3] },
    { target: "proj_out.weight", out: 64, inp: d, rank: 2, alpha: 2, down: `${W}head.head.lora_down.weight`, up: `${W}head.head.lora_up.weight`, downShape: [2, d], upShape: [64, 2] },
    { target: "condition_embedder.time_proj.weight", out: 6 * d, inp: d, rank: 2, alpha: 3, down: `${W}time_projection.1.lora_down.weight`, up: `${W}time_projection.1.lora_up.weight`, downShape: [2, d], upShape: [6 * d, 2] },
    // The patch embedding is a Conv3d (1,2,2): its LoRA factors are convs too, [r, C, 1, 2, 2] and [d, r, 1, 1, 1].
    { target: "patch_embedding.weight", out: d, inp: 64, rank: 2, alpha: 2, down: `${W}patch_embedding.lora_down.weight`, up: `${W}patch_embedding.lora_up.weight`, downShape: [2, 16, 1, 2, 2], upShape: [d, 2, 1, 1, 1] },
  ],
  deltas: [
    { target: "blocks.0.attn1.norm_q.weight", key: `${W}blocks.0.self_attn.norm_q.diff`, shape: [d] },
    { target: "blocks.1.attn2.to_q.bias", key: `${W}blocks.1.cross_attn.q.diff_b`, shape: [d] },
    { target: "blocks.0.norm2.weight", key: `${W}blocks.0.norm3.diff`, shape: [d] },
    { target: "blocks.1.scale_shift_table", key: `${W}blocks.1.diff_m`, shape: [1, 6, d] },
  ],
};
/** diffusers / PEFT (WanTransformer3DModel names), alpha 6 and r 3 in diffusers' lora_adapter_metadata. */
const T = "transformer.";
const diffusersLayout: Spec = {
  name: "diffusers_layout.safetensors",
  strength: 1.25,
  metadata: { format: "pt", lora_adapter_metadata: JSON.stringify({ "transformer.lora_alpha": 6, "transformer.r": 3 }) },
  alphaOf: () => 6,
  lowRank: [
    { target: "blocks.0.attn1.to_q.weight", out: d, inp: d, rank: 3, down: `${T}blocks.0.attn1.to_q.lora_A.weight`, up: `${T}blocks.0.attn1.to_q.lora_B.weight`, downShape: [3, d], upShape: [d, 3] },
    { target: "blocks.1.attn2.to_v.weight", out: d, inp: d, rank: 3, down: `${T}blocks.1.attn2.to_v.lora_A.weight`, up: `${T}blocks.1.attn2.to_v.lora_B.weight`, downShape: [3, d], upShape: [d, 3] },
    { target: "blocks.1.ffn.net.0.proj.weight", out: 256, inp: d, rank: 3, down: `${T}blocks.1.ffn.net.0.proj.lora_A.weight`, up: `${T}blocks.1.ffn.net.0.proj.lora_B.weight`, downShape: [3, d], upShape: [256, 3] },
    // The same weight as the Wan file's self_attn.o: two LoRAs on one tensor.
    { target: "blocks.0.attn1.to_out.0.weight", out: d, inp: d, rank: 3, down: `${T}blocks.0.attn1.to_out.0.lora_A.weight`, up: `${T}blocks.0.attn1.to_out.0.lora_B.weight`, downShape: [3, d], upShape: [d, 3] },
    { target: "condition_embedder.text_embedder.linear_1.weight", out: d, inp: 64, rank: 3, down: `${T}condition_embedder.text_embedder.linear_1.lora_A.weight`, up: `${T}condition_embedder.text_embedder.linear_1.lora_B.weight`, downShape: [3, 64], upShape: [d, 3] },
  ],
  deltas: [],
};
/** PEFT's lora_bias (lora_B.bias): scaled by alpha / rank as the product is. */
const diffusersBias = { target: "blocks.0.attn1.to_q.bias", key: `${T}blocks.0.attn1.to_q.lora_B.bias`, shape: [d] };

interface Made { file: LoraFile; tensors: Map<string, Float32Array> }

async function makeFile(spec: Spec, extra: Record<string, { shape: number[]; data: Float32Array }> = {}, strength = spec.strength): Promise<Made> {
  const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
  const put = (k: string, t: { shape: number[]; data: Float32Array }) => (tensors[k] = { dtype: "F32", ...t });
  for (const l of spec.lowRank) {
    put(l.down, rand(l.downShape));
    put(l.up, rand(l.upShape));
    if (l.alpha !== undefined) put(l.down.replace(/\.lora_down\.weight$/, ".alpha"), { shape: [], data: Float32Array.of(l.alpha) });
  }
  for (const x of spec.deltas) put(x.key, rand(x.shape, 0.05));
  for (const [k, t] of Object.entries(extra)) put(k, t);
  const bytes = encodeSafetensors(tensors, spec.metadata);
  const checkpoint = await Checkpoint.open([bytesSource(spec.name, bytes)]);
  return { file: { name: spec.name, checkpoint, strength }, tensors: new Map(Object.entries(tensors).map(([k, t]) => [k, t.data])) };
}

/** The Float64 merge of the files' updates into a copy of `base` (by name), independent of src/loaders/lora.ts. */
function mergeF64(cfg: WanConfig, base: WanWeights, made: { spec: Spec; made: Made; bias?: boolean }[]): Map<string, Float64Array> {
  const arrays = weightArrays(cfg, base);
  const out = new Map<string, Float64Array>();
  const get = (name: string) => {
    if (!out.has(name)) out.set(name, Float64Array.from(arrays.get(name)!));
    return out.get(name)!;
  };
  for (const { spec, made: m, bias } of made) {
    const s = m.file.strength;
    for (const l of spec.lowRank) {
      const a = m.tensors.get(l.down)!, b = m.tensors.get(l.up)!;
      const alpha = l.alpha ?? spec.alphaOf?.(l) ?? l.rank;
      const scale = (s * alpha) / l.rank;
      const w = get(l.target);
      for (let o = 0; o < l.out; o++) {
        for (let i = 0; i < l.inp; i++) {
          let acc = 0;
          for (let r = 0; r < l.rank; r++) acc += b[o * l.rank + r] * a[r * l.inp + i];
          w[o * l.inp + i] += scale * acc;
        }
      }
    }
    for (const x of spec.deltas) {
      const w = get(x.target), dlt = m.tensors.get(x.key)!;
      for (let i = 0; i < w.length; i++) w[i] += s * dlt[i];
    }
    if (bias) {
      const w = get(diffusersBias.target), dlt = m.tensors.get(diffusersBias.key)!;
      for (let i = 0; i < w.length; i++) w[i] += (s * 6 / 3) * dlt[i];
    }
  }
  return out;
}

const clone = (w: WanWeights): WanWeights => structuredClone(w);

/** Weights with the Float64 merge rounded to f32 (the reference the GPU merge is held to). */
function withMerged(cfg: WanConfig, base: WanWeights, merged: Map<string, Float64Array>): WanWeights {
  const w = clone(base);
  const arrays = weightArrays(cfg, w);
  for (const [name, v] of merged) arrays.get(name)!.set(v);
  return w;
}

/** Checks every tensor: the merged ones' updates against Float64, all others untouched bit for bit. */
function checkMerged(cfg: WanConfig, base: WanWeights, got: WanWeights, ref: Map<string, Float64Array>, what: string) {
  const b = weightArrays(cfg, base), g = weightArrays(cfg, got);
  for (const [name, gv] of g) {
    const bv = b.get(name)!;
    const rv = ref.get(name);
    if (!rv) {
      expectBitwiseEqual(`${what}: ${name} (no update)`, gv, bv);
      continue;
    }
    const upd = (x: ArrayLike<number>) => Float64Array.from(x, (v, i) => v - bv[i]);
    expectClose(`${what}: the update of ${name}`, upd(gv), upd(rv), TOL.matmul.f32);
  }
}

async function setup() {
  const g = await loadGolden("wan-small");
  seed = 100;
  const wan = await makeFile(wanLayout);
  const dif = await makeFile(diffusersLayout, { [diffusersBias.key]: rand(diffusersBias.shape, 0.05) });
  return { g, wan, dif };
}

const forward1 = (cfg: WanConfig, w: WanWeights, inputs: Awaited<ReturnType<typeof loadGolden>>["inputs"]) =>
  withGpu((gpu) => forwardOnDevice(new WanModel(gpu, cfg, uploadWanWeights(gpu, cfg, w, "f32"), "f32"), inputs));

for (const which of ["wan", "diffusers", "both"] as const) {
  test(`lora: ${which === "both" ? "two LoRAs at once (both layouts, one weight patched by both)" : `${which} layout`}: merged weights and forward vs a Float64 merge`, async () => {
    const { g, wan, dif } = await setup();
    const files = which === "wan" ? [wan] : which === "diffusers" ? [dif] : [wan, dif];
    const specs = [
      ...(which !== "diffusers" ? [{ spec: wanLayout, made: wan }] : []),
      ...(which !== "wan" ? [{ spec: diffusersLayout, made: dif, bias: true }] : []),
    ];
    const merged = clone(g.weights);
    const report = await withGpu((gpu) => mergeLoras(gpu, g.cfg, merged, files.map((m) => m.file)));
    const ref = mergeF64(g.cfg, g.weights, specs);
    expectEqual(`${which}: tensors changed`, report.tensors, ref.size);
    checkMerged(g.cfg, g.weights, merged, ref, which);
    const got = await forward1(g.cfg, merged, g.inputs);
    const want = await forward1(g.cfg, withMerged(g.cfg, g.weights, ref), g.inputs);
    expectClose(`${which}: forward over the GPU merge vs over the Float64 merge`, got, want, TOL.model.f32);
    // The LoRAs must matter, or the comparison above proves nothing.
    const plain = relL2(got, g.expected);
    if (!(plain > 1e-2)) throw new Error(`${which}: the merged forward is within ${plain.toExponential(2)} of the unmerged one: the LoRA changed nothing`);
  }, { tags: ["slow"], hosts: ["deno"] }); // the browser runs the merge kernel (kernels/lora_merge) and the fixture merges
}

test("lora: sharded forward (3 devices, sequence mode) over merged weights vs one device over the Float64 merge", async () => {
  const { g, wan, dif } = await setup();
  const merged = clone(g.weights);
  await withGpu((gpu) => mergeLoras(gpu, g.cfg, merged, [wan.file, dif.file]));
  const want = await forward1(g.cfg, withMerged(g.cfg, g.weights, mergeF64(g.cfg, g.weights, [{ spec: wanLayout, made: wan }, { spec: diffusersLayout, made: dif, bias: true }])), g.inputs);
  await withSharedPool(3, async (pool) => {
    await pool.load(g.cfg, merged);
    await pool.setText("text", g.inputs.text, g.inputs.textTokens);
    const plan = planShards(tokenGridFromLatent(g.inputs.latentGrid), 3, "sequence");
    const r = await pool.forward({ ...g.inputs, textKey: "text", plan });
    expectClose("3 devices, merged LoRAs", r.out, want, TOL.sharded.f32);
  });
}, { hosts: ["deno"], tags: ["slow"] });

// ---- errors: one line naming the file, the tensor, expected vs found (headers only: no GPU) ----

async function planOf(tensors: Record<string, number[]>, metadata?: Record<string, string>) {
  const g = await loadGolden("wan-small");
  const enc = Object.fromEntries(Object.entries(tensors).map(([k, s]) => [k, { dtype: "F32" as const, shape: s, data: new Float32Array(numelOf(s)) }]));
  const file: LoraFile = { name: "bad.safetensors", checkpoint: await Checkpoint.open([bytesSource("bad.safetensors", encodeSafetensors(enc, metadata))]), strength: 1 };
  return () => planLora(file, g.cfg);
}

test("lora errors: unmatched keys listed, rank, shapes, partners, alpha", async () => {
  await expectThrows("i2v keys on t2v", await planOf({
    [`${W}blocks.0.cross_attn.k_img.lora_down.weight`]: [2, d],
    [`${W}blocks.0.cross_attn.k_img.lora_up.weight`]: [d, 2],
    [`${W}blocks.7.self_attn.q.lora_down.weight`]: [2, d],
    [`${W}blocks.0.self_attn.q.lora_down.weight`]: [2, d],
    [`${W}blocks.0.self_attn.q.lora_up.weight`]: [d, 2],
  }), /^LoRA bad\.safetensors: 3 of 5 keys match no tensor of the model \(d=96, 2 layers\): diffusion_model\.blocks\.0\.cross_attn\.k_img\.lora_down\.weight, diffusion_model\.blocks\.0\.cross_attn\.k_img\.lora_up\.weight, diffusion_model\.blocks\.7\.self_attn\.q\.lora_down\.weight /);
  await expectThrows("rank", await planOf({ [`${T}blocks.0.attn1.to_q.lora_A.weight`]: [4, d], [`${T}blocks.0.attn1.to_q.lora_B.weight`]: [d, 2] }),
    /^LoRA bad\.safetensors: tensor "transformer\.blocks\.0\.attn1\.to_q\.lora_B\.weight" has shape \[96, 2\], expected \[96, 4\] \(out features of blocks\.0\.attn1\.to_q\.weight, rank 4/);
  await expectThrows("in features", await planOf({ [`${T}blocks.0.ffn.net.2.lora_A.weight`]: [2, d], [`${T}blocks.0.ffn.net.2.lora_B.weight`]: [d, 2] }),
    /tensor "transformer\.blocks\.0\.ffn\.net\.2\.lora_A\.weight" has shape \[2, 96\], expected \[rank, 256\] \(blocks\.0\.ffn\.net\.2\.weight is \[96, 256\]\)/);
  await expectThrows("partner", await planOf({ [`${W}blocks.0.self_attn.q.lora_down.weight`]: [2, d] }), /tensor "diffusion_model\.blocks\.0\.self_attn\.q\.lora_down\.weight" has no up \(lora_B \/ lora_up\) partner for blocks\.0\.attn1\.to_q\.weight/);
  await expectThrows("delta shape", await planOf({ [`${W}blocks.1.diff_m`]: [6, 48] }), /tensor "diffusion_model\.blocks\.1\.diff_m" has shape \[6, 48\], expected \[1, 6, 96\] \(a full delta of blocks\.1\.scale_shift_table\)/);
  await expectThrows("metadata r", await planOf({ [`${T}blocks.0.attn1.to_q.lora_A.weight`]: [4, d], [`${T}blocks.0.attn1.to_q.lora_B.weight`]: [d, 4] }, { lora_adapter_metadata: JSON.stringify({ lora_alpha: 8, r: 2 }) }),
    /has rank 4, but lora_adapter_metadata says r = 2/);
});

test("lora: --lora FILE[:SCALE] parsing keeps URLs and Hub paths whole", () => {
  expectEqual("plain", parseLoraArg("a.safetensors"), { source: "a.safetensors", strength: 1 });
  expectEqual("scale", parseLoraArg("dir/a.safetensors:0.75"), { source: "dir/a.safetensors", strength: 0.75 });
  expectEqual("negative", parseLoraArg("a.safetensors:-1"), { source: "a.safetensors", strength: -1 });
  expectEqual("url", parseLoraArg("https://host/x/a.safetensors"), { source: "https://host/x/a.safetensors", strength: 1 });
  expectEqual("url scale", parseLoraArg("https://host:8080/a.safetensors:2"), { source: "https://host:8080/a.safetensors", strength: 2 });
});

test("lora: other spellings of the two layouts (ai-toolkit's lora_A/lora_B under Wan names, PEFT's base_model.model., no prefix)", async () => {
  const plan = async (tensors: Record<string, number[]>) => (await (await planOf(tensors))()).updates.map((u) => `${u.kind} ${u.target} ${u.scale}`);
  expectEqual("ai-toolkit", await plan({ [`${W}blocks.1.cross_attn.o.lora_A.weight`]: [2, d], [`${W}blocks.1.cross_attn.o.lora_B.weight`]: [d, 2] }), ["lowrank blocks.1.attn2.to_out.0.weight 1"]);
  expectEqual("PEFT base_model", await plan({ "base_model.model.blocks.0.ffn.net.2.lora_A.weight": [2, 256], "base_model.model.blocks.0.ffn.net.2.lora_B.weight": [d, 2] }), ["lowrank blocks.0.ffn.net.2.weight 1"]);
  expectEqual("bare Wan names", await plan({ "head.head.lora_down.weight": [2, d], "head.head.lora_up.weight": [64, 2], "head.head.diff_b": [64] }), ["lowrank proj_out.weight 1", "delta proj_out.bias 1"]);
});
