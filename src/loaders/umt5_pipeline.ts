// Prompt -> umT5 embeddings from a diffusers Wan pipeline folder (tokenizer/ and text_encoder/ beside
// transformer/), as WanPipeline's encode_prompt does it: prompt_clean, the tokenizer padded / truncated to
// max_sequence_length (512), the encoder over the prompt's seq_len tokens, the first seq_len rows kept and the
// rest zero up to 512. The encoder is loaded, run and freed here, before the DiT needs the memory; an
// EmbeddingCache skips it for prompts already encoded with the same checkpoint and length.
import { Gpu } from "../gpu/device.ts";
import { type FolderSource, openModelFolder, readFolderJson } from "../io/model_folder.ts";
import type { Checkpoint } from "../io/safetensors.ts";
import type { Umt5Config, Umt5GemmOptions, Umt5Precision } from "../model/umt5.ts";
import { promptClean } from "../text/prompt_clean.ts";
import { MAX_SEQUENCE_LENGTH, Umt5Tokenizer } from "../text/tokenizer.ts";
import { gatherEmbeddingRows, loadUmt5Encoder, parseUmt5Config, UMT5_FINAL_NORM } from "./umt5.ts";

/** A pipeline's text encoder, opened: tokenizer read, config checked, the weights' headers validated. */
export interface TextEncoderSource {
  /** Where it is, for messages. */
  name: string;
  tokenizer: Umt5Tokenizer;
  config: Umt5Config;
  checkpoint: Checkpoint;
  /** What the embeddings depend on besides the prompt (config, tokenizer, weight files): the cache key's part. */
  revision: string;
}

const LAYOUT = "a Wan pipeline folder has tokenizer/ (tokenizer.json) and text_encoder/ (config.json + safetensors) beside transformer/";

