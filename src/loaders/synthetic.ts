// Deterministic synthetic weights and inputs: each value is a function of the tensor's name and the
// element index (test/fixtures/README.md), so the golden fixtures' model.safetensors is reproduced bit
// for bit and models of any size (the real 1.3B/14B dims) can be made without storing them.
//   seed = FNV-1a 32-bit(UTF-8 name); s = seed * 0x9E3779B1 mod 2^32
//   h = (i + s) mod 2^32, then the murmur3 fmix32 finaliser; u = h / 2^32
//   value = f32((2u - 1) * scale + offset), in f64 then rounded once.
import type { Grid3 } from "../shape.ts";
import type { WanConfig } from "../model/config.ts";
import { type WanWeights } from "../model/weights.ts";
import { mapWanWeights } from "./checkpoint.ts";
import { numel } from "../shape.ts";

export function fnv1a32(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h >>> 0;
}

/** (scale, offset) of the rule for a tensor name and shape. */
export function syntheticScale(name: string, shape: readonly number[]): { scale: number; offset: number } {
  if (name === "input.hidden_states" || name === "input.encoder_hidden_states") return { scale: 1, offset: 0 };
  if (name.endsWith("scale_shift_table")) return { scale: 1 / Math.sqrt(shape[shape.length - 1]), offset: 0 };
  if (name.endsWith(".bias")) return { scale: 0.05, offset: 0 };
  if (shape.length === 1) return { scale: 0.1, offset: 1 };
  return { scale: 1 / Math.sqrt(numel(shape.slice(1))), offset: 0 };
}

/** Writes the rule's values for `name` into `out` (numel(shape) values), starting at element `start`. */
export function fillSynthetic(name: string, shape: readonly number[], out: Float32Array, start = 0): Float32Array {
  const { scale, offset } = syntheticScale(name, shape);
  const s = Math.imul(fnv1a32(new TextEncoder().encode(name)), 0x9e3779b1) >>> 0;
  for (let j = 0; j < out.length; j++) {
    let h = (start + j + s) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    const u = (h >>> 0) / 4294967296;
    out[j] = (2 * u - 1) * scale + offset; // f64 expression, rounded once to f32 by the store
  }
  return out;
}

export function syntheticTensor(name: string, shape: readonly number[]): Float32Array {
  return fillSynthetic(name, shape, new Float32Array(numel(shape)));
}

/** A whole synthetic model, same structure as loadWanWeights (d * d * layers floats: mind the size). */
export function syntheticWeights(cfg: WanConfig): WanWeights {
  return mapWanWeights(cfg, (name, shape) => syntheticTensor(name, shape));
}

export interface SyntheticInputs {
  /** [1, C, F, H, W] */
  hiddenStates: Float32Array;
  hiddenStatesShape: number[];
  /** [1, Lt, text_dim] */
  encoderHiddenStates: Float32Array;
  encoderHiddenStatesShape: number[];
  /** [1] */
  timestep: Float32Array;
}

/** Inputs of the rule (names input.hidden_states, input.encoder_hidden_states); timestep is a free choice. */
export function syntheticInputs(cfg: WanConfig, latent: Grid3, textLen: number, timestep = 999): SyntheticInputs {
  if (latent.H % 2 || latent.W % 2) throw new Error(`latent H and W must be even (2x2 patches), got ${latent.F},${latent.H},${latent.W}`);
  const hiddenStatesShape = [1, cfg.inChannels, latent.F, latent.H, latent.W];
  const encoderHiddenStatesShape = [1, textLen, cfg.textDim];
  return {
    hiddenStates: syntheticTensor("input.hidden_states", hiddenStatesShape),
    hiddenStatesShape,
    encoderHiddenStates: syntheticTensor("input.encoder_hidden_states", encoderHiddenStatesShape),
    encoderHiddenStatesShape,
    timestep: Float32Array.of(timestep),
  };
}
