// Decoded video -> files a person can play: an animated GIF (gifenc) or APNG (upng-js), chosen by the
// output name's extension, a contact sheet PNG, every frame as PNG, and `video` [1, 3, F, H, W] F32 in a
// safetensors file for tools and tests. Pure functions over bytes (no Deno, no DOM): the CLI, generate and
// the demo share them; writing files is the caller's business.
//
// Input: the decoder's video [3, F, H, W] f32 in [-1, 1] (channel-major, as diffusers' `vae.decode(z).sample`
// without the batch dim). Conversion to 8-bit RGB is diffusers' postprocess, step for step in float32:
// VaeImageProcessor.denormalize (x * 0.5 + 0.5).clamp(0, 1), then numpy_to_pil (x * 255).round() (numpy
// rounds halves to even), so our frames are the bytes WanPipeline's `output_type="pil"` frames hold.
//
// Why these encoders (ARCHITECTURE.md): gifenc (GIF, MIT, no dependencies, the PnnQuant palette quantiser;
// GIF is 256 colours per frame, so it is the one lossy format here) plays everywhere; upng-js (APNG, MIT,
// pako for deflate) is lossless, so its frames are exactly the 8-bit frames. Neither needs a DOM or WASM.

// @ts-types="../types/gifenc.d.ts"
import { applyPalette, GIFEncoder, quantize } from "gifenc/dist/gifenc.esm.js";
// @ts-types="../types/upng-js.d.ts"
import UPNG from "upng-js";
import type { Grid3 } from "../shape.ts";
import { encodePng } from "./png.ts";
import { encodeSafetensors } from "./safetensors.ts";

/** Wan2.1's frame rate (diffusers' examples export at 16 fps). */
export const WAN_FPS = 16;

/** What `encodeVideoFile` writes for each extension. */
export const VIDEO_EXTENSIONS: Record<string, string> = {
  ".gif": "animated GIF (256 colours per frame)",
  ".apng": "animated PNG (lossless)",
  ".png": "contact sheet (every frame in a grid)",
  ".safetensors": "`video` [1,3,F,H,W] F32 in [-1,1]",
};

/** Throws unless `video` holds [3, F, H, W] finite values, naming what it is. */
export function checkVideo(video: Float32Array, grid: Grid3, what = "video"): void {
  const { F, H, W } = grid;
  if (![F, H, W].every((d) => Number.isInteger(d) && d >= 1)) throw new Error(`${what}: frames, height and width must be integers >= 1, got ${F}x${H}x${W}`);
  if (video.length !== 3 * F * H * W) throw new Error(`${what}: expected [3, ${F}, ${H}, ${W}] = ${3 * F * H * W} values, found ${video.length}`);
  for (let i = 0; i < video.length; i++) {
    const v = video[i];
    if (v - v !== 0) {
      const plane = H * W, c = Math.floor(i / (F * plane)), f = Math.floor(i / plane) % F, y = Math.floor(i / W) % H, x = i % W;
      throw new Error(`${what}: non-finite value ${v} at channel ${c}, frame ${f}, row ${y}, column ${x}`);
    }
  }
}

/** numpy's round (halves to even) of a non-negative value. */
function roundHalfEven(v: number): number {
  const r = Math.round(v); // halves up
  return r - v === 0.5 && r % 2 === 1 ? r - 1 : r;
}

/** One value in [-1, 1] -> 8 bits, as diffusers' postprocess computes it in float32. */
export function toByte(x: number): number {
  const unit = Math.min(1, Math.max(0, Math.fround(Math.fround(x * 0.5) + 0.5)));
  return roundHalfEven(Math.fround(unit * 255));
}

/** video [3, F, H, W] in [-1, 1] -> F frames of RGB bytes [H, W, 3]. */
export function videoToRgb8(video: Float32Array, grid: Grid3): Uint8Array[] {
  checkVideo(video, grid);
  const { F, H, W } = grid;
  const plane = H * W, channel = F * plane;
  return Array.from({ length: F }, (_, f) => {
    const rgb = new Uint8Array(plane * 3);
    for (let c = 0; c < 3; c++) {
      const base = c * channel + f * plane;
      for (let p = 0; p < plane; p++) rgb[p * 3 + c] = toByte(video[base + p]);
    }
    return rgb;
  });
}

function rgba(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array((rgb.length / 3) * 4);
  for (let p = 0, q = 0; p < rgb.length; p += 3, q += 4) {
    out[q] = rgb[p];
    out[q + 1] = rgb[p + 1];
    out[q + 2] = rgb[p + 2];
    out[q + 3] = 255;
  }
  return out;
}

function checkFrames(frames: readonly Uint8Array[], width: number, height: number, what: string): void {
  if (frames.length === 0) throw new Error(`${what}: no frames`);
  frames.forEach((f, i) => {
    if (f.length !== width * height * 3) throw new Error(`${what}: frame ${i} has ${f.length} bytes, ${width}x${height} RGB needs ${width * height * 3}`);
  });
}

