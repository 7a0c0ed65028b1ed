// LoRA files for the Wan2.1 DiT: parse the two layouts people download, map their keys onto the model's
// tensors (the names of src/loaders/checkpoint.ts), check ranks and shapes from the headers, and merge them
// into the f32 weight tree at load: W += strength * alpha / rank * B A on a GPU (ops/lora_merge.ts), in f32,
// before the tree goes to the workers (where uploadLinear converts to f16 for --precision f16).
//
// Why here, before the pool: the merge is one pass per model, not one per device; the model (src/model)
// and the parallel layer never learn that LoRAs exist (they see an ordinary WanWeights); and the weights
// are still f32 here, so the sum is not rounded to f16 twice. It costs one upload and readback of each
// patched weight on the merge device.
//
// Layouts (key = [prefix] module . suffix):
// - diffusers / PEFT (diffusers' WanTransformer3DModel names, e.g. saved by WanPipeline.save_lora_weights):
//   `transformer.blocks.N.attn1.to_q.lora_A.weight` [r, in], `.lora_B.weight` [out, r], optional
//   `.lora_B.bias` [out] (PEFT lora_bias); alpha from the file's __metadata__ "lora_adapter_metadata" JSON
//   ({"transformer.lora_alpha", "transformer.r"} or {"lora_alpha", "r"}), else alpha = rank (scale 1).
// - original Wan / ComfyUI / LightX2V (wan/modules/model.py names; diffusers reads them through
//   _convert_non_diffusers_wan_lora_to_diffusers in diffusers/loaders/lora_conversion_utils.py, whose
//   name map this follows): `diffusion_model.blocks.N.self_attn.q.lora_down.weight`, `.lora_up.weight`,
//   `.alpha` (scalar); self_attn -> attn1, cross_attn -> attn2, q/k/v/o -> to_q/to_k/to_v/to_out.0,
//   ffn.0 -> ffn.net.0.proj, ffn.2 -> ffn.net.2, norm3 -> norm2 (the cross-attention norm), modulation ->
//   scale_shift_table, head.head -> proj_out, head.modulation -> scale_shift_table, time_embedding.0/2,
//   text_embedding.0/2, time_projection.1 -> condition_embedder.*. LightX2V's distill LoRAs also carry
//   full deltas, applied as ComfyUI does (W += strength * diff): `.diff` (a weight, e.g. norm_q, norm_k),
//   `.diff_b` (a bias), and `blocks.N.diff_m` (the block's modulation table; ComfyUI-WanVideoWrapper
//   issue 807 lists them). lora_A/lora_B under the original names (ai-toolkit's files) read the same.
// Keys that match no tensor of the model are an error listing the first few (an image-to-video LoRA's
// k_img/v_img/img_emb on a text-to-video model, a 14B LoRA's block 35 on the 30-block 1.3B ...).
import type { Gpu } from "../gpu/device.ts";
import { rowsPerBinding } from "../gpu/tensor_ops.ts";
import { numel } from "../shape.ts";
import type { Checkpoint, TensorInfo } from "../io/safetensors.ts";
import { expectedTensors, mapWanWeights } from "./checkpoint.ts";
import type { WanConfig } from "../model/config.ts";
import type { WanWeights } from "../model/weights.ts";
import { loraMerge } from "../ops/lora_merge.ts";

/** One LoRA file opened: its tensors (headers read) and the strength it is applied with. */
export interface LoraFile {
  /** Where it came from (path, URL, Hub reference), for messages. */
  name: string;
  checkpoint: Checkpoint;
  /** The user's strength (the `:SCALE` of --lora; 1 by default). */
  strength: number;
}

/** A low-rank update of one linear layer: W [out, in] += scale * up [out, r] · down [r, in]. */
export interface LowRankUpdate {
  kind: "lowrank";
  /** The model tensor, e.g. "blocks.0.attn1.to_q.weight". */
  target: string;
  down: string;
  up: string;
  rank: number;
  /** strength * alpha / rank. */
  scale: number;
}

