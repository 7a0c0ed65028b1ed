// Video files (src/io/video.ts): decoded back with independent readers (omggif for GIF, upng-js's decoder
// for APNG/PNG, our safetensors reader) and compared with diffusers' 8-bit postprocess (test/reference/
// video.ts) of wan-vae-tiny's `expected` video (diffusers' float64 decode, clamped). Pure CPU, both hosts.
// @ts-types="../../src/types/upng-js.d.ts"
import UPNG from "upng-js";
import omggif from "omggif";
import { expectThrows, test } from "../../src/selftest/harness.ts";
import { golden, readFixture } from "../../src/selftest/kernels/golden.ts";
import { frameRgbRef, toByteRef } from "../../src/selftest/reference/video.ts";
import { assert, expectSame } from "./util.ts";
import { bytesSource, decodeToF32, SafetensorsFile } from "../../src/io/safetensors.ts";
import { contactSheet, encodeApng, encodeFramePngs, encodeGif, encodeVideoFile, toByte, videoToRgb8, WAN_FPS } from "../../src/io/video.ts";
import type { Grid3 } from "../../src/shape.ts";

const { GifReader } = omggif as unknown as { GifReader: new (b: Uint8Array) => GifReaderT };
interface GifReaderT {
  width: number;
  height: number;
  numFrames(): number;
  loopCount(): number;
  frameInfo(i: number): { delay: number };
  decodeAndBlitFrameRGBA(i: number, out: Uint8Array): void;
}

/** wan-vae-tiny's expected video [3, 9, 32, 48] in [-1, 1]. */
async function tinyVideo(): Promise<{ video: Float32Array; grid: Grid3 }> {
  const t = golden(await readFixture("wan-vae-tiny", "io.safetensors"), "expected");
  const [, , F, H, W] = t.shape;
  return { video: Float32Array.from(t.data), grid: { F, H, W } };
}

function rgbOf(rgba: Uint8Array): Uint8Array {
  const out = new Uint8Array((rgba.length / 4) * 3);
  for (let p = 0, q = 0; q < rgba.length; p += 3, q += 4) out.set(rgba.subarray(q, q + 3), p);
  return out;
}

function apngFrames(bytes: Uint8Array): { frames: Uint8Array[]; width: number; height: number; delays: number[] } {
  const img = UPNG.decode(bytes.slice().buffer);
  return { frames: UPNG.toRGBA8(img).map((b) => rgbOf(new Uint8Array(b))), width: img.width, height: img.height, delays: img.frames.map((f) => f.delay) };
}

test("video: 8-bit conversion == diffusers' postprocess (anchors, halves to even, clamp)", () => {
  // (x*0.5+0.5)*255: x=0 -> 127.5 -> 128 (even); x=-1 -> 0; x=1 -> 255; beyond [-1,1] clamps.
  const anchors: [number, number][] = [[0, 128], [-1, 0], [1, 255], [-3, 0], [2.5, 255], [-0.99, 1], [0.5, 191]];
  for (const [x, want] of anchors) if (toByte(x) !== want) throw new Error(`toByte(${x}) = ${toByte(x)}, expected ${want}`);
  // Every float32 half-way case of one octave and a sweep, against the float32 reference.
  for (let k = 0; k < 20000; k++) {
    const x = Math.fround(-1.2 + (2.4 * k) / 20000);
    if (toByte(x) !== toByteRef(x)) throw new Error(`toByte(${x}) = ${toByte(x)}, reference ${toByteRef(x)}`);
  }
  for (let n = 0; n < 255; n++) {
    const x = Math.fround(((n + 0.5) / 255 - 0.5) * 2); // lands near a half
    if (toByte(x) !== toByteRef(x)) throw new Error(`toByte(${x}) = ${toByte(x)}, reference ${toByteRef(x)}`);
  }
});

test("video: .apng of wan-vae-tiny decodes back to diffusers' 8-bit frames exactly", async () => {
  const { video, grid } = await tinyVideo();
  const bytes = await encodeVideoFile("clip.apng", video, grid);
  const got = apngFrames(bytes);
  assert(got.width === grid.W && got.height === grid.H, `APNG is ${got.width}x${got.height}, expected ${grid.W}x${grid.H}`);
  assert(got.frames.length === grid.F, `APNG has ${got.frames.length} frames, expected ${grid.F}`);
  for (let f = 0; f < grid.F; f++) expectSame(`APNG frame ${f}`, got.frames[f], frameRgbRef(video, grid.F, grid.H, grid.W, f));
  assert(got.delays.every((d) => d === Math.round(1000 / WAN_FPS)), `APNG delays ${got.delays} ms, expected ${Math.round(1000 / WAN_FPS)}`);
});

test("video: .gif of wan-vae-tiny plays 9 looping frames within the 256-colour quantisation error", async () => {
  const { video, grid } = await tinyVideo();
  const bytes = await encodeVideoFile("clip.gif", video, grid);
  const gif = new GifReader(bytes);
  assert(gif.width === grid.W && gif.height === grid.H, `GIF is ${gif.width}x${gif.height}, expected ${grid.W}x${grid.H}`);
  assert(gif.numFrames() === grid.F, `GIF has ${gif.numFrames()} frames, expected ${grid.F}`);
  assert(gif.loopCount() === 0, `GIF loop count ${gif.loopCount()}, expected 0 (forever)`);
  assert(gif.frameInfo(0).delay === Math.round(100 / WAN_FPS), `GIF delay ${gif.frameInfo(0).delay} cs, expected ${Math.round(100 / WAN_FPS)}`);
  let sumErr = 0, maxErr = 0;
  for (let f = 0; f < grid.F; f++) {
    const rgba = new Uint8Array(grid.W * grid.H * 4);
    gif.decodeAndBlitFrameRGBA(f, rgba);
    const got = rgbOf(rgba), want = frameRgbRef(video, grid.F, grid.H, grid.W, f);
    for (let i = 0; i < want.length; i++) {
      const e = Math.abs(got[i] - want[i]);
      sumErr += e;
      maxErr = Math.max(maxErr, e);
    }
  }
  const meanErr = sumErr / (grid.F * grid.H * grid.W * 3);
  // A palette of 256 colours for a frame of 1536 noisy pixels: measured mean 3.97, max 22 levels (gifenc
  // 1.0.3); the bounds leave room for a different palette choice, not for a wrong or shifted frame.
  assert(meanErr < 6 && maxErr <= 32, `GIF error vs the 8-bit frames: mean ${meanErr.toFixed(2)}, max ${maxErr} levels (bounds 6, 32)`);
});

