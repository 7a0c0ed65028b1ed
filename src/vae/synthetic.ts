// Synthetic Wan VAE decoder weights and latents by the fixtures' rule (test/fixtures/README.md; the same
// hash as src/model/synthetic.ts), with the VAE's one addition: RMS-norm gains (names ending in .gamma,
// shape [C,1,1] or [C,1,1,1]) are norm gains too, scale 0.1 offset 1. Lets the bench build the real
// Wan2.1 VAE (base_dim 96) without storing it; tools/vae-fixture.ts checks it against the shared fixtures.
import { fnv1a32, syntheticScale } from "../loaders/synthetic.ts";
import { numel } from "../shape.ts";
import type { WanVaeConfig } from "./config.ts";
import { mapWanVaeWeights, type WanVaeWeights } from "./weights.ts";

export function vaeSyntheticScale(name: string, shape: readonly number[]): { scale: number; offset: number } {
  if (name.endsWith(".gamma")) return { scale: 0.1, offset: 1 };
  if (name === "input.latents") return { scale: 1, offset: 0 };
  return syntheticScale(name, shape);
}

/** The rule's values of tensor `name` [shape]. */
export function vaeSyntheticTensor(name: string, shape: readonly number[]): Float32Array {
  const { scale, offset } = vaeSyntheticScale(name, shape);
  const out = new Float32Array(numel(shape));
  const s = Math.imul(fnv1a32(new TextEncoder().encode(name)), 0x9e3779b1) >>> 0;
  for (let j = 0; j < out.length; j++) {
    let h = (j + s) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    out[j] = (2 * ((h >>> 0) / 4294967296) - 1) * scale + offset; // f64, rounded once by the store
  }
  return out;
}

export function syntheticVaeWeights(cfg: WanVaeConfig): WanVaeWeights {
  return mapWanVaeWeights(cfg, (name, shape) => vaeSyntheticTensor(name, shape));
}

/** Latents [z_dim, T, h, w] by the rule (name input.latents, as the fixtures' `latents`). */
export function syntheticLatents(cfg: WanVaeConfig, T: number, h: number, w: number): Float32Array {
  return vaeSyntheticTensor("input.latents", [1, cfg.zDim, T, h, w]);
}
