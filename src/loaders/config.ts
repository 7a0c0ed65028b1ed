// The Wan2.1 DiT config, read from diffusers' config.json (WanTransformer3DModel), and typed presets.
// Only text-to-video is supported: patch (1,2,2), qk_norm across heads, no image conditioning.
// openWanFolder reads a transformer folder from any FolderSource (disk, URL, Hub, File list): src/io
// finds config.json and the weights, this module gives config.json its meaning.
import { type FolderSource, type OpenedFolder, openModelFolder } from "../io/model_folder.ts";
import type { WanConfig } from "../model/config.ts";

function fail(source: string, msg: string): never {
  throw new Error(`${source}: ${msg}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Largest accepted config values: far above any Wan2.1 model, small enough that what is sized from them
 * (the list of tensor names, RoPE tables, per-layer buffers) stays small before the checkpoint is read.
 */
export const WAN_CONFIG_LIMITS: Record<string, number> = {
  num_layers: 1024, num_attention_heads: 1024, attention_head_dim: 1024, in_channels: 4096, out_channels: 4096,
  text_dim: 65536, ffn_dim: 1 << 20, freq_dim: 65536, rope_max_seq_len: 1 << 16,
};

/** Reads diffusers' config.json (already parsed); `source` names it in errors. */
export function parseWanConfig(json: unknown, source: string): WanConfig {
  if (!isObject(json)) fail(source, `config is ${Array.isArray(json) ? "an array" : typeof json}, expected a JSON object`);
  const j = json;
  const int = (key: string, def?: number): number => {
    const v = j[key] ?? def;
    if (v === undefined) fail(source, `"${key}" is missing`);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) fail(source, `"${key}" must be a positive integer, found ${JSON.stringify(v)}`);
    // Bounded before anything is sized from it (num_layers 1e8 once built a 4.5 GB list of tensor names).
    const max = WAN_CONFIG_LIMITS[key];
    if (max !== undefined && v > max) fail(source, `"${key}" is ${v}, above shardit's limit of ${max} (Wan2.1 14B: 40 layers of d = 5120, ffn_dim 13824)`);
    return v;
  };
  if (j._class_name !== undefined && j._class_name !== "WanTransformer3DModel") {
    fail(source, `"_class_name" is ${JSON.stringify(j._class_name)}, expected "WanTransformer3DModel" (is this the transformer's config.json?)`);
  }
  const patch = j.patch_size;
  if (!Array.isArray(patch) || patch.length !== 3 || patch[0] !== 1 || patch[1] !== 2 || patch[2] !== 2) {
    fail(source, `"patch_size" must be [1, 2, 2], found ${JSON.stringify(patch)}`);
  }
  const qk = j.qk_norm;
  if (qk !== "rms_norm_across_heads") fail(source, `"qk_norm" must be "rms_norm_across_heads", found ${JSON.stringify(qk)}`);
  for (const key of ["image_dim", "added_kv_proj_dim", "pos_embed_seq_len"]) {
    if (j[key] !== undefined && j[key] !== null) {
      fail(source, `"${key}" is ${JSON.stringify(j[key])}: image-to-video models are not supported yet (text-to-video only, ${key} must be null)`);
    }
  }
  const crossAttnNorm = j.cross_attn_norm ?? true;
  if (typeof crossAttnNorm !== "boolean") fail(source, `"cross_attn_norm" must be true or false, found ${JSON.stringify(crossAttnNorm)}`);
  const eps = j.eps ?? 1e-6;
  if (typeof eps !== "number" || !(eps > 0 && eps < 1)) fail(source, `"eps" must be a small positive number, found ${JSON.stringify(eps)}`);
  const heads = int("num_attention_heads"), headDim = int("attention_head_dim");
  if (heads * headDim > 65536) fail(source, `num_attention_heads x attention_head_dim is ${heads * headDim}, above shardit's limit of 65536`);
  if (headDim % 2) fail(source, `"attention_head_dim" must be even (RoPE rotates pairs), found ${headDim}`);
  const freqDim = int("freq_dim", 256);
  if (freqDim % 2) fail(source, `"freq_dim" must be even (cos and sin halves), found ${freqDim}`);
  return {
    patchSize: [1, 2, 2],
    heads,
    headDim,
    dim: heads * headDim,
    inChannels: int("in_channels"),
    outChannels: int("out_channels"),
    textDim: int("text_dim"),
    freqDim,
    ffnDim: int("ffn_dim"),
    numLayers: int("num_layers"),
    crossAttnNorm,
    qkNorm: "rms_norm_across_heads",
    eps,
    ropeMaxSeqLen: int("rope_max_seq_len", 1024),
  };
}

/** A transformer folder: its config (parsed and checked) and its checkpoint (headers validated, weights not read yet). */
export function openWanFolder(folder: FolderSource): Promise<OpenedFolder<WanConfig>> {
  return openModelFolder(folder, parseWanConfig);
}

/** diffusers' config.json for a WanConfig (the inverse of parseWanConfig), e.g. for synthetic checkpoints. */
export function wanConfigJson(cfg: WanConfig): Record<string, unknown> {
  return {
    _class_name: "WanTransformer3DModel",
    patch_size: [...cfg.patchSize],
    num_attention_heads: cfg.heads,
    attention_head_dim: cfg.headDim,
    in_channels: cfg.inChannels,
    out_channels: cfg.outChannels,
    text_dim: cfg.textDim,
    freq_dim: cfg.freqDim,
    ffn_dim: cfg.ffnDim,
    num_layers: cfg.numLayers,
    cross_attn_norm: cfg.crossAttnNorm,
    qk_norm: cfg.qkNorm,
    eps: cfg.eps,
    image_dim: null,
    added_kv_proj_dim: null,
    rope_max_seq_len: cfg.ropeMaxSeqLen,
    pos_embed_seq_len: null,
  };
}

function preset(heads: number, headDim: number, c: Omit<WanConfig, "patchSize" | "heads" | "headDim" | "dim" | "qkNorm" | "eps" | "ropeMaxSeqLen" | "crossAttnNorm">): WanConfig {
  return { patchSize: [1, 2, 2], heads, headDim, dim: heads * headDim, qkNorm: "rms_norm_across_heads", eps: 1e-6, ropeMaxSeqLen: 1024, crossAttnNorm: true, ...c };
}

/** Real model sizes and the golden fixtures (test/fixtures/NAME/config.json parse to exactly these). */
export const PRESETS = {
  "wan2.1-t2v-1.3b": preset(12, 128, { inChannels: 16, outChannels: 16, textDim: 4096, freqDim: 256, ffnDim: 8960, numLayers: 30 }),
  "wan2.1-t2v-14b": preset(40, 128, { inChannels: 16, outChannels: 16, textDim: 4096, freqDim: 256, ffnDim: 13824, numLayers: 40 }),
  "wan-tiny": preset(2, 12, { inChannels: 4, outChannels: 4, textDim: 32, freqDim: 32, ffnDim: 64, numLayers: 2 }),
  "wan-small": preset(4, 24, { inChannels: 16, outChannels: 16, textDim: 64, freqDim: 256, ffnDim: 256, numLayers: 2 }),
} as const satisfies Record<string, WanConfig>;

export type PresetName = keyof typeof PRESETS;

export function presetConfig(name: string): WanConfig {
  if (!(name in PRESETS)) throw new Error(`unknown model preset "${name}" (known: ${Object.keys(PRESETS).join(", ")})`);
  return PRESETS[name as PresetName];
}
