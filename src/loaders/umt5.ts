// Loading Wan's text encoder (transformers' UMT5EncoderModel, text_encoder/ of a diffusers pipeline):
// config.json -> Umt5Config, the one map of checkpoint names, layers streamed to the GPU one at a time, and the
// token embedding rows gathered straight from the checkpoint file (only the prompt's rows are read: the real
// table is 256,384 x 4096, 4.2 GB in f32, and never reaches the GPU).
import type { Gpu } from "../gpu/device.ts";
import type { DType } from "../shape.ts";
import { type Checkpoint, decodeToF32, summarizeProblems } from "../io/safetensors.ts";
import { splitLayers, type Umt5Config, Umt5Encoder, type Umt5GemmOptions, Umt5LayerSplit, type Umt5LayerWeights, type Umt5Precision } from "../model/umt5.ts";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** text_encoder/config.json -> Umt5Config; errors name the file and the field. */
export function parseUmt5Config(json: unknown, where: string): Umt5Config {
  if (!isObject(json)) throw new Error(`${where}: expected a JSON object, found ${Array.isArray(json) ? "an array" : typeof json}`);
  const int = (k: string, fallback?: number): number => {
    const v = json[k] ?? fallback;
    if (v === undefined) throw new Error(`${where}: field "${k}" is missing`);
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) throw new Error(`${where}: field "${k}" must be a positive integer, found ${JSON.stringify(v)}`);
    return v;
  };
  const type = json.model_type;
  if (type !== "umt5") {
    const why = type === "t5" ? " (T5 has a position bias in layer 0 only; Wan's encoder is umT5, a bias in every layer)" : "";
    throw new Error(`${where}: model_type ${JSON.stringify(type)}, expected "umt5"${why}`);
  }
  const ff = json.feed_forward_proj ?? "gated-gelu";
  if (ff !== "gated-gelu") throw new Error(`${where}: feed_forward_proj ${JSON.stringify(ff)}, shardit runs "gated-gelu" (wo(gelu_tanh(wi_0 x) * wi_1 x))`);
  const act = json.dense_act_fn ?? "gelu_new";
  if (act !== "gelu_new" && act !== "gelu_pytorch_tanh") throw new Error(`${where}: dense_act_fn ${JSON.stringify(act)}, expected "gelu_new" (GELU with tanh)`);
  const eps = json.layer_norm_epsilon ?? 1e-6;
  if (typeof eps !== "number" || !(eps > 0)) throw new Error(`${where}: field "layer_norm_epsilon" must be a positive number, found ${JSON.stringify(eps)}`);
  return {
    dModel: int("d_model"),
    dKv: int("d_kv"),
    heads: int("num_heads"),
    dFf: int("d_ff"),
    layers: int("num_layers"),
    vocabSize: int("vocab_size"),
    numBuckets: int("relative_attention_num_buckets", 32),
    maxDistance: int("relative_attention_max_distance", 128),
    eps,
  };
}

/** transformers' names of layer i's tensors, with their shapes ([out, in] for linears). */
export function umt5LayerTensors(cfg: Umt5Config, i: number): { key: keyof Umt5LayerWeights; name: string; shape: number[] }[] {
  const p = `encoder.block.${i}.layer`, inner = cfg.heads * cfg.dKv, d = cfg.dModel;
  return [
    { key: "attnNorm", name: `${p}.0.layer_norm.weight`, shape: [d] },
    { key: "q", name: `${p}.0.SelfAttention.q.weight`, shape: [inner, d] },
    { key: "k", name: `${p}.0.SelfAttention.k.weight`, shape: [inner, d] },
    { key: "v", name: `${p}.0.SelfAttention.v.weight`, shape: [inner, d] },
    { key: "o", name: `${p}.0.SelfAttention.o.weight`, shape: [d, inner] },
    { key: "relBias", name: `${p}.0.SelfAttention.relative_attention_bias.weight`, shape: [cfg.numBuckets, cfg.heads] },
    { key: "ffnNorm", name: `${p}.1.layer_norm.weight`, shape: [d] },
    { key: "wi0", name: `${p}.1.DenseReluDense.wi_0.weight`, shape: [cfg.dFf, d] },
    { key: "wi1", name: `${p}.1.DenseReluDense.wi_1.weight`, shape: [cfg.dFf, d] },
    { key: "wo", name: `${p}.1.DenseReluDense.wo.weight`, shape: [d, cfg.dFf] },
  ];
}

export const UMT5_FINAL_NORM = "encoder.final_layer_norm.weight";
/** The token embedding: shared.weight, or encoder.embed_tokens.weight (the same table, tied) in some exports. */
export const UMT5_EMBEDDING_NAMES = ["shared.weight", "encoder.embed_tokens.weight"];

export function embeddingName(ck: Checkpoint): string {
  const name = UMT5_EMBEDDING_NAMES.find((n) => ck.has(n));
  if (!name) throw new Error(`${ck.describe()}: no token embedding (${UMT5_EMBEDDING_NAMES.join(" or ")})`);
  return name;
}

