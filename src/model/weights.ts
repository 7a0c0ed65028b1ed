// The Wan2.1 DiT's typed weight tree (host Float32Arrays): what the model math and weights_gpu.ts read.
// Plain data (objects, arrays, Float32Array), so it can be posted to workers. Every matrix is row-major
// [out, in] as in PyTorch's nn.Linear (y = x W^T + b). Mapping diffusers' checkpoint names onto it is
// src/loaders/checkpoint.ts.
export interface Linear {
  /** [out, in] */
  weight: Float32Array;
  /** [out] */
  bias: Float32Array;
}

export interface Norm {
  /** [d] */
  weight: Float32Array;
  /** [d] */
  bias: Float32Array;
}

export interface AttentionWeights {
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  /** RMSNorm weights over all d (rms_norm_across_heads): [d]. */
  normQ: Float32Array;
  normK: Float32Array;
}

export interface BlockWeights {
  /** Self-attention (RoPE). */
  attn1: AttentionWeights;
  /** Cross-attention to the text context. */
  attn2: AttentionWeights;
  /** Affine LayerNorm before cross-attention; null when cross_attn_norm is false. */
  norm2: Norm | null;
  /** [ffn, d] then GELU_tanh then [d, ffn]. */
  ffn: { up: Linear; down: Linear };
  /** [6, d]: shift, scale, gate, c_shift, c_scale, c_gate (added to the timestep projection). */
  scaleShiftTable: Float32Array;
}

export interface WanWeights {
  /** Conv3d (1,2,2) as a linear map: weight [d, C*4] (index c*4 + a*2 + b), bias [d]. */
  patchEmbedding: Linear;
  /** [d, freq_dim] then [d, d]. */
  timeEmbedder: { linear1: Linear; linear2: Linear };
  /** [6d, d]. */
  timeProj: Linear;
  /** [d, text_dim] then [d, d]. */
  textEmbedder: { linear1: Linear; linear2: Linear };
  blocks: BlockWeights[];
  /** [4*C_out, d]: rows ordered (a, b, c), c fastest. */
  projOut: Linear;
  /** [2, d]: shift, scale of the output norm. */
  scaleShiftTable: Float32Array;
}