/** Frames of RGB [H, W, 3] -> an animated GIF looping forever; each frame gets its own 256-colour palette. */
export function encodeGif(frames: readonly Uint8Array[], width: number, height: number, fps = WAN_FPS): Uint8Array {
  checkFrames(frames, width, height, "GIF");
  const gif = GIFEncoder();
  for (const rgb of frames) {
    const pixels = rgba(rgb);
    const palette = quantize(pixels, 256);
    gif.writeFrame(applyPalette(pixels, palette), width, height, { palette, delay: 1000 / fps, repeat: 0 });
  }
  gif.finish();
  return gif.bytes();
}

/** Frames of RGB [H, W, 3] -> a lossless animated PNG looping forever (a single frame gives a plain PNG). */
export function encodeApng(frames: readonly Uint8Array[], width: number, height: number, fps = WAN_FPS): Uint8Array {
  checkFrames(frames, width, height, "APNG");
  const delays = frames.map(() => Math.round(1000 / fps)); // ms, stored as n/1000 s
  const buffers = frames.map((f) => rgba(f).buffer as ArrayBuffer);
  const out = new Uint8Array(UPNG.encode(buffers, width, height, 0, delays, true));
  // upng-js sizes its output as the raw RGBA bytes + 100: incompressible frames of a few pixels overflow
  // it and it silently drops the tail (IEND included). Refuse rather than write a broken file.
  const iend = out.length >= 12 && String.fromCharCode(...out.subarray(out.length - 8, out.length - 4)) === "IEND";
  if (!iend) throw new Error(`APNG: ${frames.length} frames of ${width}x${height} do not fit upng-js's output buffer (frames this small: write .gif)`);
  return out;
}

/**
 * Every frame in one picture: `columns` frames a row (default: as square a sheet as the frames allow),
 * `gap` pixels of dark grey between them. Returns RGB [height, width, 3].
 */
export function contactSheet(frames: readonly Uint8Array[], width: number, height: number, columns?: number, gap = 2): { rgb: Uint8Array; width: number; height: number } {
  checkFrames(frames, width, height, "contact sheet");
  const n = frames.length;
  // As square as the frames allow, moved by one column where that fills every row (8 frames: 4 x 2, not 3 x 3
  // with an empty ninth cell).
  const square = Math.max(1, Math.min(n, Math.round(Math.sqrt((n * height) / width))));
  const cols = columns ?? [square, square + 1, square - 1].find((c) => c >= 1 && c <= n && n % c === 0) ?? square;
  const rows = Math.ceil(n / cols);
  const sheetW = cols * width + (cols - 1) * gap, sheetH = rows * height + (rows - 1) * gap;
  const rgb = new Uint8Array(sheetW * sheetH * 3).fill(32);
  frames.forEach((f, i) => {
    const x0 = (i % cols) * (width + gap), y0 = Math.floor(i / cols) * (height + gap);
    for (let y = 0; y < height; y++) rgb.set(f.subarray(y * width * 3, (y + 1) * width * 3), ((y0 + y) * sheetW + x0) * 3);
  });
  return { rgb, width: sheetW, height: sheetH };
}

/** `video` [1, 3, F, H, W] F32, clamped to [-1, 1] as diffusers' decode returns it. */
export function videoSafetensors(video: Float32Array, grid: Grid3, metadata?: Record<string, string>): Uint8Array {
  checkVideo(video, grid);
  const clamped = video.map((v) => Math.min(1, Math.max(-1, v)));
  return encodeSafetensors({ video: { dtype: "F32", shape: [1, 3, grid.F, grid.H, grid.W], data: clamped } }, metadata);
}

/** The extension of a file name, lower case, with its dot ("" when there is none). */
export function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(dot).toLowerCase() : "";
}

/** Throws unless `name`'s extension is one encodeVideoFile writes. */
export function checkVideoExtension(name: string): string {
  const ext = extensionOf(name);
  if (!(ext in VIDEO_EXTENSIONS)) {
    throw new Error(`${name}: unknown video extension "${ext || "(none)"}" (known: ${Object.keys(VIDEO_EXTENSIONS).join(", ")})`);
  }
  return ext;
}

/** video [3, F, H, W] in [-1, 1] -> the bytes of the file `name` asks for by its extension (VIDEO_EXTENSIONS). */
export async function encodeVideoFile(name: string, video: Float32Array, grid: Grid3, fps = WAN_FPS): Promise<Uint8Array> {
  const ext = checkVideoExtension(name);
  if (ext === ".safetensors") return videoSafetensors(video, grid, { fps: String(fps) });
  const frames = videoToRgb8(video, grid);
  if (ext === ".gif") return encodeGif(frames, grid.W, grid.H, fps);
  if (ext === ".apng") return encodeApng(frames, grid.W, grid.H, fps);
  const sheet = contactSheet(frames, grid.W, grid.H);
  return await encodePng(sheet.rgb, sheet.width, sheet.height);
}

/** Every frame as a PNG: [name, bytes] pairs named frame_000.png, frame_001.png, ... */
export async function encodeFramePngs(video: Float32Array, grid: Grid3): Promise<[string, Uint8Array][]> {
  const frames = videoToRgb8(video, grid);
  const digits = Math.max(3, String(frames.length - 1).length);
  return await Promise.all(frames.map(async (f, i) => [`frame_${String(i).padStart(digits, "0")}.png`, await encodePng(f, grid.W, grid.H)] as [string, Uint8Array]));
}
