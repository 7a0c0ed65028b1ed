// The Wan2.1 DiT's config as the model math reads it. Parsing diffusers' config.json, the presets and
// folder opening are in src/loaders/config.ts.
export interface WanConfig {
  /** Always [1, 2, 2] (checked). */
  patchSize: [1, 2, 2];
  /** N: attention heads. */
  heads: number;
  /** D: head dim. */
  headDim: number;
  /** d = heads * headDim. */
  dim: number;
  /** C of the latent input. */
  inChannels: number;
  /** C_out of the output. */
  outChannels: number;
  /** Width of the text encoder states (umT5: 4096). */
  textDim: number;
  /** Sinusoidal timestep embedding width. */
  freqDim: number;
  ffnDim: number;
  numLayers: number;
  /** Whether each block has the affine LayerNorm norm2 before cross-attention. */
  crossAttnNorm: boolean;
  qkNorm: "rms_norm_across_heads";
  eps: number;
  ropeMaxSeqLen: number;
}