/** Every tensor the encoder needs, checked from the headers alone: one message listing the problems. */
export function validateUmt5Checkpoint(ck: Checkpoint, cfg: Umt5Config, where: string): void {
  const want = [{ name: UMT5_FINAL_NORM, shape: [cfg.dModel] }];
  for (let i = 0; i < cfg.layers; i++) want.push(...umt5LayerTensors(cfg, i));
  const { problems } = ck.checkShapes(want);
  const emb = UMT5_EMBEDDING_NAMES.find((n) => ck.has(n));
  if (!emb) problems.push(`no token embedding (${UMT5_EMBEDDING_NAMES.join(" or ")})`);
  else {
    const s = ck.info(emb).shape;
    if (s.length !== 2 || s[0] !== cfg.vocabSize || s[1] !== cfg.dModel) problems.push(`tensor "${emb}" has shape [${s}], expected [${cfg.vocabSize}, ${cfg.dModel}] (vocab_size, d_model)`);
  }
  if (problems.length) throw new Error(`${where}: ${summarizeProblems(problems)}`);
}

/** A tensor as f32, converted from F16/BF16/F32, every value finite (and within f16's range when stored as f16). */
async function readChecked(ck: Checkpoint, name: string, dtype: DType): Promise<Float32Array> {
  const a = await ck.readF32(name);
  const limit = dtype === "f16" ? 65504 : Infinity;
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i]) <= limit)) {
      throw new Error(`${ck.info(name).source.name}: tensor "${name}" element ${i} is ${a[i]}${dtype === "f16" ? ", outside f16's range (65504)" : " (not finite)"}`);
    }
  }
  return a;
}

/**
 * The encoder's layers onto `gpu`, one layer read and uploaded at a time (the host holds one layer's f32
 * copy, 0.8 GB at umT5-XXL's size). Several GPUs: the layers split over them (splitLayers: contiguous ranges,
 * the final norm on the last), each device holding only its part. progress(done, total) counts the bytes read.
 */
export async function loadUmt5Encoder(
  gpu: Gpu | readonly Gpu[], ck: Checkpoint, cfg: Umt5Config, where: string, opts: { precision?: Umt5Precision; gemm?: Umt5GemmOptions; progress?: (done: number, total: number) => void } = {},
): Promise<Umt5Encoder | Umt5LayerSplit> {
  validateUmt5Checkpoint(ck, cfg, where);
  const gpus = Array.isArray(gpu) ? gpu as readonly Gpu[] : [gpu as Gpu];
  const parts = splitLayers(cfg.layers, gpus.length).map((r, i) => new Umt5Encoder(gpus[i], cfg, opts.precision ?? "f32", r, opts.gemm));
  const bytes = (name: string) => ck.info(name).end - ck.info(name).begin;
  let total = bytes(UMT5_FINAL_NORM), done = 0;
  for (let i = 0; i < cfg.layers; i++) for (const t of umt5LayerTensors(cfg, i)) total += bytes(t.name);
  try {
    for (const enc of parts) {
      for (let i = enc.range.start; i < enc.range.end; i++) {
        const w = {} as Umt5LayerWeights;
        for (const t of umt5LayerTensors(cfg, i)) {
          // the position bias stays f32 on the host; norms are stored as the activations, linears as the weights
          const as = t.key === "relBias" ? "f32" : t.key.endsWith("Norm") ? enc.dtype : enc.weightDtype;
          w[t.key] = await readChecked(ck, t.name, as);
          opts.progress?.((done += bytes(t.name)), total);
        }
        enc.addLayer(i, w);
      }
    }
    const last = parts[parts.length - 1];
    last.setFinalNorm(await readChecked(ck, UMT5_FINAL_NORM, last.dtype));
    opts.progress?.((done += bytes(UMT5_FINAL_NORM)), total);
  } catch (e) {
    for (const p of parts) p.free();
    throw e;
  }
  return parts.length === 1 ? parts[0] : new Umt5LayerSplit(parts);
}

/**
 * Rows `ids` of the token embedding, read one row at a time from the file ([ids.length, d_model] f32): the
 * only part of the table that is ever read. Ids outside the table are an error naming the id and the table.
 */
export async function gatherEmbeddingRows(ck: Checkpoint, cfg: Umt5Config, ids: ArrayLike<number>): Promise<Float32Array> {
  const name = embeddingName(ck);
  const info = ck.info(name);
  const [V, d] = info.shape;
  if (d !== cfg.dModel) throw new Error(`${info.source.name}: tensor "${name}" has rows of ${d}, expected d_model ${cfg.dModel}`);
  const rowBytes = d * (info.dtype === "F32" ? 4 : 2);
  const out = new Float32Array(ids.length * d);
  const cache = new Map<number, Float32Array>();
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= V) throw new Error(`${info.source.name}: token id ${id} is outside the embedding table "${name}" [${V}, ${d}] (tokenizer and text encoder do not match)`);
    let row = cache.get(id);
    if (!row) {
      row = decodeToF32(info.dtype, await info.source.read(info.begin + id * rowBytes, rowBytes));
      cache.set(id, row);
    }
    out.set(row, i * d);
  }
  return out;
}
