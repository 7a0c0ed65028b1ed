// The embedded default model of `shardit generate` and the demo: a small Wan2.1 DiT (diffusers'
// WanTransformer3DModel, 4 heads x 24, 3 blocks) trained in pixel space on synthetic clips of one shape
// moving on a dark background, with its word-level text encoder (models/embedded/README.md is the model
// card; tools/train/ made it). It ships in the repository (2.2 MB), so nothing is downloaded: the files are
// read through URLs relative to this module (file: URLs in Deno, asset URLs that Vite emits in the page).
// Its "latent" is the video itself by 2x2 space-to-depth (pixels.ts): [12, 8, 16, 16] <-> 8 frames of 32x32.
import type { Grid3 } from "../shape.ts";
import { type ByteSource, Checkpoint, type Progress, urlSource } from "../io/safetensors.ts";
import { parseJsonBytes } from "../io/model_folder.ts";
import { type WanWeights } from "../model/weights.ts";
import { loadWanWeights } from "./checkpoint.ts";
import { type WanConfig } from "../model/config.ts";
import { parseWanConfig } from "./config.ts";
import { COORDINATE_CHANNELS, coordinatePlanes, PIXEL_LATENT_CHANNELS } from "../model/pixels.ts";
import type { Solver } from "../sampler/flow_match.ts";
import { encodePrompt, loadWordEncoder, promptWords, type WordEncoder } from "./text_encoder.ts";

export const EMBEDDED_NAME = "embedded Wan (trained, 8 frames of 32x32)";
/** The pixel-space latent [12, F, H, W] of 8 frames of 32x32: 8 x 8 x 8 = 512 tokens. */
export const EMBEDDED_LATENT: Grid3 = { F: 8, H: 16, W: 16 };
/** The video it makes: [3, 8, 32, 32]. */
export const EMBEDDED_VIDEO: Grid3 = { F: 8, H: 32, W: 32 };

/**
 * Sampler defaults, measured (bench/RESULTS.md "Behind the defaults") over all 60 prompts x 4 seeds under
 * 120 settings with the same sampler math (models/embedded/eval.json): 44 settings matched 240/240, among
 * them Euler at guidance 3.5 with 4 to 12 steps and shift 1, 3 or 5; this one sits inside that plateau. 8 steps rather than 4: the shapes come out
 * cleaner (4 steps also match, grainier). Guidance 1 at best 232/240. Guidance above 1 runs two forwards per
 * step (16 in all).
 */
export const EMBEDDED_SAMPLER: { solver: Solver; steps: number; guidance: number; shift: number } = { solver: "euler", steps: 8, guidance: 3.5, shift: 3 };
/**
 * The prompt when none is given: it matched for all 4 seeds (14.0-16.3 px of travel) in shardit's own eval at the
 * defaults (bench/results/embedded-eval-cpu.log), as every prompt of the grammar did.
 */
export const EMBEDDED_PROMPT = "a red circle moving down";

/**
 * The model files, relative to this module (a literal `new URL(..., import.meta.url)` each, so Vite bundles
 * them; it inlines files under 4 KB as data: URLs, so messages name them by NAMES, never by URL).
 */
const FILES = {
  config: new URL("../../models/embedded/transformer/config.json", import.meta.url),
  weights: new URL("../../models/embedded/transformer/diffusion_pytorch_model.safetensors", import.meta.url),
  vocab: new URL("../../models/embedded/text_encoder/vocab.json", import.meta.url),
  text: new URL("../../models/embedded/text_encoder/model.safetensors", import.meta.url),
};
const NAMES: Record<keyof typeof FILES, string> = {
  config: "models/embedded/transformer/config.json",
  weights: "models/embedded/transformer/diffusion_pytorch_model.safetensors",
  vocab: "models/embedded/text_encoder/vocab.json",
  text: "models/embedded/text_encoder/model.safetensors",
};

export interface EmbeddedModel {
  name: string;
  config: WanConfig;
  weights: WanWeights;
  encoder: WordEncoder;
  /** GenerateOptions.condition: the coordinate planes when the model takes them (in_channels 12 + 3), else undefined. */
  condition?: (latent: Grid3) => Float32Array;
}

async function open(file: keyof typeof FILES): Promise<ByteSource> {
  try {
    return { ...await urlSource(FILES[file]), name: NAMES[file] };
  } catch (e) {
    throw new Error(`${NAMES[file]} (the embedded model) could not be read: ${(e as Error).message}`);
  }
}

async function readJson(file: keyof typeof FILES): Promise<unknown> {
  const src = await open(file);
  return parseJsonBytes(await src.read(0, src.size), NAMES[file]);
}

/** Reads the embedded model's transformer and text encoder (a few MB, no network). */
export async function loadEmbeddedModel(onProgress?: Progress): Promise<EmbeddedModel> {
  const config = parseWanConfig(await readJson("config"), NAMES.config);
  const coordinates = config.inChannels === PIXEL_LATENT_CHANNELS + COORDINATE_CHANNELS;
  if ((config.inChannels !== PIXEL_LATENT_CHANNELS && !coordinates) || config.outChannels !== PIXEL_LATENT_CHANNELS) {
    throw new Error(`${NAMES.config}: the embedded model works on ${PIXEL_LATENT_CHANNELS} pixel channels (plus ${COORDINATE_CHANNELS} coordinate planes in), ` +
      `config has ${config.inChannels} -> ${config.outChannels}`);
  }
  const ckpt = await Checkpoint.open([await open("weights")]);
  const weights = await loadWanWeights(ckpt, config, onProgress);
  const encoder = await loadWordEncoder(await readJson("vocab"), await Checkpoint.open([await open("text")]), "models/embedded/text_encoder");
  if (encoder.textDim !== config.textDim) throw new Error(`embedded model: text encoder width ${encoder.textDim} != the transformer's text_dim ${config.textDim}`);
  return { name: EMBEDDED_NAME, config, weights, encoder, condition: coordinates ? coordinatePlanes : undefined };
}

/**
 * Refuses a user's prompt with no words (empty, blank or punctuation only): it would encode to the all-zero
 * rows of the unconditional branch and draw a smudge. embeddedPrompt(model, "") itself stays the way to get
 * that branch.
 */
export function checkEmbeddedPrompt(prompt: string): void {
  if (promptWords(prompt).length === 0) {
    throw new Error(`the prompt is empty: the embedded model needs one such as "${EMBEDDED_PROMPT}" (a <colour> <shape> moving <direction>)`);
  }
}

/** The prompt's encoder_hidden_states [Lt, text_dim] (Lt = the encoder's max words) and Lt. */
export function embeddedPrompt(model: EmbeddedModel, prompt: string): { text: Float32Array; tokens: number } {
  return { text: encodePrompt(model.encoder, prompt), tokens: model.encoder.maxWords };
}
