// The embedded model works in pixel space: a video [3, F, H, W] in [-1, 1] is its "latent" [12, F, H/2, W/2]
// by 2x2 space-to-depth in torch's pixel_unshuffle order (tools/train/train.py to_model): channel c*4 + a*2 + b
// holds pixel (2h + a, 2w + b) of colour c. depthToSpace is the exact inverse (pixel_shuffle), so no decoder
// is needed: the sampler's result, clamped to [-1, 1], is the video.
import type { Grid3 } from "../shape.ts";

/** Channels of the pixel-space latent: 3 colours x 2 x 2 offsets. */
export const PIXEL_LATENT_CHANNELS = 12;

/** latent [12, F, h, w] -> video [3, F, 2h, 2w], clamped to [-1, 1]; `grid` is the latent's {F, H: h, W: w}. */
export function depthToSpace(latent: Float32Array, grid: Grid3): Float32Array {
  const { F, H: h, W: w } = grid;
  if (latent.length !== PIXEL_LATENT_CHANNELS * F * h * w) {
    throw new Error(`depthToSpace: expected [${PIXEL_LATENT_CHANNELS}, ${F}, ${h}, ${w}] = ${PIXEL_LATENT_CHANNELS * F * h * w} values, found ${latent.length}`);
  }
  const H = 2 * h, W = 2 * w;
  const video = new Float32Array(3 * F * H * W);
  for (let c = 0; c < 3; c++) {
    for (let a = 0; a < 2; a++) {
      for (let b = 0; b < 2; b++) {
        const src = (c * 4 + a * 2 + b) * F * h * w;
        for (let f = 0; f < F; f++) {
          for (let y = 0; y < h; y++) {
            for (let x = 0; x < w; x++) {
              const v = latent[src + (f * h + y) * w + x];
              video[((c * F + f) * H + 2 * y + a) * W + 2 * x + b] = Math.min(1, Math.max(-1, v));
            }
          }
        }
      }
    }
  }
  return video;
}

/** video [3, F, H, W] -> latent [12, F, H/2, W/2] (no clamping): the inverse of depthToSpace on [-1, 1]. */
export function spaceToDepth(video: Float32Array, grid: Grid3): Float32Array {
  const { F, H, W } = grid;
  if (H % 2 || W % 2) throw new Error(`spaceToDepth: height and width must be even, got ${H}x${W}`);
  if (video.length !== 3 * F * H * W) throw new Error(`spaceToDepth: expected [3, ${F}, ${H}, ${W}] = ${3 * F * H * W} values, found ${video.length}`);
  const h = H / 2, w = W / 2;
  const latent = new Float32Array(video.length);
  for (let c = 0; c < 3; c++) {
    for (let a = 0; a < 2; a++) {
      for (let b = 0; b < 2; b++) {
        const dst = (c * 4 + a * 2 + b) * F * h * w;
        for (let f = 0; f < F; f++) {
          for (let y = 0; y < h; y++) {
            for (let x = 0; x < w; x++) latent[dst + (f * h + y) * w + x] = video[((c * F + f) * H + 2 * y + a) * W + 2 * x + b];
          }
        }
      }
    }
  }
  return latent;
}

/** video [3, F, H, W] -> [3, F, kH, kW], each pixel a k x k block (nearest): a 32x32 clip is easier to see at 4x. */
export function upscaleVideo(video: Float32Array, grid: Grid3, k: number): { video: Float32Array; grid: Grid3 } {
  const { F, H, W } = grid;
  if (!Number.isInteger(k) || k < 1) throw new Error(`upscaleVideo: the factor must be an integer >= 1, got ${k}`);
  if (video.length !== 3 * F * H * W) throw new Error(`upscaleVideo: expected [3, ${F}, ${H}, ${W}] = ${3 * F * H * W} values, found ${video.length}`);
  const KH = k * H, KW = k * W;
  const out = new Float32Array(3 * F * KH * KW);
  for (let p = 0; p < 3 * F; p++) {
    for (let y = 0; y < KH; y++) {
      const row = (p * H + Math.floor(y / k)) * W;
      for (let x = 0; x < KW; x++) out[(p * KH + y) * KW + x] = video[row + Math.floor(x / k)];
    }
  }
  return { video: out, grid: { F, H: KH, W: KW } };
}

/** Condition channels of a coordinate-conditioned pixel model (in_channels = 12 + 3): t, y, x planes. */
export const COORDINATE_CHANNELS = 3;

/**
 * The coordinate planes [3, F, H, W] of a latent grid: each latent cell's t, y and x as (2i + 1) / n - 1, in (-1, 1).
 * The embedded model takes them as input channels after the 12 pixel channels (tools/train/train.py
 * coordinate_planes, the same function): RoPE gives attention only relative offsets, so without them a token
 * cannot tell where in the clip or the frame it is, and the model drew static shapes where the prompt asked for motion.
 */
export function coordinatePlanes(grid: Grid3): Float32Array {
  const { F, H, W } = grid;
  const cells = F * H * W;
  const out = new Float32Array(COORDINATE_CHANNELS * cells);
  for (let f = 0; f < F; f++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = (f * H + y) * W + x;
        out[i] = (2 * f + 1) / F - 1;
        out[cells + i] = (2 * y + 1) / H - 1;
        out[2 * cells + i] = (2 * x + 1) / W - 1;
      }
    }
  }
  return out;
}
