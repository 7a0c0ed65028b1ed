// Where the demo's model comes from: the embedded default (nothing downloaded), a diffusers checkpoint
// folder picked from disk, or the URL of such a folder. Downloads go through the Cache API (keyed by
// URL), so a second visit reads them from the browser's cache; progress is reported in bytes.
import { readPromptEmbeddings } from "../src/model/inputs.ts";
import { bytesSource, type ByteSource, Checkpoint, fileObjectSource, urlSource } from "../src/io/safetensors.ts";
import { loadWanWeights, type WanWeights } from "../src/model/checkpoint.ts";
import { parseWanConfig, type WanConfig } from "../src/model/config.ts";
import { EMBEDDED_LATENT, embeddedModel } from "../src/model/embedded.ts";

export interface Latent {
  F: number;
  H: number;
  W: number;
}

export interface LoadedModel {
  /** Identifies the weights (pools holding them can be reused while it is unchanged). */
  id: string;
  name: string;
  config: WanConfig;
  weights: WanWeights;
}

export interface PromptEmbeddings {
  text: Float32Array;
  textTokens: number;
  negativeText: Float32Array | null;
  negativeTokens: number;
}

/** (what is happening, bytes done, bytes total; total 0 when unknown). */
export type LoadProgress = (label: string, done: number, total: number) => void;

/** diffusers' and our own single-file weight names, tried in this order. */
const WEIGHT_FILES = ["diffusion_pytorch_model.safetensors", "model.safetensors"];
const INDEX_FILES = WEIGHT_FILES.map((f) => `${f}.index.json`);
/** The latent of a 480p, 81-frame video (as the CLI's default for real checkpoints). */
export const CHECKPOINT_LATENT: Latent = { F: 21, H: 60, W: 104 };
const CACHE_NAME = "shardit-models-v1";

// ---------------------------------------------------------------------------------------------
// Embedded

let embedded: ReturnType<typeof embeddedModel> | null = null;

export function loadEmbedded(): { model: LoadedModel; prompts: PromptEmbeddings; latent: Latent } {
  embedded ??= embeddedModel();
  const e = embedded;
  return {
    model: { id: "embedded", name: e.name, config: e.config, weights: e.weights },
    prompts: { text: e.text, textTokens: e.textTokens, negativeText: e.negativeText, negativeTokens: e.textTokens },
    latent: { ...EMBEDDED_LATENT },
  };
}

// ---------------------------------------------------------------------------------------------
// A folder picked with <input type=file webkitdirectory>

const dirOf = (f: File) => {
  const p = f.webkitRelativePath || f.name;
  return p.slice(0, p.lastIndexOf("/") + 1);
};

/** Picks the model folder among the picked files: the one holding config.json and weights (transformer/ preferred). */
export function pickModelFolder(files: readonly File[]): { dir: string; files: Map<string, File> } {
  if (files.length === 0) throw new Error("no folder picked: choose the checkpoint folder (config.json + *.safetensors)");
  const byDir = new Map<string, Map<string, File>>();
  for (const f of files) {
    const d = dirOf(f);
    if (!byDir.has(d)) byDir.set(d, new Map());
    byDir.get(d)!.set(f.name, f);
  }
  const candidates = [...byDir.entries()].filter(([, m]) => m.has("config.json") && [...m.keys()].some((n) => n.endsWith(".safetensors")));
  if (candidates.length === 0) {
    const names = files.slice(0, 8).map((f) => f.webkitRelativePath || f.name).join(", ");
    throw new Error(`the picked folder has no config.json beside .safetensors weights (found ${names}${files.length > 8 ? ", ..." : ""})`);
  }
  const pick = candidates.find(([d]) => /(^|\/)transformer\/$/.test(d)) ?? candidates[0];
  if (candidates.length > 1 && !/(^|\/)transformer\/$/.test(pick[0])) {
    throw new Error(`the picked folder holds several checkpoints (${candidates.map(([d]) => d || "./").join(", ")}): pick one of them`);
  }
  return { dir: pick[0], files: pick[1] };
}

