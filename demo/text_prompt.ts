// A prompt for a real checkpoint in the demo: the pipeline's umT5 (tokenizer/ and text_encoder/ beside
// transformer/, from a folder picked from disk, a URL or a Hub id) through the library's encodePrompts,
// with the memory the run will need shown first. The encoder is loaded on a WebGPU device of its own, run
// over the prompt's tokens and freed before the workers take the DiT; a second run with the same prompts
// reads the rows from an in-memory cache. State for tests is published on window.__shardit_prompt.
import {
  type DType, encodePrompts, type Grid3, memoryEmbeddingCache, type ModelSource, openModel, openModelFolder, openTextEncoder, parseWanVaeConfig, pipelineFolder,
  promptClean, type TextEncoderSource, tokenGridFromLatent, type Umt5Precision,
} from "../src/index.ts";
import type { LoadProgress, PromptEmbeddings } from "./model_source.ts";

/** Bytes the run needs, by stage (each stage's device memory is freed before the next one's is taken). */
export interface MemoryPlan {
  /** On the encoder's device: its weights at the chosen precision (the embedding table stays on the host: its rows are gathered there). */
  textEncoder: { precision: Umt5Precision; weights: number; activations: number; tokens: number };
  /** On each worker: the DiT's weights at the workers' precision and the activations of its share of tokens. */
  transformer: { precision: DType; weights: number; activations: number; tokens: number; devices: number };
  /** On each worker that decodes: the VAE's weights in f32 (decode activations depend on the band: the Video panel). */
  vae: { weights: number } | null;
  /** The largest of the stages on one device. */
  peak: number;
}

interface PromptPanelState {
  memory: MemoryPlan | null;
  /** Per prompt (prompt, then the negative): umT5 tokens and ids, and whether the rows came from the cache. */
  prompts: { seqLen: number; inputIds: number[]; cached: boolean }[];
}
declare global {
  interface Window { __shardit_prompt: PromptPanelState }
}
const panel: PromptPanelState = { memory: null, prompts: [] };
globalThis.window && (window.__shardit_prompt = panel);

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const EMBEDDING = /(^|\.)(shared|embed_tokens)\.weight$/;
const UMT5_BYTES: Record<Umt5Precision, number> = { f32: 4, w16: 2, f16: 2, w8: 1 };

/** Weight bytes of the umT5 encoder on the GPU: matrices at `precision` (w8 adds an f32 scale per output row), the rest f32. */
function textEncoderBytes(te: TextEncoderSource, precision: Umt5Precision): number {
  let bytes = 0;
  for (const name of te.checkpoint.names()) {
    if (EMBEDDING.test(name)) continue;
    const shape = te.checkpoint.info(name).shape;
    bytes += shape.length === 2 ? numel(shape) * UMT5_BYTES[precision] + (precision === "w8" ? shape[0] * 4 : 0) : numel(shape) * 4;
  }
  return bytes;
}

/**
 * umT5's activations over L tokens, f32: the residual stream, its norm and output (3 d), q, k, v and the
 * attention output (4 inner), the two gated feed-forward halves (2 d_ff), and the scores [heads, L, L].
 */
function textEncoderActivations(te: TextEncoderSource, L: number): number {
  const c = te.config, inner = c.heads * c.dKv;
  return 4 * L * (3 * c.dModel + 4 * inner + 2 * c.dFf) + 4 * c.heads * L * L;
}

export const fmtBytes = (n: number) => n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;

export interface CheckpointTextOptions {
  prompt: string;
  negative: string;
  needNegative: boolean;
  textPrecision: Umt5Precision;
  /** The workers' settings, for the DiT's share. */
  precision: DType;
  devices: number;
  latent: Grid3;
}

const cache = memoryEmbeddingCache(16);

/** What the memory plan says, in one line. */
export function memoryLine(m: MemoryPlan): string {
  const t = m.textEncoder, d = m.transformer;
  return [
    `text encoder (${t.precision}, ${t.tokens} tokens): ${fmtBytes(t.weights)} weights + ${fmtBytes(t.activations)} activations, freed before the DiT`,
    `DiT per device (${d.precision}, ${d.tokens} tokens on ${d.devices}): ${fmtBytes(d.weights)} weights + ${fmtBytes(d.activations)} activations`,
    m.vae ? `VAE per device: ${fmtBytes(m.vae.weights)} weights (+ the decode band's activations)` : "VAE: the pipeline has no vae/ (the Video panel's choice)",
    `peak on one device ≈ ${fmtBytes(m.peak)}`,
  ].join(" · ");
}

