// shardit's library surface: `import { ... } from "shardit"` in a page, a worker or Deno (platform
// neutral: nothing here touches the file system or Deno's namespace). Deno scripts import "shardit/deno"
// instead (src/deno.ts): the same names, plus model folders on disk and Deno-only GPU placement.
// The demo (demo/*.ts) and the CLI (src/cli/*) use only these two entries.
//
//   const model = await loadModel("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", { onProgress });  // or a File list, a URL
//   const pool = await createPool({ devices: 4 });
//   await pool.load(model.config, model.weights);
//   await setPrompts(pool, text, negativeText, textTokens);
//   const { latent } = await generate(pool, model.config, { latent: { F: 21, H: 60, W: 104 }, sampler, seed: 0,
//     mode: "sequence", signal }, (step) => console.log(step.step, step.ms));
import type { WanWeights } from "./model/weights.ts";
import { loadWanWeights } from "./loaders/checkpoint.ts";
import type { Checkpoint } from "./io/safetensors.ts";
import { type WanConfig } from "./model/config.ts";
import { openWanFolder } from "./loaders/config.ts";
import type { ForwardInputs } from "./model/forward.ts";
import type { DownloadProgress } from "./io/download.ts";
import { folderFromText } from "./io/hub_web.ts";
import { type FolderSource, fileListFolder, type PickedFile, pickModelFolder, pipelineComponent } from "./io/model_folder.ts";
import { type EncodeOptions, encodePrompts, openTextEncoder, type PromptEmbedding } from "./loaders/umt5_pipeline.ts";
import { planShards, type ShardMode, type ShardPlan, tokenGridFromLatent } from "./parallel/plan.ts";
import { type ForwardResult, PoolCancelled, type PoolOptions, WorkerPool } from "./parallel/pool.ts";
import type { Grid3 } from "./shape.ts";
import { Gpu, type GpuOptions } from "./gpu/device.ts";
import type { Summary } from "./selftest/runner.ts";
import { applyLoras, type LoraPlatform, type LoraSpec, prepareLoras } from "./loaders/lora_source.ts";
import { cachedUrlFolder as webUrlFolder, hubFolder as webHubFolder } from "./io/hub_web.ts";
import type { MergeReport } from "./loaders/lora.ts";

// ---- Model: config, weights, inputs -------------------------------------------------------------
export { type WanConfig } from "./model/config.ts";
export { parseWanConfig, PRESETS, presetConfig, wanConfigJson } from "./loaders/config.ts";
export { type WanWeights } from "./model/weights.ts";
export { loadWanWeights } from "./loaders/checkpoint.ts";
export { type LoraFile, type MergeReport, mergeLoras, parseLoraArg, planLora } from "./loaders/lora.ts";
export { applyLoras, type LoraPlatform, type LoraSpec, openLoras, parseHubFile, prepareLoras } from "./loaders/lora_source.ts";
export { SYNTHETIC_LATENT, type SyntheticModel, syntheticModel } from "./loaders/synthetic_model.ts";
export { EMBEDDED_LATENT, EMBEDDED_PROMPT, EMBEDDED_SAMPLER, EMBEDDED_VIDEO, checkEmbeddedPrompt, type EmbeddedModel, embeddedPrompt, loadEmbeddedModel } from "./loaders/embedded.ts";
export { depthToSpace, spaceToDepth, upscaleVideo } from "./model/pixels.ts";
export { contactSheet, videoToRgb8 } from "./io/video.ts";
export { encodePrompt as encodeWordPrompt, type WordEncoder } from "./loaders/text_encoder.ts"; // the embedded model's word-level encoder
export { analyzeClip, type ClipAnalysis, clipMatchesPrompt } from "./pipeline/clip_analysis.ts";
export { type ForwardInputs } from "./model/forward.ts";
export { readForwardInputs, readPromptEmbeddings } from "./loaders/inputs.ts";
export { type DType, type Grid3, gridSize } from "./shape.ts";

// ---- Files: safetensors, model folders, downloads -----------------------------------------------
export { type ByteSource, bytesSource, Checkpoint, encodeSafetensors, fileObjectSource, urlSource } from "./io/safetensors.ts";
export { fileListFolder, type FolderSource, type PickedFile, pickModelFolder, pipelineComponent, urlFolder } from "./io/model_folder.ts";
export { type HubRepo, parseHubId } from "./io/hub.ts";
export { clearModelCache, folderFromText } from "./io/hub_web.ts";
export type { DownloadProgress } from "./io/download.ts";
export { encodePng, latentPreview } from "./io/png.ts";