/** A full delta: target += scale * delta (diff, diff_b, diff_m, PEFT's lora_B.bias). */
export interface DeltaUpdate {
  kind: "delta";
  target: string;
  delta: string;
  scale: number;
}

export type LoraUpdate = LowRankUpdate | DeltaUpdate;

export interface LoraPlan {
  file: LoraFile;
  layout: "diffusers" | "wan";
  updates: LoraUpdate[];
}

/** `--lora FILE[:SCALE]`: the text after the last ':' is the strength when it is a number (so URLs keep their scheme). */
export function parseLoraArg(text: string): { source: string; strength: number } {
  const at = text.lastIndexOf(":");
  if (at > 0) {
    const tail = text.slice(at + 1);
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(tail)) return { source: text.slice(0, at), strength: Number(tail) };
  }
  if (!text) throw new Error(`--lora needs FILE[:SCALE] (a .safetensors path, URL or Hub owner/name/file.safetensors), got ""`);
  return { source: text, strength: 1 };
}

const PREFIXES = ["diffusion_model.", "transformer.", "base_model.model.", "model."];
// Longest first: ".lora_B.bias" before ".bias"-like tails, ".diff_b" before ".diff".
const SUFFIXES = [".lora_A.weight", ".lora_B.weight", ".lora_down.weight", ".lora_up.weight", ".lora_B.bias", ".alpha", ".diff_b", ".diff_m", ".diff"] as const;
type Suffix = typeof SUFFIXES[number];

/** wan/modules/model.py module names -> diffusers' (the map of diffusers' Wan LoRA converter, see the header). */
const WAN_TO_DIFFUSERS: [RegExp, string][] = [
  [/^blocks\.(\d+)\.self_attn\.([qkv])$/, "blocks.$1.attn1.to_$2"],
  [/^blocks\.(\d+)\.self_attn\.o$/, "blocks.$1.attn1.to_out.0"],
  [/^blocks\.(\d+)\.self_attn\.(norm_[qk])$/, "blocks.$1.attn1.$2"],
  [/^blocks\.(\d+)\.cross_attn\.([qkv])$/, "blocks.$1.attn2.to_$2"],
  [/^blocks\.(\d+)\.cross_attn\.o$/, "blocks.$1.attn2.to_out.0"],
  [/^blocks\.(\d+)\.cross_attn\.(norm_[qk])$/, "blocks.$1.attn2.$2"],
  [/^blocks\.(\d+)\.ffn\.0$/, "blocks.$1.ffn.net.0.proj"],
  [/^blocks\.(\d+)\.ffn\.2$/, "blocks.$1.ffn.net.2"],
  [/^blocks\.(\d+)\.norm3$/, "blocks.$1.norm2"],
  [/^blocks\.(\d+)\.modulation$/, "blocks.$1.scale_shift_table"],
  [/^head\.head$/, "proj_out"],
  [/^head\.modulation$/, "scale_shift_table"],
  [/^time_embedding\.0$/, "condition_embedder.time_embedder.linear_1"],
  [/^time_embedding\.2$/, "condition_embedder.time_embedder.linear_2"],
  [/^text_embedding\.0$/, "condition_embedder.text_embedder.linear_1"],
  [/^text_embedding\.2$/, "condition_embedder.text_embedder.linear_2"],
  [/^time_projection\.1$/, "condition_embedder.time_proj"],
  [/^patch_embedding$/, "patch_embedding"],
];
/** Module names only the original layout has: a file with any of them is read as the Wan layout. */
const WAN_MARKERS = /(^|\.)(self_attn|cross_attn|ffn\.[02]|head\.head|time_embedding|text_embedding|time_projection|norm3)(\.|$)|\.diff_m$/;

function splitKey(key: string): { module: string; suffix: Suffix } | null {
  let k = key;
  for (let changed = true; changed;) {
    changed = false;
    for (const p of PREFIXES) if (k.startsWith(p)) { k = k.slice(p.length); changed = true; }
  }
  for (const s of SUFFIXES) {
    if (k.endsWith(s)) return { module: k.slice(0, -s.length), suffix: s };
  }
  return null;
}

