// "shardit/deno": everything "shardit" exports (src/index.ts), plus what only Deno has: model folders on
// disk (loadModel and modelFolder also take a path; URLs and Hub ids are cached in a folder, $SHARDIT_CACHE
// or ~/.cache/shardit), files as byte sources, GPU placement of the workers (--gpus) and the choice of
// WebGPU implementation (Dawn or Deno's own).
//
//   import { createPool, forward, loadModel, readInputsFile } from "shardit/deno";
//   const model = await loadModel("./Wan2.1-T2V-1.3B-Diffusers");   // or "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
//   const pool = await createPool({ devices: 2 });
//   await pool.load(model.config, model.weights);
//   const { out } = await forward(pool, await readInputsFile("io.safetensors", model.config));
import { type WanConfig } from "./model/config.ts";
import { openWanFolder } from "./loaders/config.ts";
import { loadWanWeights } from "./loaders/checkpoint.ts";
import { type ForwardInputs } from "./model/forward.ts";
import { readForwardInputs, readPromptEmbeddings } from "./loaders/inputs.ts";
import { denoFileSource } from "./io/fs_deno.ts";
import { modelFolderFromArg } from "./io/hub_deno.ts";
import type { FolderSource } from "./io/model_folder.ts";
import { applyLoras, type LoraPlatform, prepareLoras } from "./loaders/lora_source.ts";
import { cachedUrlFolder, hubFolder } from "./io/hub_deno.ts";
import { createPool as createPoolAnywhere, type LoadedModel, type LoadOptions, modelFolder as modelFolderAnywhere, modelLoader, type ModelSource, type OpenedModel } from "./index.ts";
import type { PoolOptions, WorkerPool } from "./parallel/pool.ts";
import { currentWebGpu, useWebGpu } from "./platform/webgpu_deno.ts";

export * from "./index.ts";
export { denoFileSource, denoFolder } from "./io/fs_deno.ts";
export { defaultCacheDir } from "./io/hub_deno.ts";
export { listGpuPciIds, placeDevices } from "./platform/deno_gpus.ts";
export { takeWebGpuFlag, useWebGpu, WEBGPU_CHOICES, type WebGpuBackend, type WebGpuChoice, webGpuChoice } from "./platform/webgpu_deno.ts";

/**
 * "shardit"'s createPool, with the WebGPU implementation chosen first as the CLI chooses it when nothing chose
 * yet (useWebGpu(): $SHARDIT_WEBGPU, else auto: Dawn where its addon finds an adapter, else Deno's own), so the
 * pool's workers and this thread use the same one.
 */
export async function createPool(opts: Partial<PoolOptions> & { devices: number }): Promise<WorkerPool> {
  if (!currentWebGpu()) await useWebGpu();
  return await createPoolAnywhere(opts);
}

export interface DenoLoadOptions extends LoadOptions {
  /** Where URL folders and Hub ids are downloaded to (default: defaultCacheDir()). */
  cacheDir?: string;
}

/**
 * The transformer folder `source` names: as in "shardit", and a string may also be a local folder (tried
 * first); http(s) URLs are read with Range requests, Hub ids downloaded once into the cache folder.
 */
export async function modelFolder(source: ModelSource, opts: DenoLoadOptions = {}): Promise<FolderSource> {
  if (typeof source !== "string") return await modelFolderAnywhere(source, opts);
  return await modelFolderFromArg(source, opts.component ?? "transformer", { progress: opts.onProgress, cacheDir: opts.cacheDir });
}

/** Opens the transformer `source` names (a folder path, URL, Hub id or FolderSource) without reading its weights. */
export async function openModel(source: ModelSource, opts: DenoLoadOptions = {}): Promise<OpenedModel> {
  return await denoLoader().openModel(source, opts);
}

/** Opens the transformer `source` names (a folder path, URL, Hub id or FolderSource) and reads its weights as f32. */
export async function loadModel(source: ModelSource, opts: DenoLoadOptions = {}): Promise<LoadedModel> {
  return await denoLoader().loadModel(source, opts);
}

/** "shardit"'s loader over Deno's folders and LoRA sources (made on first use: the LoRA platform is declared below). */
let denoLoaderOnce: ReturnType<typeof modelLoader<DenoLoadOptions>> | null = null;
const denoLoader = () => denoLoaderOnce ??= modelLoader<DenoLoadOptions>(modelFolder, denoLoraPlatform);

/** Deno's LoRA sources: a path on disk first, then URLs and Hub files through the cache folder. */
export function denoLoraPlatform(opts: DenoLoadOptions = {}): LoraPlatform {
  const cache = { progress: opts.onProgress, cacheDir: opts.cacheDir };
  return {
    urlFolder: (base) => cachedUrlFolder(base, cache),
    hubFolder: (repo) => hubFolder(repo, cache),
    localFile: async (path) => (await Deno.stat(path).catch(() => null))?.isFile ? await denoFileSource(path) : null,
  };
}

/** A forward's inputs from a safetensors file (hidden_states, encoder_hidden_states, timestep: the fixtures' io.safetensors). */
export async function readInputsFile(path: string, cfg: WanConfig): Promise<ForwardInputs> {
  const src = await denoFileSource(path);
  try {
    return await readForwardInputs(src, cfg);
  } finally {
    src.close?.();
  }
}

/** Prompt embeddings [1, Lt, text_dim] (umT5's output) from a safetensors file. */
export async function readPromptFile(path: string, cfg: WanConfig): Promise<{ text: Float32Array; tokens: number }> {
  const src = await denoFileSource(path);
  try {
    return await readPromptEmbeddings(src, cfg);
  } finally {
    src.close?.();
  }
}