// ---- Devices, plans, the denoising loop ---------------------------------------------------------
export { type ForwardRequest, type ForwardResult, PoolCancelled, PoolError, type PoolOptions, WorkerPool } from "./parallel/pool.ts";
export type { DeviceStats } from "./parallel/messages.ts";
export { planJson, planShards, SHARD_MODES, type ShardMode, type ShardPlan, tokenGridFromLatent } from "./parallel/plan.ts";
export { cfgGroups, type DeviceGroup, generate, type GenerateOptions, type GenerateResult, setPrompts, type StepReport, throwIfCancelled } from "./pipeline/generate.ts";
export { CACHE_KINDS, type CacheKind, type CachePlan, FBCACHE_DEFAULT_THRESHOLD, fbCachePlan, magCachePlan, parseCacheSpec, type StepCacheOptions, teaCachePlan } from "./pipeline/step_cache.ts";
export { type RunSummary, runSummary } from "./pipeline/summary.ts";
export { DEFAULT_SAMPLER, gaussianNoise, type SamplerConfig, type Solver, SOLVERS } from "./sampler/flow_match.ts";
export { PRESET_ALIASES, PRESET_NAMES, presetSampler, SAMPLER_PRESETS, type SamplerPreset, stepDistillSchedule } from "./sampler/presets.ts";
export { TOL } from "./tolerances.ts";
export { warnIfSlowAdapter } from "./gpu/adapter_check.ts";
export { defaultDeviceCount, type DeviceCountFacts } from "./cli/device_count.ts"; // how many workers by default (the CLI and the page)

// ---- The VAE decoder: latents -> video --------------------------------------------------------
export { parseWanVaeConfig, WAN21_VAE, type WanVaeConfig } from "./vae/config.ts";
export { loadWanVaeWeights, openWanVaeFolder, type WanVaeWeights } from "./vae/weights.ts";
export { syntheticVaeWeights } from "./vae/synthetic.ts"; // the embedded VAE's weights (the fixtures' rule)
export type { DecodeStats } from "./parallel/vae_messages.ts";
export { type DecodeChunkProgress, type DecodeRun, decodeLatents, readLatents } from "./pipeline/decode.ts";
export { type BandPlan, planBands } from "./parallel/vae_plan.ts";
export { checkVideoExtension, encodeFramePngs, encodeGif, encodeVideoFile, WAN_FPS } from "./io/video.ts";
export { openModelFolder } from "./io/model_folder.ts";

// ---- Text: Wan's umT5 text encoder and its tokenizer (prompt -> embeddings) ----------------------
export {
  type EmbeddingCache, type EncodeOptions, encodePrompts, memoryEmbeddingCache, openTextEncoder, type PromptEmbedding, type TextEncoderSource,
} from "./loaders/umt5_pipeline.ts";
export { MAX_SEQUENCE_LENGTH, Umt5Tokenizer } from "./text/tokenizer.ts";
export { type Umt5Precision, UMT5_PRECISIONS } from "./model/umt5.ts";
export { promptClean } from "./text/prompt_clean.ts";

/** A model ready for `pool.load`: its name (for messages), config and f32 weights. */
export interface LoadedModel {
  name: string;
  config: WanConfig;
  weights: WanWeights;
  /** What LoadOptions.loras merged into the weights (absent when none were given). */
  loras?: MergeReport;
}

/**
 * Where a model is: a FolderSource, the files of a folder picked in a page (<input webkitdirectory>:
 * its FileList or File[]), the URL of a folder (absolute, or relative to the page: "/models/wan/"), or a
 * Hugging Face Hub id ("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", optionally "@revision"). A diffusers pipeline
 * folder is entered at its transformer/.
 */
export type ModelSource = FolderSource | ArrayLike<PickedFile> | string | URL;

export interface LoadOptions {
  /** (what is happening, bytes done, bytes total; total 0 when unknown): downloads, then reading weights. */
  onProgress?: DownloadProgress;
  /** Cache API cache for URL folders and Hub ids (default "shardit-models-v1"). */
  cacheName?: string;
  /** The folder of a diffusers pipeline to enter: "transformer" (default) or "vae". */
  component?: string;
  /**
   * LoRAs merged into the weights at load, in order ("FILE[:SCALE]" as --lora takes, or { source, strength }):
   * a URL, a Hub file "owner/name[@rev]/path.safetensors", a picked File (Deno: also a path). Checked against
   * the config from their headers before the weights are read; merged on a WebGPU device of their own in f32.
   */
  loras?: LoraSpec[];
  /** Options of the LoRA merge's device (default: the default adapter). */
  loraGpu?: GpuOptions;
}

