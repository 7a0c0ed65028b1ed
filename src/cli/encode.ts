// `shardit encode --model DIR|URL|HUB_ID --prompt TEXT --out FILE`: the prompt through Wan's umT5 text encoder
// (tokenizer/ and text_encoder/ of the pipeline folder), written as what `generate --text` reads:
// prompt_embeds [1, 512, d_model] F32 (rows from seq_len on zero, as WanPipeline makes them), input_ids and
// attention_mask [1, 512] I64 (so the tokenizer can be checked against Python's). generate --prompt with
// --model runs the same code (encodeWithPipeline). Encoded rows are cached on disk under
// <cache>/umt5-embeddings/ by the checkpoint's revision, the cleaned prompt and the length, bounded (1 GiB,
// 256 prompts; the least recently used removed first).
import { type CommandSpec, int, parseCommand, str, UsageError } from "./args.ts";
import { onInterrupt } from "./interrupt.ts";
import { OutputSet } from "../io/atomic_output.ts";
import { downloadProgress, progressBar } from "./progress.ts";
import { defaultCacheDir, denoFolder } from "../deno.ts";
import type { Gpu } from "../gpu/device.ts";
import { createPlacedGpus, placeDevices } from "../platform/deno_gpus.ts";
import { cachedUrlFolder, hubFolder } from "../io/hub_deno.ts";
import { parseHubId } from "../io/hub.ts";
import type { FolderSource } from "../io/model_folder.ts";
import { type EmbeddingCache, encodePrompts, openTextEncoder, type PromptEmbedding } from "../loaders/umt5_pipeline.ts";
import { UMT5_GEMM_PATHS, type Umt5GemmPath, type Umt5Precision, UMT5_PRECISIONS } from "../model/umt5.ts";

/** encode's flags: the parser accepts exactly these rows and `shardit encode --help` prints them. */
export const SPEC: CommandSpec = {
  name: "encode",
  summary: "a prompt through Wan's umT5 text encoder (the pipeline's tokenizer/ and text_encoder/): what generate --text reads",
  flags: [
    { name: "model", value: "DIR|URL|HUB_ID", required: true, help: "a diffusers Wan pipeline (tokenizer/ and text_encoder/ beside transformer/)" },
    { name: "prompt", value: "TEXT", required: true, help: `the prompt ("" is the empty prompt, what the negative prompt usually is)` },
    { name: "out", value: "FILE.safetensors", required: true, help: "prompt_embeds [1, L, d_model] F32 (rows from seq_len on zero), input_ids and attention_mask [1, L] I64" },
    { name: "max-length", value: "L", default: "512", help: "WanPipeline's max_sequence_length: longer prompts are truncated (with a warning)" },
    { name: "precision", value: "f32|w16|w8|f16", default: "f32", help: "f32; w16: f16 weights (half the memory), f32 activations; w8: int8 weights, one scale per output channel (a quarter); f16: all (umT5-XXL's residual stream may overflow it)" },
    { name: "gemm", value: "auto|scalar|matrix", default: "auto", help: "where w16 / w8 linears run: matrix (the matrix units; activations split into f16 hi + lo, f32 accuracy), scalar (f32 FMA), auto: matrix where the device has subgroup matrices" },
    { name: "devices", value: "N", default: "1", help: "split the encoder's layers over N WebGPU devices (contiguous ranges, each device holds its share; the residual stream goes through the host): where one device is short of memory" },
    { name: "gpus", value: "auto|ID,...", help: "with --devices N (Dawn, Deno on Linux): device i on the host's GPU ids[i % n] (PCI ids as DRI_PRIME takes them, e.g. pci-0000_00_06_0; auto: round-robin over the host's GPUs)" },
    { name: "cache", default: "on", help: "reuse embeddings encoded before with the same checkpoint, cleaned prompt and length (<cache>/umt5-embeddings; past 1 GiB or 256 prompts the least recently used go)" },
  ],
  examples: [
    `npx shardit encode --model Wan-AI/Wan2.1-T2V-1.3B-Diffusers --prompt "a cat walks on the grass, realistic" --out prompt.safetensors`,
  ],
};