/**
 * The prompt (and the negative prompt when needNegative) through the pipeline `source` names: opens its
 * tokenizer/, text_encoder/, transformer/ and vae/ headers, calls `onMemory` with what the run will need
 * before any weight is read, then encodes. Returns [512, d_model] rows each (as WanPipeline passes them).
 */
export async function encodeCheckpointPrompts(
  source: ModelSource, o: CheckpointTextOptions, onMemory: (m: MemoryPlan) => void, onPhase: (phase: string) => void, progress: LoadProgress,
): Promise<PromptEmbeddings> {
  panel.memory = null;
  panel.prompts = [];
  if (typeof source === "string" ? !source : Array.from(source as ArrayLike<unknown>).length === 0) {
    throw new Error("pick the pipeline folder (tokenizer/, text_encoder/, transformer/, vae/) or enter its URL or Hub id, or pick prompt embeddings files");
  }
  onPhase("opening the pipeline's text encoder, transformer and VAE headers");
  const dl = { onProgress: progress };
  const root = pipelineFolder(source, dl);
  const te = await openTextEncoder(root);
  const dit = await openModel(source, dl);
  const vae = await openModelFolder(root.sub("vae"), parseWanVaeConfig).catch(() => null);
  if (te.config.dModel !== dit.config.textDim) throw new Error(`${te.name}: the text encoder's d_model is ${te.config.dModel}, the transformer's text_dim is ${dit.config.textDim}`);
  const prompts = o.needNegative ? [o.prompt, o.negative] : [o.prompt];
  const L = Math.max(...prompts.map((p) => te.tokenizer.tokenize(promptClean(p)).seqLen));
  const grid = tokenGridFromLatent(o.latent);
  const tokens = grid.F * grid.H * grid.W, share = Math.ceil(tokens / o.devices), c = dit.config;
  const ditWeights = dit.checkpoint.names().reduce((n, name) => n + numel(dit.checkpoint.info(name).shape), 0) * (o.precision === "f16" ? 2 : 4);
  // Per worker, f32: its share's stream, norm, q, k, v, attention output and FFN hidden; the whole sequence's
  // k and v (sequence mode gathers them); the text's cross-attention k and v (512 rows).
  const ditActs = 4 * share * (6 * c.dim + c.ffnDim) + 4 * 2 * tokens * c.dim + 4 * 2 * 512 * c.dim;
  const vaeWeights = vae ? vae.checkpoint.names().reduce((n, name) => n + numel(vae.checkpoint.info(name).shape), 0) * 4 : 0;
  vae?.checkpoint.close();
  dit.checkpoint.close();
  const teW = textEncoderBytes(te, o.textPrecision), teA = textEncoderActivations(te, L);
  const memory: MemoryPlan = {
    textEncoder: { precision: o.textPrecision, weights: teW, activations: teA, tokens: L },
    transformer: { precision: o.precision, weights: ditWeights, activations: ditActs, tokens: share, devices: o.devices },
    vae: vae ? { weights: vaeWeights } : null,
    peak: Math.max(teW + teA, ditWeights + ditActs, vaeWeights),
  };
  panel.memory = memory;
  onMemory(memory);
  onPhase(`encoding the prompt${prompts.length > 1 ? " and the negative prompt" : ""} with umT5 (${o.textPrecision})`);
  const out = await encodePrompts(te, prompts, { precision: o.textPrecision, cache, onProgress: (done, total) => progress("loading the text encoder", done, total) });
  panel.prompts = out.map((e) => ({ seqLen: e.seqLen, inputIds: Array.from(e.inputIds.subarray(0, e.seqLen)), cached: e.cached }));
  const [p, n] = out;
  return { text: p.embeds, textTokens: p.maxLength, negativeText: n?.embeds ?? null, negativeTokens: n?.maxLength ?? 0 };
}
