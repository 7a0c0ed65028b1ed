// Where the demo's model comes from: the embedded default (the trained model shipped in models/embedded, a
// typed prompt through its word-level encoder; nothing downloaded), a diffusers checkpoint
// folder picked from disk, the URL of such a folder, or a Hugging Face Hub id. Downloads go through the
// Cache API (keyed by URL, src/io/hub_web.ts), so a second visit reads them from the browser's cache;
// progress is reported in bytes.
import {
  checkEmbeddedPrompt, clearModelCache, EMBEDDED_LATENT, type EmbeddedModel, embeddedPrompt, fileObjectSource, type FolderSource, type Grid3, loadModel, modelFolder, pickModelFolder,
  loadEmbeddedModel, readPromptEmbeddings, type WanConfig, type WanWeights,
} from "../src/index.ts";

export interface LoadedModel {
  /** Identifies the weights (pools holding them can be reused while it is unchanged). */
  id: string;
  name: string;
  config: WanConfig;
  weights: WanWeights;
  /** GenerateOptions.condition: the embedded model's coordinate planes (in_channels 12 + 3); none for checkpoints. */
  condition?: (latent: Grid3) => Float32Array;
}

export interface PromptEmbeddings {
  text: Float32Array;
  textTokens: number;
  negativeText: Float32Array | null;
  negativeTokens: number;
}

/** (what is happening, bytes done, bytes total; total 0 when unknown). */
export type LoadProgress = (label: string, done: number, total: number) => void;

/** The latent of a 480p, 81-frame video (as the CLI's default for real checkpoints). */
export const CHECKPOINT_LATENT: Grid3 = { F: 21, H: 60, W: 104 };

// ---------------------------------------------------------------------------------------------
// Embedded

let embedded: Promise<EmbeddedModel> | null = null;

/** The trained embedded model (read once, 2.2 MB from this site) and `prompt` through its encoder; the empty prompt is the unconditional branch. */
export async function loadEmbedded(prompt: string): Promise<{ model: LoadedModel; prompts: PromptEmbeddings; latent: Grid3 }> {
  embedded ??= loadEmbeddedModel().catch((e) => {
    embedded = null;
    throw e;
  });
  const e = await embedded;
  checkEmbeddedPrompt(prompt); // an empty prompt would be the unconditional branch: a smudge
  const text = embeddedPrompt(e, prompt), negative = embeddedPrompt(e, "");
  return {
    model: { id: "embedded", name: e.name, config: e.config, weights: e.weights, condition: e.condition },
    prompts: { text: text.text, textTokens: text.tokens, negativeText: negative.text, negativeTokens: negative.tokens },
    latent: { ...EMBEDDED_LATENT },
  };
}

// ---------------------------------------------------------------------------------------------
// A folder picked with <input type=file webkitdirectory>, a folder URL, or a Hub id; the folder rules are
// src/io/model_folder.ts's (the same as the CLI's).

async function loadFrom(folder: FolderSource, id: string, name: string, progress: LoadProgress): Promise<{ model: LoadedModel; latent: Grid3 }> {
  const { config, weights } = await loadModel(folder, { onProgress: progress });
  return { model: { id, name, config, weights }, latent: { ...CHECKPOINT_LATENT } };
}

export function loadFolder(picked: readonly File[], progress: LoadProgress): Promise<{ model: LoadedModel; latent: Grid3 }> {
  const folder = pickModelFolder(picked);
  const id = `folder:${folder.label}:${picked.map((f) => `${f.webkitRelativePath || f.name}/${f.size}/${f.lastModified}`).join(",")}`;
  return loadFrom(folder, id, folder.label, progress);
}

/**
 * `source` is a folder URL (absolute, or relative starting with "/", "./" or "../") or a Hub id
 * ("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", optionally "@revision"): its transformer/ when it is a diffusers
 * pipeline. Downloads are cached with the Cache API.
 */
export async function loadUrl(source: string, progress: LoadProgress): Promise<{ model: LoadedModel; latent: Grid3 }> {
  const folder = await modelFolder(source, { onProgress: progress });
  return await loadFrom(folder, `url:${folder.label}`, folder.label, progress);
}

export { clearModelCache };

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