/** The root of the pipeline `arg` names: a local folder, an http(s) URL or a Hub id (downloaded through the cache). */
export async function pipelineRoot(arg: string, cacheDir = defaultCacheDir()): Promise<FolderSource> {
  const local = await Deno.stat(arg).catch(() => null);
  if (local?.isDirectory) return denoFolder(arg);
  if (local) throw new Error(`${arg}: is a file; --model takes a pipeline folder (tokenizer/, text_encoder/, transformer/), a URL or a Hub id`);
  const progress = downloadProgress();
  if (/^https?:\/\//.test(arg)) return cachedUrlFolder(arg.replace(/\/$/, ""), { cacheDir, progress });
  const repo = parseHubId(arg);
  if (!repo) throw new Error(`${arg}: no such folder, and not a Hub id (owner/name[@revision]) or an http(s) URL`);
  return hubFolder(repo, { cacheDir, progress });
}

/** The disk cache's bound: past either, the least recently used files go (a 512-token umT5-XXL prompt is 8 MiB). */
export interface EmbeddingCacheBound {
  maxBytes: number;
  maxEntries: number;
}
export const EMBEDDING_CACHE_BOUND: EmbeddingCacheBound = { maxBytes: 2 ** 30, maxEntries: 256 };

// A file's mtime is its last use (get touches it, put writes it). Strictly increasing within a process, so
// that two uses in the same millisecond still order; across processes the wall clock orders them.
let useClock = 0;
const nextUse = () => new Date(useClock = Math.max(Date.now(), useClock + 1));

/**
 * Encoded rows on disk: <dir>/<key>.f32 (raw little-endian f32, [seq_len, d_model]), least-recently-used
 * files removed after each put while the folder holds more than bound.maxBytes or bound.maxEntries (the file
 * just written stays, even alone over the bound).
 */
export function diskEmbeddingCache(dir: string, bound: EmbeddingCacheBound = EMBEDDING_CACHE_BOUND): EmbeddingCache {
  const evict = async (keep: string) => {
    const files: { name: string; size: number; used: number }[] = [];
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !e.name.endsWith(".f32")) continue;
      const st = await Deno.stat(`${dir}/${e.name}`).catch(() => null); // another process may have removed it
      if (st) files.push({ name: e.name, size: st.size, used: st.mtime?.getTime() ?? 0 });
    }
    files.sort((a, b) => a.used - b.used);
    let bytes = files.reduce((n, f) => n + f.size, 0), count = files.length;
    for (const f of files) {
      if (bytes <= bound.maxBytes && count <= bound.maxEntries) break;
      if (f.name === keep) continue;
      await Deno.remove(`${dir}/${f.name}`).catch(() => {});
      bytes -= f.size;
      count--;
    }
  };
  return {
    async get(key) {
      const path = `${dir}/${key}.f32`;
      const bytes = await Deno.readFile(path).catch(() => null);
      if (!bytes || bytes.length % 4 !== 0) return null;
      const t = nextUse();
      await Deno.utime(path, t, t).catch(() => {});
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
    },
    async put(key, rows) {
      await Deno.mkdir(dir, { recursive: true });
      const tmp = `${dir}/${key}.partial-${Deno.pid}`;
      await Deno.writeFile(tmp, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
      const t = nextUse();
      await Deno.utime(tmp, t, t);
      await Deno.rename(tmp, `${dir}/${key}.f32`);
      await evict(`${key}.f32`);
    },
  };
}

export interface PipelineEncodeOptions {
  maxLength?: number;
  precision?: Umt5Precision;
  gemm?: Umt5GemmPath;
  /** false: no disk cache */
  cache?: boolean;
  /** Split the encoder's layers over this many devices of this thread (default 1: one device). */
  devices?: number;
  /** Where those devices go: --gpus' value (placeDevices; needs Dawn). */
  gpus?: string;
  cacheDir?: string;
}

/** Prompts -> embeddings through the pipeline at `modelArg` (the encoder loaded once, freed after). */
export async function encodeWithPipeline(modelArg: string, prompts: string[], opts: PipelineEncodeOptions = {}): Promise<{ d: number; out: PromptEmbedding[] }> {
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const te = await openTextEncoder(await pipelineRoot(modelArg, cacheDir));
  let bar: ((d: number, t: number) => void) | null = null;
  // --devices N: the layer split over N devices of this thread, each placed by --gpus (one device: encodePrompts' own)
  const devices = opts.devices ?? 1;
  const gpus: Gpu[] = devices > 1 || opts.gpus ? await createPlacedGpus(placeDevices(opts.gpus, devices), "umt5") : [];
  if (gpus.length > 1) console.log(`umT5 layers over ${gpus.length} devices: ${gpus.map((g) => `${g.label} [${g.implementation}: ${g.describe().adapter}]`).join(", ")}`);
  try {
    const out = await encodePrompts(te, prompts, {
      gpus: gpus.length ? gpus : undefined,
      maxLength: opts.maxLength,
      precision: opts.precision,
      gemm: { gemm: opts.gemm },
      cache: opts.cache === false ? undefined : diskEmbeddingCache(`${cacheDir}/umt5-embeddings`),
      onWarning: (line) => console.error(`shardit: ${line}`),
      onProgress: (done, total) => total > 2 ** 26 && (bar ??= progressBar(`loading the text encoder ${te.name}`))(done, total),
    });
    return { d: te.config.dModel, out };
  } finally {
    for (const g of gpus) g.destroy();
  }
}

/**
 * generate --model DIR --prompt: the prompt (and the negative prompt, when not null) as the transformer's text
 * input [512, text_dim], 512 rows as WanPipeline passes them (the rows past seq_len are zero).
 */