export async function loadFolder(picked: readonly File[], progress: LoadProgress): Promise<{ model: LoadedModel; latent: Latent }> {
  const { dir, files } = pickModelFolder(picked);
  const label = dir || files.get("config.json")!.name;
  const config = parseWanConfig(await readJson(fileObjectSource(files.get("config.json")!), `${label}config.json`), `${label}config.json`);
  const names = [...files.keys()];
  const indexes = names.filter((n) => n.endsWith(".safetensors.index.json"));
  let ckpt: Checkpoint;
  if (indexes.length > 1) throw new Error(`${label}: more than one index json (${indexes.join(", ")}); expected one`);
  if (indexes.length === 1) {
    const index = fileObjectSource(files.get(indexes[0])!);
    const wanted = shardNames(await readJson(index, indexes[0]), indexes[0]);
    const missing = wanted.filter((f) => !files.has(f));
    if (missing.length) throw new Error(`${label}: index ${indexes[0]} names ${missing.join(", ")}, not in the folder`);
    ckpt = await Checkpoint.open(wanted.map((f) => fileObjectSource(files.get(f)!)), index);
  } else {
    const all = names.filter((n) => n.endsWith(".safetensors"));
    const known = all.filter((n) => WEIGHT_FILES.includes(n));
    const use = known.length === 1 ? known : all;
    if (use.length !== 1) throw new Error(`${label}: expected one .safetensors file or an index json, found ${all.join(", ")}`);
    ckpt = await Checkpoint.open([fileObjectSource(files.get(use[0])!)]);
  }
  const weights = await loadWanWeights(ckpt, config, (d, t) => progress("reading weights", d, t));
  const id = `folder:${label}:${[...files.values()].map((f) => `${f.name}/${f.size}/${f.lastModified}`).join(",")}`;
  return { model: { id, name: label.replace(/\/$/, "") || "picked folder", config, weights }, latent: { ...CHECKPOINT_LATENT } };
}

// ---------------------------------------------------------------------------------------------
// A folder URL, downloads cached with the Cache API

async function openCache(): Promise<Cache | null> {
  try {
    return typeof caches !== "undefined" ? await caches.open(CACHE_NAME) : null;
  } catch {
    return null; // e.g. an insecure context or storage disabled: download without caching
  }
}

/** GETs `url` whole (cache first), reporting bytes; null on 404 when `optional`. */
async function cachedBytes(cache: Cache | null, url: string, progress: LoadProgress, optional = false): Promise<Blob | null> {
  const hit = await cache?.match(url);
  if (hit) return await hit.blob();
  const res = await fetch(url);
  if (!res.ok) {
    if (optional && res.status === 404) return null;
    throw new Error(`${url}: HTTP ${res.status} ${res.statusText}`);
  }
  const total = Number(res.headers.get("content-length") ?? 0) || 0;
  const name = url.slice(url.lastIndexOf("/") + 1);
  const chunks: Uint8Array[] = [];
  let done = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done: end, value } = await reader.read();
      if (end) break;
      chunks.push(value);
      done += value.length;
      progress(`downloading ${name}`, done, total);
    }
  } else chunks.push(new Uint8Array(await res.arrayBuffer()));
  const blob = new Blob(chunks as BlobPart[]);
  if (cache) {
    try {
      await cache.put(url, new Response(blob, { headers: { "content-length": String(blob.size) } }));
    } catch (e) {
      console.warn(`shardit: could not cache ${url} (${(e as Error).message}); it will be downloaded again next time`);
    }
  }
  return blob;
}