const fmt = (s: readonly number[]) => `[${s.join(", ")}]`;
/** Shapes equal once the size-1 dimensions are dropped ([1, 6, d] tables, conv kernels [out, r, 1, 1, 1]). */
const sameSqueezed = (a: readonly number[], b: readonly number[]) => fmt(a.filter((d) => d !== 1)) === fmt(b.filter((d) => d !== 1));

/** alpha and r from diffusers' "lora_adapter_metadata" (a PEFT LoraConfig as JSON), when the file has it. */
function adapterMetadata(file: LoraFile): { alpha: number; r: number } | null {
  const raw = file.checkpoint.files[0]?.metadata?.["lora_adapter_metadata"];
  if (raw === undefined) return null;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new Error(`LoRA ${file.name}: __metadata__ "lora_adapter_metadata" is not valid JSON: ${(e as Error).message}`);
  }
  const pick = (k: string) => json[`transformer.${k}`] ?? json[k];
  const alpha = pick("lora_alpha"), r = pick("r");
  if (typeof alpha !== "number" || typeof r !== "number") return null;
  for (const k of ["alpha_pattern", "rank_pattern"]) {
    const v = pick(k);
    if (v && typeof v === "object" && Object.keys(v).length) throw new Error(`LoRA ${file.name}: lora_adapter_metadata has a per-module ${k} (${Object.keys(v).slice(0, 3).join(", ")}), which shardit does not read`);
  }
  return { alpha, r };
}

/**
 * Maps every key of `file` onto the model `cfg` describes and checks ranks and shapes from the headers
 * (only the scalar alphas are read). Throws one line naming the file, the tensor, expected vs found; or,
 * for keys that match nothing, the first few of them.
 */