test("video: .gif of a video with 8 colours is exact (no quantisation loss when the palette suffices)", () => {
  const grid = { F: 3, H: 16, W: 24 };
  const levels = [-1, 1]; // bytes 0 and 255: exact in every palette format
  const video = new Float32Array(3 * grid.F * grid.H * grid.W).map((_, i) => levels[(i * 7 + Math.floor(i / 5)) % 2]);
  const frames = videoToRgb8(video, grid);
  const gif = new GifReader(encodeGif(frames, grid.W, grid.H));
  for (let f = 0; f < grid.F; f++) {
    const rgba = new Uint8Array(grid.W * grid.H * 4);
    gif.decodeAndBlitFrameRGBA(f, rgba);
    expectSame(`GIF frame ${f}`, rgbOf(rgba), frameRgbRef(video, grid.F, grid.H, grid.W, f));
  }
});

test("video: .png contact sheet and per-frame PNGs hold every frame", async () => {
  const { video, grid } = await tinyVideo();
  const sheetBytes = await encodeVideoFile("sheet.png", video, grid);
  const sheet = apngFrames(sheetBytes);
  const layout = contactSheet(videoToRgb8(video, grid), grid.W, grid.H); // where each frame sits
  assert(sheet.width === layout.width && sheet.height === layout.height, `sheet ${sheet.width}x${sheet.height}, expected ${layout.width}x${layout.height}`);
  const cols = Math.round((layout.width + 2) / (grid.W + 2));
  for (let f = 0; f < grid.F; f++) {
    const x0 = (f % cols) * (grid.W + 2), y0 = Math.floor(f / cols) * (grid.H + 2);
    const crop = new Uint8Array(grid.W * grid.H * 3);
    for (let y = 0; y < grid.H; y++) crop.set(sheet.frames[0].subarray(((y0 + y) * sheet.width + x0) * 3, ((y0 + y) * sheet.width + x0 + grid.W) * 3), y * grid.W * 3);
    expectSame(`contact sheet frame ${f}`, crop, frameRgbRef(video, grid.F, grid.H, grid.W, f));
  }
  const pngs = await encodeFramePngs(video, grid);
  assert(pngs.length === grid.F && pngs[0][0] === "frame_000.png" && pngs[8][0] === "frame_008.png", `frame names ${pngs.map((p) => p[0])}`);
  for (let f = 0; f < grid.F; f++) expectSame(`${pngs[f][0]}`, apngFrames(pngs[f][1]).frames[0], frameRgbRef(video, grid.F, grid.H, grid.W, f));
});

test("video: .safetensors holds `video` [1,3,F,H,W] F32 == diffusers' clamped decode", async () => {
  const io = await readFixture("wan-vae-tiny", "io.safetensors");
  const decoded = golden(io, "decoded"), expected = golden(io, "expected");
  const [, , F, H, W] = decoded.shape;
  const bytes = await encodeVideoFile("v.safetensors", Float32Array.from(decoded.data), { F, H, W });
  const file = await SafetensorsFile.open(bytesSource("v.safetensors", bytes));
  const t = file.tensors.get("video");
  assert(t && t.dtype === "F32" && t.shape.join(",") === `1,3,${F},${H},${W}`, `video tensor ${JSON.stringify(t && { dtype: t.dtype, shape: t.shape })}`);
  expectSame("video (clamped)", decodeToF32("F32", bytes.subarray(t.begin, t.end)), Float32Array.from(expected.data));
});

test("video: bad input is a one-line error naming the file, shape or value", async () => {
  const grid = { F: 2, H: 8, W: 8 };
  const ok = new Float32Array(3 * 2 * 8 * 8);
  await expectThrows("unknown extension", () => encodeVideoFile("out.mp4", ok, grid), /out\.mp4: unknown video extension "\.mp4" \(known: \.gif, \.apng, \.png, \.safetensors\)/);
  await expectThrows("no extension", () => encodeVideoFile("out", ok, grid), /unknown video extension "\(none\)"/);
  await expectThrows("wrong length", () => encodeVideoFile("a.gif", new Float32Array(10), grid), /expected \[3, 2, 8, 8\] = 384 values, found 10/);
  const nan = ok.slice();
  nan[1 * 64 + 2 * 8 + 5] = NaN; // channel 0, frame 1 (64 values a frame), row 2, column 5
  await expectThrows("NaN", () => encodeVideoFile("a.apng", nan, grid), /non-finite value NaN at channel 0, frame 1, row 2, column 5/);
  const speck = new Uint8Array(4 * 3 * 3).map((_, i) => (i * 97) & 255); // 4x3 incompressible pixels
  await expectThrows("tiny APNG", () => encodeApng([speck, speck], 4, 3), /2 frames of 4x3 do not fit upng-js's output buffer/);
});
