// The shard map: the computed token grid F_pad x H' x W' drawn frame by frame, each token cell
// coloured by the device that computes it; padding tokens (frame mode, frames past F') hatched.
// Layout is a pure function of the plan, drawing is plain canvas 2D.
import type { ShardPlan } from "../src/index.ts";

/** One colour per device (up to 8 workers), distinct on dark and light backgrounds. */
export const DEVICE_COLORS = ["#4e9af1", "#f28e2b", "#59c27a", "#e15759", "#b07aa1", "#edc948", "#4fc1c9", "#ff9da7"];
export const deviceColor = (d: number) => DEVICE_COLORS[d % DEVICE_COLORS.length];

export interface ShardMapLayout {
  /** Pixels per token cell. */
  cell: number;
  framesPerRow: number;
  rows: number;
  width: number;
  height: number;
  /** Gap between frames and the label band above each row, in pixels. */
  gap: number;
  label: number;
}

/** Fits the frames into `maxWidth` CSS pixels: big cells when they fit on one row, else wrapped rows. */
export function shardMapLayout(plan: ShardPlan, maxWidth: number): ShardMapLayout {
  const { H, W } = plan.grid;
  const frames = plan.computedTokens / (H * W);
  const gap = 6, label = 14;
  const fit = (fpr: number) => Math.floor((maxWidth - gap * (fpr - 1)) / (fpr * W));
  let framesPerRow = frames, cell = fit(frames);
  // Wrap into rows until the cells are at least 6 px (or a single frame per row).
  while (cell < 6 && framesPerRow > 1) cell = fit(--framesPerRow);
  cell = Math.max(1, Math.min(16, cell));
  const rows = Math.ceil(frames / framesPerRow);
  const width = framesPerRow * W * cell + gap * (framesPerRow - 1);
  const height = rows * (H * cell + label) + (rows - 1) * gap;
  return { cell, framesPerRow, rows, width, height, gap, label };
}

export function drawShardMap(canvas: HTMLCanvasElement, plan: ShardPlan, maxWidth: number): void {
  const lay = shardMapLayout(plan, maxWidth);
  const dpr = Math.min(2, globalThis.devicePixelRatio || 1);
  canvas.width = Math.ceil(lay.width * dpr);
  canvas.height = Math.ceil(lay.height * dpr);
  canvas.style.width = `${lay.width}px`;
  canvas.style.height = `${lay.height}px`;
  const ctx = canvas.getContext("2d")!;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, lay.width, lay.height);
  const { F, H, W } = plan.grid;
  const frame = H * W, frames = plan.computedTokens / frame;
  const { cell } = lay;
  const inset = cell >= 5 ? 1 : 0; // a hairline between cells when they are big enough to show it
  ctx.font = "10px system-ui, sans-serif";
  ctx.textBaseline = "top";
  for (let f = 0; f < frames; f++) {
    const col = f % lay.framesPerRow, row = Math.floor(f / lay.framesPerRow);
    const x0 = col * (W * cell + lay.gap), y0 = row * (H * cell + lay.label + lay.gap) + lay.label;
    const pad = f >= F;
    ctx.fillStyle = pad ? "#8a8f98" : "#aab2bd";
    ctx.fillText(pad ? `pad ${f}` : `f${f}`, x0, y0 - lay.label + 1);
    let s = 0; // shards are contiguous and sorted: walk them along the frame
    for (let i = 0; i < frame; i++) {
      const g = f * frame + i;
      while (g >= plan.shards[s].end) s++;
      const x = x0 + (i % W) * cell, y = y0 + Math.floor(i / W) * cell;
      ctx.fillStyle = deviceColor(plan.shards[s].device);
      ctx.globalAlpha = pad ? 0.28 : 1;
      ctx.fillRect(x, y, cell - inset, cell - inset);
    }
    ctx.globalAlpha = 1;
    if (pad) hatch(ctx, x0, y0, W * cell - inset, H * cell - inset);
  }
}

function hatch(ctx: CanvasRenderingContext2D, x: number, y: number, w: number, h: number): void {
  ctx.save();
  ctx.beginPath();
  ctx.rect(x, y, w, h);
  ctx.clip();
  ctx.strokeStyle = "rgba(200, 205, 212, 0.55)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let d = -h; d < w; d += 6) {
    ctx.moveTo(x + d, y + h);
    ctx.lineTo(x + d + h, y);
  }
  ctx.stroke();
  ctx.restore();
}

/** Per device: real tokens and padding tokens it computes. */
export function shardCounts(plan: ShardPlan): { device: number; tokens: number; padTokens: number; start: number; end: number }[] {
  return plan.shards.map((s) => ({ device: s.device, tokens: s.count - s.padTokens, padTokens: s.padTokens, start: s.start, end: s.end }));
}