export async function planLora(file: LoraFile, cfg: WanConfig): Promise<LoraPlan> {
  const ckpt = file.checkpoint;
  const keys = ckpt.names();
  const where = `LoRA ${file.name}`;
  if (!Number.isFinite(file.strength)) throw new Error(`${where}: strength must be a number, got ${file.strength}`);
  const targets = new Map(expectedTensors(cfg).map((t) => [t.name, t.shape]));
  const split = keys.map((k) => ({ key: k, parts: splitKey(k) }));
  const layout = split.some((s) => s.parts && WAN_MARKERS.test(`${s.parts.module}${s.parts.suffix === ".diff_m" ? ".diff_m" : ""}`)) ? "wan" : "diffusers";
  const toModel = (m: string): string => {
    if (layout === "diffusers") return m;
    for (const [re, to] of WAN_TO_DIFFUSERS) if (re.test(m)) return m.replace(re, to);
    return m;
  };
  const meta = layout === "diffusers" ? adapterMetadata(file) : null;

  interface Pair { down?: TensorInfo; up?: TensorInfo; alpha?: TensorInfo; bias?: TensorInfo }
  const pairs = new Map<string, Pair>();
  const deltas: { key: string; target: string }[] = [];
  const unmatched: string[] = [];
  for (const { key, parts } of split) {
    if (!parts) {
      unmatched.push(key);
      continue;
    }
    const { suffix } = parts;
    // blocks.N.diff_m: the block's modulation table (module "blocks.N" + "modulation").
    const module = toModel(suffix === ".diff_m" ? `${parts.module}.modulation` : parts.module);
    if (suffix === ".diff" || suffix === ".diff_b" || suffix === ".diff_m") {
      const target = suffix === ".diff_b" ? `${module}.bias` : targets.has(`${module}.weight`) ? `${module}.weight` : module;
      if (!targets.has(target)) unmatched.push(key);
      else deltas.push({ key, target });
      continue;
    }
    if (!targets.has(`${module}.weight`)) {
      unmatched.push(key);
      continue;
    }
    const p = pairs.get(module) ?? {};
    const info = ckpt.info(key);
    if (suffix === ".lora_A.weight" || suffix === ".lora_down.weight") p.down = info;
    else if (suffix === ".lora_B.weight" || suffix === ".lora_up.weight") p.up = info;
    else if (suffix === ".alpha") p.alpha = info;
    else p.bias = info;
    pairs.set(module, p);
  }
  if (unmatched.length) {
    throw new Error(
      `${where}: ${unmatched.length} of ${keys.length} keys match no tensor of the model (d=${cfg.dim}, ${cfg.numLayers} layers): ${unmatched.slice(0, 4).join(", ")}${unmatched.length > 4 ? ", ..." : ""} ` +
        `(shardit reads blocks.N.attn1.to_q.lora_A.weight / lora_B.weight and diffusion_model.blocks.N.self_attn.q.lora_down.weight / lora_up.weight / alpha / diff / diff_b)`,
    );
  }

  const updates: LoraUpdate[] = [];
  for (const [module, p] of pairs) {
    const target = `${module}.weight`;
    const shape = targets.get(target)!;
    const out = shape[0], inp = numel(shape.slice(1));
    if (!p.down || !p.up) {
      const have = (p.down ?? p.up ?? p.alpha ?? p.bias)!.name;
      throw new Error(`${where}: tensor "${have}" has no ${p.down ? "up (lora_B / lora_up)" : "down (lora_A / lora_down)"} partner for ${target}`);
    }
    const rank = p.down.shape[0];
    if (!(rank >= 1) || numel(p.down.shape.slice(1)) !== inp) {
      throw new Error(`${where}: tensor "${p.down.name}" has shape ${fmt(p.down.shape)}, expected [rank, ${inp}] (${target} is ${fmt(shape)})`);
    }
    if (p.up.shape.length < 2 || p.up.shape[0] !== out || p.up.shape[1] !== rank || numel(p.up.shape) !== out * rank) {
      throw new Error(`${where}: tensor "${p.up.name}" has shape ${fmt(p.up.shape)}, expected [${out}, ${rank}] (out features of ${target}, rank ${rank} from ${p.down.name})`);
    }
    let alpha = rank;
    if (p.alpha) {
      if (numel(p.alpha.shape) !== 1) throw new Error(`${where}: tensor "${p.alpha.name}" has shape ${fmt(p.alpha.shape)}, expected a scalar alpha`);
      alpha = (await ckpt.readF32(p.alpha.name))[0];
      if (!Number.isFinite(alpha)) throw new Error(`${where}: tensor "${p.alpha.name}" is ${alpha}, expected a finite alpha`);
    } else if (meta) {
      if (meta.r !== rank) throw new Error(`${where}: tensor "${p.down.name}" has rank ${rank}, but lora_adapter_metadata says r = ${meta.r}`);
      alpha = meta.alpha;
    }
    updates.push({ kind: "lowrank", target, down: p.down.name, up: p.up.name, rank, scale: (file.strength * alpha) / rank });
    if (p.bias) {
      const bt = `${module}.bias`;
      if (!targets.has(bt)) throw new Error(`${where}: tensor "${p.bias.name}" adds a bias, but ${module} has none`);
      if (!sameSqueezed(p.bias.shape, [out])) throw new Error(`${where}: tensor "${p.bias.name}" has shape ${fmt(p.bias.shape)}, expected [${out}] (the bias of ${module})`);
      // PEFT's lora_bias sits inside lora_B, so it is scaled by alpha / rank as the product is.
      updates.push({ kind: "delta", target: bt, delta: p.bias.name, scale: (file.strength * alpha) / rank });
    }
  }
  for (const { key, target } of deltas) {
    const want = targets.get(target)!, got = ckpt.info(key).shape;
    if (!sameSqueezed(got, want)) throw new Error(`${where}: tensor "${key}" has shape ${fmt(got)}, expected ${fmt(want)} (a full delta of ${target})`);
    updates.push({ kind: "delta", target, delta: key, scale: file.strength });
  }
  return { file, layout, updates };
}

/** The weight tree's arrays by checkpoint name ("blocks.0.attn1.to_q.weight" -> its Float32Array). */
export function weightArrays(cfg: WanConfig, w: WanWeights): Map<string, Float32Array> {
  const names = new Map<Float32Array, string>();
  const shadow = mapWanWeights(cfg, (name) => {
    const p = new Float32Array(0);
    names.set(p, name);
    return p;
  });
  const out = new Map<string, Float32Array>();
  const walk = (s: unknown, r: unknown) => {
    if (s instanceof Float32Array) out.set(names.get(s)!, r as Float32Array);
    else if (s && typeof s === "object") for (const k of Object.keys(s)) walk((s as Record<string, unknown>)[k], (r as Record<string, unknown>)[k]);
  };
  walk(shadow, w);
  return out;
}