export async function loadUrl(base: string, progress: LoadProgress): Promise<{ model: LoadedModel; latent: Latent }> {
  let root: URL;
  try {
    root = new URL(base.endsWith("/") ? base : `${base}/`, location.href);
  } catch {
    throw new Error(`"${base}" is not a URL`);
  }
  const url = (name: string) => new URL(name, root).href;
  const cache = await openCache();
  const configBlob = await cachedBytes(cache, url("config.json"), progress, true);
  if (!configBlob) throw new Error(`${url("config.json")}: not found (HTTP 404); the URL must be a diffusers transformer folder (config.json + weights)`);
  const config = parseWanConfig(await readJson(fileObjectSource(configBlob), url("config.json")), url("config.json"));

  // An index and its shards, or one weight file.
  let files: string[] = [], index: Blob | null = null, indexName = "";
  for (const name of INDEX_FILES) {
    index = await cachedBytes(cache, url(name), progress, true);
    if (index) {
      indexName = name;
      files = shardNames(await readJson(fileObjectSource(index), url(name)), url(name));
      break;
    }
  }
  if (!index) {
    for (const name of WEIGHT_FILES) {
      const head = await fetch(url(name), { method: "HEAD" }).catch(() => null);
      if ((head?.ok ?? false) || (await cache?.match(url(name)))) {
        files = [name];
        break;
      }
    }
    if (files.length === 0) throw new Error(`${root.href}: no ${INDEX_FILES.join(" / ")} and no ${WEIGHT_FILES.join(" / ")}`);
  }

  let sources: ByteSource[];
  if (cache) {
    sources = [];
    for (const [i, f] of files.entries()) {
      const blob = (await cachedBytes(cache, url(f), (l, d, t) => progress(`${l} (${i + 1}/${files.length})`, d, t)))!;
      sources.push(namedBlobSource(f, blob));
    }
  } else {
    // No Cache API here: read through HTTP Range requests where the server allows them.
    sources = await Promise.all(files.map((f) => urlSource(url(f))));
  }
  const indexSource = index ? bytesSource(indexName, new Uint8Array(await index.arrayBuffer())) : undefined;
  const ckpt = await Checkpoint.open(sources, indexSource);
  const weights = await loadWanWeights(ckpt, config, (d, t) => progress("reading weights", d, t));
  return { model: { id: `url:${root.href}`, name: root.href, config, weights }, latent: { ...CHECKPOINT_LATENT } };
}

/** Deletes every cached download. */
export async function clearModelCache(): Promise<boolean> {
  return typeof caches !== "undefined" ? await caches.delete(CACHE_NAME) : false;
}

// ---------------------------------------------------------------------------------------------
// Prompt embeddings [1, Lt, text_dim] (umT5 output), one safetensors file each

export function readPromptFile(file: File, cfg: WanConfig): Promise<{ text: Float32Array; tokens: number }> {
  return readPromptEmbeddings(fileObjectSource(file), cfg);
}

export async function readPrompts(cfg: WanConfig, prompt: File | null, negative: File | null, needNegative: boolean): Promise<PromptEmbeddings> {
  if (!prompt) throw new Error(`pick the prompt embeddings file ([1, Lt, ${cfg.textDim}] safetensors) for this checkpoint`);
  if (needNegative && !negative) throw new Error("pick the negative prompt embeddings file too, or set guidance to 1 (no unconditional branch)");
  const p = await readPromptFile(prompt, cfg);
  const n = needNegative && negative ? await readPromptFile(negative, cfg) : null;
  return { text: p.text, textTokens: p.tokens, negativeText: n?.text ?? null, negativeTokens: n?.tokens ?? 0 };
}

// ---------------------------------------------------------------------------------------------

function namedBlobSource(name: string, blob: Blob): ByteSource {
  return fileObjectSource(Object.assign(blob, { name }) as Blob & { name: string });
}

async function readJson(src: ByteSource, what: string): Promise<unknown> {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await src.read(0, src.size)));
  } catch (e) {
    throw new Error(`${what}: not valid JSON: ${(e as Error).message}`);
  }
}

/** The shard files an index json names, sorted. */
function shardNames(json: unknown, what: string): string[] {
  const map = (json as { weight_map?: unknown })?.weight_map;
  if (typeof map !== "object" || map === null) throw new Error(`${what}: index has no "weight_map" object`);
  return [...new Set(Object.values(map).filter((v): v is string => typeof v === "string"))].sort();
}