/** The page's LoRA sources: URLs and Hub files through the Cache API, as model folders. */
const webLoraPlatform = (opts: LoadOptions): LoraPlatform => ({
  urlFolder: (base) => webUrlFolder(base, { progress: opts.onProgress, cacheName: opts.cacheName }),
  hubFolder: (repo) => webHubFolder(repo, { progress: opts.onProgress, cacheName: opts.cacheName }),
});

/** A model opened but not read: config.json checked, the weights' headers validated against it. */
export interface OpenedModel {
  name: string;
  config: WanConfig;
  checkpoint: Checkpoint;
}

const isFolderSource = (s: unknown): s is FolderSource => typeof (s as FolderSource)?.open === "function" && typeof (s as FolderSource)?.sub === "function";

/**
 * The transformer folder `source` names (see ModelSource). URLs and Hub ids are downloaded once into the
 * Cache API (a page, or Deno), where it is available, else read with HTTP Range requests.
 */
export async function modelFolder(source: ModelSource, opts: LoadOptions = {}): Promise<FolderSource> {
  const component = opts.component ?? "transformer";
  if (isFolderSource(source)) return await pipelineComponent(source, component);
  if (typeof source !== "string" && !(source instanceof URL)) return await pipelineComponent(pickModelFolder(Array.from(source)), component);
  // A Hub id unless the text starts with "/", "./", "../" or a scheme: then a URL (relative to the page).
  return await pipelineComponent(folderFromText(String(source), { progress: opts.onProgress, cacheName: opts.cacheName }), component);
}

/** The pipeline folder `source` names (its root: tokenizer/ and text_encoder/ beside transformer/). */
export function pipelineFolder(source: ModelSource, opts: LoadOptions = {}): FolderSource {
  if (isFolderSource(source)) return source;
  if (typeof source !== "string" && !(source instanceof URL)) {
    const files = Array.from(source);
    const first = (files[0]?.webkitRelativePath ?? "").split("/");
    return fileListFolder(files, first.length > 1 ? `${first[0]}/` : "");
  }
  return folderFromText(String(source), { progress: opts.onProgress, cacheName: opts.cacheName });
}

/**
 * One prompt as WanPipeline encodes it (prompt_clean, umT5's tokenizer padded / truncated to 512, the encoder
 * on a GPU, rows past seq_len zero), from the pipeline `source` names; the encoder is freed before it returns.
 */
export async function encodePrompt(source: ModelSource, prompt: string, opts: EncodeOptions & LoadOptions = {}): Promise<PromptEmbedding> {
  const te = await openTextEncoder(pipelineFolder(source, opts));
  return (await encodePrompts(te, [prompt], opts))[0];
}

/**
 * The openModel / loadModel pair over a way to find a model's folder and its LoRA files: "shardit" passes
 * the web's (URLs and Hub ids through the Cache API, File lists), "shardit/deno" adds disk paths and a
 * cache folder. One body for both, so the two entry points cannot drift.
 */
export function modelLoader<O extends LoadOptions>(
  folderOf: (source: ModelSource, opts: O) => Promise<FolderSource>,
  loraPlatform: (opts: O) => LoraPlatform,
): { openModel(source: ModelSource, opts: O): Promise<OpenedModel>; loadModel(source: ModelSource, opts: O): Promise<LoadedModel> } {
  const openModel = async (source: ModelSource, opts: O): Promise<OpenedModel> => {
    const folder = await folderOf(source, opts);
    const { config, checkpoint } = await openWanFolder(folder);
    return { name: folder.label, config, checkpoint };
  };
  const loadModel = async (source: ModelSource, opts: O): Promise<LoadedModel> => {
    const { name, config, checkpoint } = await openModel(source, opts);
    const loraFiles = opts.loras?.length ? await prepareLoras(config, opts.loras, loraPlatform(opts)) : [];
    const weights = await loadWanWeights(checkpoint, config, (done, total) => opts.onProgress?.("reading weights", done, total));
    const loras = loraFiles.length ? await applyLoras(config, weights, loraFiles, opts.loraGpu) : undefined;
    return { name, config, weights, ...(loras ? { loras } : {}) };
  };
  return { openModel, loadModel };
}