export interface MergeReport {
  /** Per file: how many low-rank updates and full deltas were merged. */
  files: { name: string; layout: string; lowRank: number; deltas: number; strength: number }[];
  /** Model tensors changed. */
  tensors: number;
  ms: number;
}

/**
 * Merges `files` (in order) into `weights`, in place: every low-rank update on `gpu` (each patched weight
 * uploaded once in row chunks that fit a storage binding, every file's update applied, read back), every
 * full delta on the CPU (f32 adds: nothing to multiply). All files are planned and checked before any
 * weight changes, so an error leaves `weights` untouched.
 */
export async function mergeLoras(gpu: Gpu, cfg: WanConfig, weights: WanWeights, files: readonly LoraFile[]): Promise<MergeReport> {
  const t0 = performance.now();
  const plans: LoraPlan[] = [];
  for (const f of files) plans.push(await planLora(f, cfg));
  const arrays = weightArrays(cfg, weights);
  const shapes = new Map(expectedTensors(cfg).map((t) => [t.name, t.shape]));
  const lowRank = new Map<string, { plan: LoraPlan; u: LowRankUpdate }[]>();
  const deltas: { plan: LoraPlan; u: DeltaUpdate }[] = [];
  for (const plan of plans) {
    for (const u of plan.updates) {
      if (u.kind === "lowrank") lowRank.set(u.target, [...(lowRank.get(u.target) ?? []), { plan, u }]);
      else deltas.push({ plan, u });
    }
  }
  for (const [target, list] of lowRank) {
    const w = arrays.get(target)!;
    const shape = shapes.get(target)!;
    const out = shape[0], inp = numel(shape.slice(1));
    const factors = [];
    for (const { plan, u } of list) {
      const ck = plan.file.checkpoint;
      factors.push({ u, down: await ck.readF32(u.down), up: await ck.readF32(u.up) });
    }
    const rowsPer = rowsPerBinding(gpu, out, inp, "f32", `LoRA merge of ${target}`);
    const downs = factors.map((f) => gpu.upload(f.down, [f.u.rank, inp], "f32", `${f.u.down}`));
    try {
      for (let r0 = 0; r0 < out; r0 += rowsPer) {
        const rows = Math.min(rowsPer, out - r0);
        const chunk = gpu.upload(w.subarray(r0 * inp, (r0 + rows) * inp), [rows, inp], "f32", `${target}[${r0}:${r0 + rows}]`);
        const ups = factors.map((f) => gpu.upload(f.up.subarray(r0 * f.u.rank, (r0 + rows) * f.u.rank), [rows, f.u.rank], "f32", `${f.u.up}[${r0}:${r0 + rows}]`));
        factors.forEach((f, i) => loraMerge(gpu, chunk, downs[i], ups[i], f.u.scale));
        w.set(await gpu.read(chunk), r0 * inp);
        gpu.freeTensor(chunk);
        ups.forEach((t) => gpu.freeTensor(t));
      }
    } finally {
      downs.forEach((t) => gpu.freeTensor(t));
    }
  }
  for (const { plan, u } of deltas) {
    const w = arrays.get(u.target)!;
    const d = await plan.file.checkpoint.readF32(u.delta);
    for (let i = 0; i < w.length; i++) w[i] += u.scale * d[i];
  }
  const changed = new Set([...lowRank.keys(), ...deltas.map((d) => d.u.target)]);
  return {
    files: plans.map((p) => ({
      name: p.file.name,
      layout: p.layout,
      lowRank: p.updates.filter((u) => u.kind === "lowrank").length,
      deltas: p.updates.filter((u) => u.kind === "delta").length,
      strength: p.file.strength,
    })),
    tensors: changed.size,
    ms: performance.now() - t0,
  };
}
