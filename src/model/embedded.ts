// The embedded default model: the wan-small architecture (4 heads x 24, 2 layers, 16 latent channels,
// text width 64) with weights and prompt embeddings from the fixtures' deterministic rule, so
// `shardit generate` and the demo run with nothing downloaded. It demonstrates the engine (sharding,
// sampling, timing), not image quality: the weights are not trained.
import type { WanWeights } from "./checkpoint.ts";
import { presetConfig, type WanConfig } from "./config.ts";
import { syntheticTensor, syntheticWeights } from "./synthetic.ts";

export const EMBEDDED_NAME = "embedded wan-small (synthetic weights)";
/** 5 x 14 x 18 latent: 5 x 7 x 9 = 315 tokens, which 2, 4 and 5 devices do not divide evenly. */
export const EMBEDDED_LATENT = { F: 5, H: 14, W: 18 } as const;
export const EMBEDDED_TEXT_TOKENS = 16;

export interface EmbeddedModel {
  name: string;
  config: WanConfig;
  weights: WanWeights;
  /** Prompt and negative-prompt embeddings [Lt, text_dim]. */
  text: Float32Array;
  negativeText: Float32Array;
  textTokens: number;
}

export function embeddedModel(): EmbeddedModel {
  const config = presetConfig("wan-small");
  const shape = [1, EMBEDDED_TEXT_TOKENS, config.textDim];
  return {
    name: EMBEDDED_NAME,
    config,
    weights: syntheticWeights(config),
    text: syntheticTensor("embedded.prompt_embeds", shape),
    negativeText: syntheticTensor("embedded.negative_prompt_embeds", shape),
    textTokens: EMBEDDED_TEXT_TOKENS,
  };
}
