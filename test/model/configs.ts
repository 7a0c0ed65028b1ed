// Configs of this architecture that the golden fixtures do not cover: odd head counts and head dims,
// layer counts, token counts and text lengths; synthetic weights and inputs by the fixtures' rule.
import { type WanConfig } from "../../src/model/config.ts";
import { PRESETS } from "../../src/loaders/config.ts";
import type { ForwardInputs } from "../../src/model/forward.ts";
import type { Grid3 } from "../../src/shape.ts";
import { syntheticInputs, syntheticWeights } from "../../src/loaders/synthetic.ts";
import type { WanWeights } from "../../src/model/weights.ts";

export interface OddCase {
  name: string;
  cfg: WanConfig;
  latent: Grid3;
  textLen: number;
  timestep: number;
}

function config(heads: number, headDim: number, o: Partial<WanConfig>): WanConfig {
  return { ...PRESETS["wan-tiny"], heads, headDim, dim: heads * headDim, ...o };
}

export const ODD_CASES: OddCase[] = [
  // 3 heads x 20 (RoPE split 8/6/6), 3 layers, 2x3x2 = 12 tokens, 5 text tokens.
  { name: "3x20 3 layers 12 tokens", cfg: config(3, 20, { numLayers: 3, ffnDim: 50, inChannels: 4, outChannels: 4, textDim: 24, freqDim: 16 }), latent: { F: 2, H: 6, W: 4 }, textLen: 5, timestep: 421.5 },
  // 1 head x 36, 1 layer, no cross-attention norm, 7 x 1 x 3 = 21 tokens, 9 text tokens, C 3 -> Cout 5.
  { name: "1x36 1 layer 21 tokens", cfg: config(1, 36, { numLayers: 1, ffnDim: 40, inChannels: 3, outChannels: 5, textDim: 16, freqDim: 8, crossAttnNorm: false }), latent: { F: 7, H: 2, W: 6 }, textLen: 9, timestep: 3 },
];

export function oddCaseData(c: OddCase): { weights: WanWeights; inputs: ForwardInputs } {
  const syn = syntheticInputs(c.cfg, c.latent, c.textLen, c.timestep);
  return {
    weights: syntheticWeights(c.cfg),
    inputs: { latent: syn.hiddenStates, latentGrid: c.latent, text: syn.encoderHiddenStates, textTokens: c.textLen, timestep: c.timestep },
  };
}