async function sha256Hex(parts: (Uint8Array | string)[]): Promise<string> {
  const enc = new TextEncoder();
  const chunks = parts.map((p) => (typeof p === "string" ? enc.encode(p) : p));
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length + 1, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length + 1; // a 0 between parts
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readBytesOf(folder: FolderSource, name: string): Promise<Uint8Array | null> {
  const src = await folder.open(name);
  if (!src) return null;
  try {
    return await src.read(0, src.size);
  } finally {
    src.close?.();
  }
}

/** Opens root/tokenizer and root/text_encoder; errors name the missing folder or file, and a vocabulary mismatch. */
export async function openTextEncoder(root: FolderSource): Promise<TextEncoderSource> {
  const tokDir = root.sub("tokenizer"), teDir = root.sub("text_encoder");
  const tokBytes = await readBytesOf(tokDir, "tokenizer.json");
  if (!tokBytes) throw new Error(`${tokDir.locate("tokenizer.json")}: not found (${LAYOUT})${root.context}`);
  const tokJson = JSON.parse(new TextDecoder().decode(tokBytes));
  const tokConfig = await readFolderJson(tokDir, "tokenizer_config.json");
  const tokenizer = new Umt5Tokenizer(tokJson, tokConfig ?? {}, tokDir.locate("tokenizer.json"));
  const teConfigJson = await readFolderJson(teDir, "config.json");
  if (teConfigJson === null) throw new Error(`${teDir.locate("config.json")}: not found (${LAYOUT})${root.context}`);
  const { config, checkpoint } = await openModelFolder(teDir, parseUmt5Config);
  if (tokenizer.vocabSize > config.vocabSize) {
    throw new Error(`${tokDir.locate("tokenizer.json")} has ids up to ${tokenizer.vocabSize - 1}, but ${teDir.locate("config.json")} has vocab_size ${config.vocabSize}: the tokenizer does not belong to this text encoder`);
  }
  const files = checkpoint.files.map((f) => `${f.source.name.split("/").pop()}:${f.source.size}`);
  const revision = await sha256Hex([JSON.stringify(teConfigJson), tokBytes, ...files, await checkpoint.readBytes(UMT5_FINAL_NORM)]);
  return { name: teDir.label, tokenizer, config, checkpoint, revision };
}

/** One prompt's embeddings as WanPipeline makes them (what `--text` reads). */
export interface PromptEmbedding {
  /** The prompt after prompt_clean (what was tokenized). */
  cleaned: string;
  /** [maxLength, d_model]: the encoder's first seqLen rows, then zeros. */
  embeds: Float32Array;
  /** [maxLength] */
  inputIds: Int32Array;
  /** [maxLength] */
  attentionMask: Int32Array;
  seqLen: number;
  /** Tokens of the whole prompt: over maxLength means it was truncated. */
  fullLength: number;
  maxLength: number;
  /** Whether the rows came from the cache. */
  cached: boolean;
}

/** Encoded rows [seqLen, d] by key (a revision, the length, the precision and the cleaned prompt). */
export interface EmbeddingCache {
  get(key: string): Promise<Float32Array | null>;
  put(key: string, rows: Float32Array): Promise<void>;
}

/**
 * An EmbeddingCache in memory (a page, a library user; the CLI keeps one on disk) holding at most maxEntries
 * prompts, the least recently used dropped first (a Map iterates in insertion order: a use re-inserts).
 */
export function memoryEmbeddingCache(maxEntries = 64): EmbeddingCache {
  const m = new Map<string, Float32Array>();
  return {
    get(k) {
      const v = m.get(k);
      if (v === undefined) return Promise.resolve(null);
      m.delete(k);
      m.set(k, v);
      return Promise.resolve(v);
    },
    put(k, v) {
      m.delete(k);
      m.set(k, v.slice());
      for (const old of m.keys()) {
        if (m.size <= maxEntries) break;
        m.delete(old);
      }
      return Promise.resolve();
    },
  };
}

export interface EncodeOptions {
  /** Device to encode on (default: a fresh Gpu, destroyed afterwards). */
  gpu?: Gpu;
  /** Devices to split the encoder's layers over (each holds its contiguous share; the stream passes through the host). */
  gpus?: readonly Gpu[];
  /** WanPipeline's max_sequence_length (default 512). */
  maxLength?: number;
  /** f32 (default), w16 (f16 weights, f32 activations: half the memory) or f16 (T5-XXL's residual stream overflows it). */
  precision?: Umt5Precision;
  /** Where w16 / w8 linears run (default auto: the matrix units where the device has them; Umt5GemmPath). */
  gemm?: Umt5GemmOptions;
  cache?: EmbeddingCache;
  /** Told once per prompt that was truncated (one line). */
  onWarning?: (line: string) => void;
  /** Loading the encoder: tensors done of total. */
  onProgress?: (done: number, total: number) => void;
}

export async function embeddingKey(te: TextEncoderSource, cleaned: string, maxLength: number, precision: Umt5Precision): Promise<string> {
  return await sha256Hex([te.revision, String(maxLength), precision, cleaned]);
}

/**
 * Each prompt through prompt_clean, the tokenizer and the encoder (loaded once for all prompts not in the
 * cache, then freed). An empty prompt is allowed (it is [</s>], what the negative prompt usually is).
 */
export async function encodePrompts(te: TextEncoderSource, prompts: readonly string[], opts: EncodeOptions = {}): Promise<PromptEmbedding[]> {
  const maxLength = opts.maxLength ?? MAX_SEQUENCE_LENGTH;
  const d = te.config.dModel;
  const out: PromptEmbedding[] = [];
  const todo: { i: number; key: string }[] = [];
  for (const [i, p] of prompts.entries()) {
    const cleaned = promptClean(p);
    const t = te.tokenizer.tokenize(cleaned, maxLength);
    if (t.fullLength > maxLength) {
      opts.onWarning?.(`the prompt is ${t.fullLength} tokens; umT5 reads the first ${maxLength} (${t.seqLen - 1} and </s>), the rest is dropped, as in diffusers' WanPipeline`);
    }
    const key = await embeddingKey(te, cleaned, maxLength, opts.precision ?? "f32");
    const rows = await opts.cache?.get(key) ?? null;
    const embeds = new Float32Array(maxLength * d);
    if (rows && rows.length === t.seqLen * d) embeds.set(rows);
    else todo.push({ i, key });
    out.push({ cleaned, embeds, inputIds: t.inputIds, attentionMask: t.attentionMask, seqLen: t.seqLen, fullLength: t.fullLength, maxLength, cached: todo.at(-1)?.i !== i });
  }
  if (todo.length === 0) return out;
  const own = !opts.gpu && !opts.gpus?.length;
  const gpu = opts.gpus?.length ? opts.gpus : opts.gpu ?? await Gpu.create({ label: "umt5" });
  try {
    const enc = await loadUmt5Encoder(gpu, te.checkpoint, te.config, te.name, { precision: opts.precision, gemm: opts.gemm, progress: opts.onProgress });
    try {
      for (const { i, key } of todo) {
        const e = out[i];
        const x = await gatherEmbeddingRows(te.checkpoint, te.config, e.inputIds.subarray(0, e.seqLen));
        const rows = await enc.encode(x);
        const bad = rows.findIndex((v) => !Number.isFinite(v));
        if (bad >= 0) {
          throw new Error(`${te.name}: the encoder's output row ${Math.floor(bad / d)} of prompt ${i} is not finite (${rows[bad]}) in ${opts.precision ?? "f32"}${opts.precision === "f16" ? ": umT5-XXL's residual stream overflows f16, use f32" : ""}`);
        }
        e.embeds.set(rows);
        await opts.cache?.put(key, rows);
      }
    } finally {
      enc.free();
    }
  } finally {
    if (own) (gpu as Gpu).destroy();
  }
  return out;
}