export async function encodeForModel(
  modelArg: string, prompt: string, negative: string | null, textDim: number, precision: Umt5Precision = "f32", gemm: Umt5GemmPath = "auto",
  place: { devices?: number; gpus?: string } = {},
): Promise<{ text: { text: Float32Array; tokens: number }; negative: { text: Float32Array; tokens: number } | null }> {
  const { d, out } = await encodeWithPipeline(modelArg, negative === null ? [prompt] : [prompt, negative], { precision, gemm, ...place });
  if (d !== textDim) throw new Error(`${modelArg}: the text encoder's d_model is ${d}, the transformer's text_dim is ${textDim}`);
  const rows = (e: PromptEmbedding) => ({ text: e.embeds, tokens: e.maxLength });
  for (const [i, e] of out.entries()) console.log(`${i ? "negative prompt" : "prompt"}: ${e.seqLen} umT5 tokens${e.cached ? " (embeddings from the cache)" : ""}`);
  return { text: rows(out[0]), negative: out[1] ? rows(out[1]) : null };
}

/** A safetensors file of F32 and I64 tensors (encodeSafetensors writes float types only). */
export function embeddingFile(e: PromptEmbedding, d: number): Uint8Array {
  const L = e.maxLength;
  const i64 = (a: Int32Array) => {
    const b = new BigInt64Array(a.length);
    a.forEach((v, i) => (b[i] = BigInt(v)));
    return new Uint8Array(b.buffer);
  };
  const parts: [string, string, number[], Uint8Array][] = [
    ["prompt_embeds", "F32", [1, L, d], new Uint8Array(e.embeds.buffer, e.embeds.byteOffset, e.embeds.byteLength)],
    ["input_ids", "I64", [1, L], i64(e.inputIds)],
    ["attention_mask", "I64", [1, L], i64(e.attentionMask)],
  ];
  const header: Record<string, unknown> = { __metadata__: { format: "pt", producer: "shardit encode", seq_len: String(e.seqLen), prompt: e.cleaned } };
  let at = 0;
  for (const [name, dtype, shape, bytes] of parts) {
    header[name] = { dtype, shape, data_offsets: [at, at + bytes.length] };
    at += bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  json = new TextEncoder().encode(JSON.stringify(header) + " ".repeat(pad));
  const out = new Uint8Array(8 + json.length + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let o = 8 + json.length;
  for (const [, , , bytes] of parts) {
    out.set(bytes, o);
    o += bytes.length;
  }
  return out;
}

export async function encodeCommand(argv: string[]): Promise<number> {
  const p = parseCommand(SPEC, argv);
  const model = str(p, "model"), outPath = str(p, "out");
  const prompt = p.flags.get("prompt");
  if (typeof prompt !== "string") throw new UsageError(`encode: --prompt TEXT is required (--prompt "" encodes the empty prompt)`);
  const maxLength = Number(str(p, "max-length", "512"));
  if (!Number.isInteger(maxLength) || maxLength < 1 || maxLength > 512) throw new UsageError(`--max-length must be an integer in [1, 512], got ${p.flags.get("max-length")}`);
  const precision = str(p, "precision", "f32") as Umt5Precision;
  if (!UMT5_PRECISIONS.includes(precision)) throw new UsageError(`--precision must be one of ${UMT5_PRECISIONS.join(", ")}, got ${precision}`);
  const gemm = str(p, "gemm", "auto") as Umt5GemmPath;
  if (!UMT5_GEMM_PATHS.includes(gemm)) throw new UsageError(`--gemm must be one of ${UMT5_GEMM_PATHS.join(", ")}, got ${gemm}`);
  const cache = str(p, "cache", "on");
  if (cache !== "on" && cache !== "off") throw new UsageError(`--cache must be on or off, got ${cache}`);
  if (!outPath.endsWith(".safetensors")) throw new UsageError(`--out must end in .safetensors, got ${outPath}`);
  const devices = int(p, "devices", 1), gpus = p.flags.get("gpus");
  if (gpus !== undefined && typeof gpus !== "string") throw new UsageError("--gpus takes auto or a list of PCI ids");
  // --out checked, locked and staged before the encoder loads, renamed into place at the end (issue 20: a
  // missing folder or a folder named like the file was found only after the encode); Ctrl-C, SIGTERM or SIGHUP
  // stops the run and changes nothing (exit 130).
  const outputs = OutputSet.open([{ flag: "--out", path: outPath, kind: "file" }]);
  const stopListening = onInterrupt((_count, why) => {
    if (outputs.isCommitting || outputs.isDone) return;
    outputs.close();
    console.error(`encode cancelled (${why}); nothing written`);
    Deno.exit(130);
  });
  try {
    const t0 = performance.now();
    const { d, out } = await encodeWithPipeline(model, [prompt], { maxLength, precision, gemm, cache: cache === "on", devices, gpus });
    const e = out[0];
    await outputs.write(outPath, embeddingFile(e, d));
    outputs.commit();
    console.log(`${outPath}: prompt_embeds [1, ${maxLength}, ${d}] (${e.seqLen} tokens${e.cached ? ", from the cache" : ""}), input_ids, attention_mask; ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } finally {
    outputs.close(); // first: once the listeners go, Deno restores the signals' default (src/cli/interrupt.ts)
    stopListening();
  }
}