const webLoader = modelLoader<LoadOptions>(modelFolder, webLoraPlatform);

/** Opens the transformer `source` names: config.json (checked first, before any download of weights), then the weights' headers. */
export async function openModel(source: ModelSource, opts: LoadOptions = {}): Promise<OpenedModel> {
  return await webLoader.openModel(source, opts);
}

/** Opens the transformer `source` names and reads its weights as f32. */
export async function loadModel(source: ModelSource, opts: LoadOptions = {}): Promise<LoadedModel> {
  return await webLoader.loadModel(source, opts);
}

/**
 * Starts `devices` workers, one WebGPU device each (precision f32 unless given). The page must be
 * cross-origin isolated (COOP same-origin, COEP require-corp): the devices share memory.
 */
export function createPool(opts: Partial<PoolOptions> & { devices: number }): Promise<WorkerPool> {
  return WorkerPool.create({ precision: "f32", ...opts });
}

export interface PlanOptions {
  /** "sequence" (default: contiguous token ranges, no padding) or "frame" (whole frames, F padded). */
  mode?: ShardMode;
  /** Sequence mode: per-device speed weights (shares by largest remainder). */
  weights?: readonly number[];
}

/** How the tokens of a latent F x H x W (H, W even: 2x2 patches) are split over `devices`. */
export function shardPlan(latent: Grid3, devices: number, opts: PlanOptions = {}): ShardPlan {
  const mode = opts.mode ?? "sequence";
  return planShards(tokenGridFromLatent(latent), devices, mode, mode === "sequence" ? opts.weights : undefined);
}

export interface ForwardOptions extends PlanOptions {
  /** Overlap the exchange with attention over own keys (default: the pool's setting, on). */
  overlap?: boolean;
  /** Aborting it cancels the forward (the devices stop at their next layer); it rejects with PoolCancelled. */
  signal?: AbortSignal;
}

/** What an aborted signal says: its reason when the caller gave one (abort("...") or abort(error)). */
function abortMessage(signal: AbortSignal, fallback: string): string {
  const r = signal.reason;
  if (typeof r === "string") return r;
  if (r instanceof Error && r.name !== "AbortError") return r.message;
  return fallback;
}

/** The text key `forward` encodes its inputs' text under (set again by every call). */
const FORWARD_TEXT = "forward";

/** One DiT forward of `inputs` sharded over the pool (which holds the model): output [Cout, F, H, W] f32. */
export async function forward(pool: WorkerPool, inputs: ForwardInputs, opts: ForwardOptions = {}): Promise<ForwardResult & { plan: ShardPlan }> {
  const plan = shardPlan(inputs.latentGrid, pool.devices, opts);
  const { signal } = opts;
  if (signal?.aborted) throw new PoolCancelled(abortMessage(signal, "forward cancelled"));
  await pool.setText(FORWARD_TEXT, inputs.text, inputs.textTokens);
  const cancel = () => pool.cancel(abortMessage(signal!, "forward cancelled"));
  signal?.addEventListener("abort", cancel);
  try {
    return { ...(await pool.forward({ ...inputs, textKey: FORWARD_TEXT, plan, overlap: opts.overlap })), plan };
  } finally {
    signal?.removeEventListener("abort", cancel);
  }
}

/** The adapter a device gets here: name, backend, features and granted limits (what `shardit selftest` prints first). */
export async function describeGpu(opts: GpuOptions = {}): Promise<Record<string, unknown>> {
  const gpu = await Gpu.create({ label: "describe", ...opts });
  try {
    return gpu.describe();
  } finally {
    gpu.destroy();
  }
}

export type { Summary as SelftestSummary, TestResult as SelftestResult } from "./selftest/runner.ts";

/**
 * Runs every kernel against its Float64 reference on this adapter (`shardit selftest`), logging a line per
 * check; names containing `filter` only. The checks load on first use (they are not part of a bundle's entry).
 */
export async function selftest(filter = "", log: (line: string) => void = console.log): Promise<Summary> {
  await import("./selftest/kernels/index.ts");
  const [{ probeAdapter, registeredTests }, { runTests }] = await Promise.all([import("./selftest/harness.ts"), import("./selftest/runner.ts")]);
  // The adapter's features first: a check that needs one it lacks (subgroup matrices on a CPU adapter) is
  // listed as skipped with the reason.
  return await runTests(registeredTests(), typeof Deno === "undefined" ? "browser" : "deno", filter, log, await probeAdapter());
}
