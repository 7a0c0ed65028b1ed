// A synthetic model for engine tests and examples: the wan-small architecture (4 heads x 24, 2 layers, 16
// latent channels, text width 64) with weights and prompt embeddings from the fixtures' deterministic rule,
// built in memory (no files). It exercises sharding, sampling and timing, not pictures: the weights are not
// trained. The embedded default of `shardit generate` and the demo is the trained model (embedded.ts).
import type { WanWeights } from "../model/weights.ts";
import { type WanConfig } from "../model/config.ts";
import { presetConfig } from "./config.ts";
import { syntheticTensor, syntheticWeights } from "./synthetic.ts";

export const SYNTHETIC_NAME = "synthetic wan-small (untrained weights)";
/** 5 x 14 x 18 latent: 5 x 7 x 9 = 315 tokens, which 2, 4 and 5 devices do not divide evenly. */
export const SYNTHETIC_LATENT = { F: 5, H: 14, W: 18 } as const;
export const SYNTHETIC_TEXT_TOKENS = 16;

export interface SyntheticModel {
  name: string;
  config: WanConfig;
  weights: WanWeights;
  /** Prompt and negative-prompt embeddings [Lt, text_dim]. */
  text: Float32Array;
  negativeText: Float32Array;
  textTokens: number;
}

export function syntheticModel(): SyntheticModel {
  const config = presetConfig("wan-small");
  const shape = [1, SYNTHETIC_TEXT_TOKENS, config.textDim];
  return {
    name: SYNTHETIC_NAME,
    config,
    weights: syntheticWeights(config),
    text: syntheticTensor("embedded.prompt_embeds", shape),
    negativeText: syntheticTensor("embedded.negative_prompt_embeds", shape),
    textTokens: SYNTHETIC_TEXT_TOKENS,
  };
}
