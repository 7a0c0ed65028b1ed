// The latent preview on a canvas: latentPreview's RGB (channels 0-2, frames side by side) -> ImageData.
import { depthToSpace, encodeVideoFile, type Grid3, latentPreview, upscaleVideo, videoToRgb8 } from "../src/index.ts";

/** Largest pixels per latent pixel (up to 8) keeping the strip about 1400 px wide at most. */
export function previewScale(latentGrid: Grid3): number {
  return Math.max(1, Math.min(8, Math.floor(1400 / (latentGrid.F * latentGrid.W))));
}

/** latent [C, F, H, W] of the grid F x H x W. */
export function drawLatent(canvas: HTMLCanvasElement, latent: Float32Array, C: number, latentGrid: Grid3): void {
  const { rgb, width, height } = latentPreview(latent, C, latentGrid, previewScale(latentGrid));
  drawRgb(canvas, rgb, width, height);
}

/** Columns for F frames: a divisor of F near 4 (8 frames: 4 x 2), so no cell of the sheet is left empty. */
export function sheetColumns(F: number): number {
  if (F <= 4) return F;
  for (const c of [4, 5, 3, 6, 2]) if (F % c === 0) return c;
  return Math.min(F, 4);
}

/** The embedded model's pixel latent [12, F, h, w] is the clip: its frames 4x, numbered, in rows of sheetColumns. */
export function drawClip(canvas: HTMLCanvasElement, latent: Float32Array, latentGrid: Grid3): void {
  const shown = clipOf(latent, latentGrid);
  const { F, H, W } = shown.grid;
  const cols = sheetColumns(F), rows = Math.ceil(F / cols), gap = 2;
  const frames = videoToRgb8(shown.video, shown.grid); // F x [H, W, 3]
  canvas.width = cols * W + (cols - 1) * gap;
  canvas.height = rows * H + (rows - 1) * gap;
  const g = canvas.getContext("2d")!;
  g.fillStyle = "#0f1216";
  g.fillRect(0, 0, canvas.width, canvas.height);
  for (let f = 0; f < F; f++) {
    const rgba = new Uint8ClampedArray(W * H * 4);
    for (let i = 0; i < W * H; i++) {
      rgba.set([frames[f][3 * i], frames[f][3 * i + 1], frames[f][3 * i + 2], 255], 4 * i);
    }
    const x = (f % cols) * (W + gap), y = Math.floor(f / cols) * (H + gap);
    g.putImageData(new ImageData(rgba, W, H), x, y);
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "rgba(0, 0, 0, 0.6)";
    g.fillRect(x, y, 34, 15);
    g.fillStyle = "#fff";
    g.fillText(`f ${f}`, x + 4, y + 11);
  }
}

/** The clip as an animated GIF (the CLI's video.gif) for an <img>: a blob URL (revoke the previous one). */
export async function clipGifUrl(latent: Float32Array, latentGrid: Grid3): Promise<string> {
  const shown = clipOf(latent, latentGrid);
  const gif = await encodeVideoFile("clip.gif", shown.video, shown.grid);
  return URL.createObjectURL(new Blob([gif as BlobPart], { type: "image/gif" }));
}

function clipOf(latent: Float32Array, latentGrid: Grid3) {
  return upscaleVideo(depthToSpace(latent, latentGrid), { F: latentGrid.F, H: 2 * latentGrid.H, W: 2 * latentGrid.W }, 4);
}

function drawRgb(canvas: HTMLCanvasElement, rgb: Uint8Array, width: number, height: number): void {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgba[j] = rgb[i];
    rgba[j + 1] = rgb[i + 1];
    rgba[j + 2] = rgb[i + 2];
    rgba[j + 3] = 255;
  }
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d")!.putImageData(new ImageData(rgba, width, height), 0, 0);
}
