// The latent preview on a canvas: latentPreview's RGB (channels 0-2, frames side by side) -> ImageData.
import { type Grid3, latentPreview } from "../src/index.ts";

/** Largest pixels per latent pixel (up to 8) keeping the strip about 1400 px wide at most. */
export function previewScale(latentGrid: Grid3): number {
  return Math.max(1, Math.min(8, Math.floor(1400 / (latentGrid.F * latentGrid.W))));
}

/** latent [C, F, H, W] of the grid F x H x W. */
export function drawLatent(canvas: HTMLCanvasElement, latent: Float32Array, C: number, latentGrid: Grid3): void {
  const { rgb, width, height } = latentPreview(latent, C, latentGrid, previewScale(latentGrid));
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
