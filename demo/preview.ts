// The latent preview on a canvas: latentPreview's RGB (channels 0-2, frames side by side) -> ImageData.
import { contactSheet, depthToSpace, encodeVideoFile, type Grid3, latentPreview, upscaleVideo, videoToRgb8 } from "../src/index.ts";

/** Largest pixels per latent pixel (up to 8) keeping the strip about 1400 px wide at most. */
export function previewScale(latentGrid: Grid3): number {
  return Math.max(1, Math.min(8, Math.floor(1400 / (latentGrid.F * latentGrid.W))));
}

/** latent [C, F, H, W] of the grid F x H x W. */
export function drawLatent(canvas: HTMLCanvasElement, latent: Float32Array, C: number, latentGrid: Grid3): void {
  const { rgb, width, height } = latentPreview(latent, C, latentGrid, previewScale(latentGrid));
  drawRgb(canvas, rgb, width, height);
}

/** The embedded model's pixel latent [12, F, h, w] is the clip: its frames in one row, 4x, on the canvas. */
export function drawClip(canvas: HTMLCanvasElement, latent: Float32Array, latentGrid: Grid3): void {
  const shown = clipOf(latent, latentGrid);
  const sheet = contactSheet(videoToRgb8(shown.video, shown.grid), shown.grid.W, shown.grid.H, shown.grid.F);
  drawRgb(canvas, sheet.rgb, sheet.width, sheet.height);
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
