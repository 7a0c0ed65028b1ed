// What the picture tests measure on a generated clip (the same rules as tools/train/analysis.py, which
// scored the sampler settings, bench/RESULTS.md "Behind the defaults"): which palette colour the object
// has and which way it moves.
// - object pixels: max(R, G, B) > OBJECT_THRESHOLD, values mapped from [-1, 1] to [0, 1] (the training
//   background is 0.08 at most, every palette colour has a channel >= 0.95);
// - dominant colour: the palette colour nearest (Euclidean, RGB in [0, 1]) to the mean over all object
//   pixels of all frames; "none" when fewer than half the frames have an object pixel;
// - centroid of a frame: the mean (x, y) of its object pixels, pixel centres at i + 0.5, y downwards;
// - motion: the last frame's centroid minus the first's (frames with object pixels); the direction is
//   the sign of the larger component (x: left/right, y: up/down), the travel its magnitude in pixels.
// A clip matches "a <color> <shape> moving <direction>" when colour and direction are the prompt's and
// the travel is at least a quarter of the frame width.
import type { Grid3 } from "../shape.ts";

export const OBJECT_THRESHOLD = 0.35;

/** The training palette (tools/train/data.py), RGB in [0, 1]. */
export const PALETTE: Readonly<Record<string, readonly [number, number, number]>> = {
  red: [0.95, 0.15, 0.15],
  green: [0.15, 0.85, 0.2],
  blue: [0.2, 0.35, 1.0],
  yellow: [0.95, 0.9, 0.15],
  white: [0.95, 0.95, 0.95],
};

export type Direction = "left" | "right" | "up" | "down";

export interface ClipAnalysis {
  color: string; // a PALETTE key or "none"
  direction: Direction | "none";
  /** Pixels the centroid moved along `direction`. */
  travel: number;
  /** Per frame: the object's centroid (x, y) in pixels, or null when the frame has no object pixel. */
  centroids: ({ x: number; y: number } | null)[];
  /** Mean RGB in [0, 1] of the object pixels. */
  meanRgb: [number, number, number];
}

/** video [3, F, H, W] in [-1, 1] (channel-major, the decoder's layout). */
export function analyzeClip(video: Float32Array, grid: Grid3): ClipAnalysis {
  const { F, H, W } = grid;
  if (video.length !== 3 * F * H * W) throw new Error(`analyzeClip: expected [3, ${F}, ${H}, ${W}] = ${3 * F * H * W} values, found ${video.length}`);
  const plane = H * W, channel = F * plane;
  const unit = (v: number) => Math.min(1, Math.max(0, (v + 1) / 2));
  const sum = [0, 0, 0];
  let objectPixels = 0, framesWithObject = 0;
  const centroids: ClipAnalysis["centroids"] = [];
  for (let f = 0; f < F; f++) {
    let n = 0, sx = 0, sy = 0;
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const i = f * plane + y * W + x;
        const r = unit(video[i]), g = unit(video[channel + i]), b = unit(video[2 * channel + i]);
        if (Math.max(r, g, b) <= OBJECT_THRESHOLD) continue;
        n++;
        sx += x + 0.5;
        sy += y + 0.5;
        sum[0] += r;
        sum[1] += g;
        sum[2] += b;
      }
    }
    objectPixels += n;
    if (n > 0) framesWithObject++;
    centroids.push(n > 0 ? { x: sx / n, y: sy / n } : null);
  }
  const meanRgb: [number, number, number] = objectPixels ? [sum[0] / objectPixels, sum[1] / objectPixels, sum[2] / objectPixels] : [0, 0, 0];
  if (framesWithObject * 2 < F) return { color: "none", direction: "none", travel: 0, centroids, meanRgb };
  let color = "none", best = Infinity;
  for (const [name, p] of Object.entries(PALETTE)) {
    const d = (p[0] - meanRgb[0]) ** 2 + (p[1] - meanRgb[1]) ** 2 + (p[2] - meanRgb[2]) ** 2;
    if (d < best) [best, color] = [d, name];
  }
  const seen = centroids.filter((c): c is { x: number; y: number } => c !== null);
  const dx = seen[seen.length - 1].x - seen[0].x, dy = seen[seen.length - 1].y - seen[0].y;
  const horizontal = Math.abs(dx) >= Math.abs(dy);
  const direction: Direction = horizontal ? (dx > 0 ? "right" : "left") : (dy > 0 ? "down" : "up");
  return { color, direction, travel: horizontal ? Math.abs(dx) : Math.abs(dy), centroids, meanRgb };
}

/** Whether the clip shows the prompt's colour moving the prompt's way by at least a quarter of the width. */
export function clipMatchesPrompt(a: ClipAnalysis, prompt: string, width: number): { ok: boolean; why: string } {
  const words = prompt.trim().toLowerCase().split(/\s+/);
  if (words.length !== 5 || words[0] !== "a" || words[3] !== "moving") throw new Error(`clipMatchesPrompt: "${prompt}" is not "a <color> <shape> moving <direction>"`);
  const [color, direction] = [words[1], words[4]];
  const why = `colour ${a.color} (want ${color}), direction ${a.direction} (want ${direction}), travel ${a.travel.toFixed(1)} px (want >= ${width / 4})`;
  return { ok: a.color === color && a.direction === direction && a.travel >= width / 4, why };
}
