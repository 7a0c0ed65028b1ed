// `shardit decode` as users call it (`node bin/shardit.cjs decode ...`): wan-vae-tiny's io.safetensors
// (its `latents`, the config's mean and std applied by the command) decoded to .safetensors == diffusers'
// `expected`, and to .gif / .apng / frame PNGs that decode back (omggif, upng-js) to diffusers' 8-bit
// frames of `expected`; bad input is one clear line and a non-zero exit; generate --vae adds the video.
// Deno only (spawns the CLI).
// @ts-types="../../src/types/upng-js.d.ts"
import UPNG from "upng-js";
import omggif from "omggif";
import { denoFileSource } from "../../src/io/fs_deno.ts";
import { Checkpoint, encodeSafetensors } from "../../src/io/safetensors.ts";
import { expectClose, test, TOL, withGpu } from "../../src/selftest/harness.ts";
import { WanVaeDecoder } from "../../src/vae/decoder.ts";
import { latentsToZ } from "../../src/vae/config.ts";
import { frameRgbRef } from "../../src/selftest/reference/video.ts";
import { expectSame } from "../io/util.ts";
import { loadVaeGolden } from "../vae/util.ts";

const root = new URL("../../", import.meta.url).pathname;
const vaeDir = `${root}test/fixtures/wan-vae-tiny`;
const io = `${vaeDir}/io.safetensors`;
const DENO: { hosts: ["deno"]; timeoutMs: number } = { hosts: ["deno"], timeoutMs: 300_000 };

async function shardit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command("node", { args: [`${root}bin/shardit.cjs`, ...args], stdout: "piped", stderr: "piped", cwd: root }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

const tmp = () => Deno.makeTempDirSync({ prefix: "shardit-decode-" });
const rgbOf = (rgba: Uint8Array) => {
  const out = new Uint8Array((rgba.length / 4) * 3);
  for (let p = 0, q = 0; q < rgba.length; p += 3, q += 4) out.set(rgba.subarray(q, q + 3), p);
  return out;
};
const F = 9, H = 32, W = 48; // wan-vae-tiny: latent 3x4x6 -> 9 frames of 48x32

test("cli: decode wan-vae-tiny's latents to .safetensors == diffusers' expected (1e-4), 2 devices, with a report", async () => {
  const dir = tmp();
  const r = await shardit("decode", "--vae", vaeDir, "--latents", io, "--out", `${dir}/v.safetensors`, "--devices", "2", "--report", `${dir}/r.json`);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  const file = await Checkpoint.open([await denoFileSource(`${dir}/v.safetensors`)]);
  const shape = file.info("video").shape.join(",");
  if (shape !== `1,3,${F},${H},${W}`) throw new Error(`video has shape [${shape}], expected [1,3,${F},${H},${W}]`);
  expectClose("decode --out .safetensors vs diffusers' expected", await file.readF32("video"), (await loadVaeGolden("wan-vae-tiny")).expected, TOL.model.f32);
  const report = JSON.parse(Deno.readTextFileSync(`${dir}/r.json`));
  const rows = report.perDevice.map((d: { y0: number; y1: number }) => `${d.y0}-${d.y1}`).join(",");
  if (report.devices !== 2 || rows !== "0-2,2-4" || report.video.F !== F) throw new Error(`unexpected report ${JSON.stringify(report).slice(0, 300)}`);
  if (!/decode: latent 3x4x6 -> 9 frames of 48x32 on 2 device\(s\)/.test(r.stdout)) throw new Error(`no summary line in ${r.stdout}`);
}, { ...DENO, tags: ["slow"] });

test("cli: decode to .gif and .apng (+ --frames): the files decode back to diffusers' 8-bit frames", async () => {
  const dir = tmp();
  const expected = (await loadVaeGolden("wan-vae-tiny")).expected;
  const want = Array.from({ length: F }, (_, f) => frameRgbRef(expected, F, H, W, f));
  const apng = await shardit("decode", "--vae", vaeDir, "--latents", io, "--out", `${dir}/v.apng`, "--frames", `${dir}/frames`);
  if (apng.code !== 0) throw new Error(`exit ${apng.code}: ${apng.stderr}`);
  // APNG is lossless: every byte of every frame. The f32 decode is within 1e-4 of diffusers' float64, so a
  // value near a rounding boundary may land one level off: allow that, count it, and bound it.
  const img = UPNG.decode(Deno.readFileSync(`${dir}/v.apng`).buffer);
  const frames = UPNG.toRGBA8(img).map((b) => rgbOf(new Uint8Array(b)));
  if (frames.length !== F || img.width !== W || img.height !== H) throw new Error(`APNG: ${frames.length} frames of ${img.width}x${img.height}`);
  let off = 0, worst = 0;
  frames.forEach((got, f) => {
    for (let i = 0; i < got.length; i++) {
      const e = Math.abs(got[i] - want[f][i]);
      if (e) off++;
      worst = Math.max(worst, e);
    }
  });
  if (worst > 1 || off > want.length * want[0].length * 1e-3) throw new Error(`APNG: ${off} bytes differ from diffusers' frames, worst by ${worst} levels`);
  for (let f = 0; f < F; f++) {
    const png = UPNG.decode(Deno.readFileSync(`${dir}/frames/frame_${String(f).padStart(3, "0")}.png`).buffer);
    expectSame(`--frames frame ${f} == APNG frame ${f}`, rgbOf(new Uint8Array(UPNG.toRGBA8(png)[0])), frames[f]);
  }
  const gif = await shardit("decode", "--vae", vaeDir, "--latents", io, "--out", `${dir}/v.gif`, "--devices", "3");
  if (gif.code !== 0) throw new Error(`exit ${gif.code}: ${gif.stderr}`);
  const reader = new (omggif as unknown as { GifReader: new (b: Uint8Array) => { numFrames(): number; decodeAndBlitFrameRGBA(i: number, o: Uint8Array): void } }).GifReader(Deno.readFileSync(`${dir}/v.gif`));
  if (reader.numFrames() !== F) throw new Error(`GIF has ${reader.numFrames()} frames, expected ${F}`);
  let sum = 0;
  for (let f = 0; f < F; f++) {
    const rgba = new Uint8Array(W * H * 4);
    reader.decodeAndBlitFrameRGBA(f, rgba);
    const got = rgbOf(rgba);
    for (let i = 0; i < got.length; i++) sum += Math.abs(got[i] - want[f][i]);
  }
  const mean = sum / (F * H * W * 3); // 256 colours a frame: test/io/video.test.ts measured 3.97 on these frames
  if (!(mean < 6)) throw new Error(`GIF: mean error ${mean.toFixed(2)} levels against diffusers' frames (bound 6)`);
}, { ...DENO, tags: ["slow"] });

test("cli: decode's bad input is one line naming the file, tensor or flag, and a non-zero exit", async () => {
  const dir = tmp();
  const cases: [string[], RegExp][] = [
    [["--latents", io, "--out", `${dir}/v.mp4`], /--out .*v\.mp4: unknown video extension "\.mp4" \(known: \.gif, \.apng, \.png, \.safetensors\)/],
    [["--latents", `${dir}/missing.safetensors`, "--out", `${dir}/v.gif`], /missing\.safetensors/],
    [["--latents", `${vaeDir}/config.json`, "--out", `${dir}/v.gif`], /config\.json/],
  ];
  // A latents file with 4 channels, and one without a `latents` tensor.
  const four = `${dir}/four.safetensors`, none = `${dir}/none.safetensors`;
  Deno.writeFileSync(four, encodeSafetensors({ latents: { dtype: "F32", shape: [1, 4, 2, 3, 3], data: new Float32Array(72) } }));
  Deno.writeFileSync(none, encodeSafetensors({ hidden_states: { dtype: "F32", shape: [1, 16, 1, 2, 2], data: new Float32Array(64) } }));
  cases.push([["--latents", four, "--out", `${dir}/v.gif`], /four\.safetensors: latents has 4 channels, the VAE's z_dim is 16 \(shape \[1,4,2,3,3\], expected \[1, 16, T, h, w\]\)/]);
  cases.push([["--latents", none, "--out", `${dir}/v.gif`], /none\.safetensors: no tensor "latents" \(found: hidden_states\)/]);
  cases.push([["--latents", io, "--out", `${dir}/v.gif`, "--devices", "5"], /5 devices for a latent height of 4 rows/]);
  for (const [args, pattern] of cases) {
    const r = await shardit("decode", "--vae", vaeDir, ...args);
    // shardit's own lines (the adapter's warnings and the backend note are not ours to judge).
    const lines = r.stderr.split("\n").filter((l) => l.startsWith("shardit:") && !l.startsWith("shardit: --webgpu auto uses"));
    if (r.code === 0 || lines.length !== 1 || !pattern.test(lines[0]) || /\bat \S+:\d+/.test(r.stderr)) {
      throw new Error(`decode ${args.join(" ")}: exit ${r.code}, expected one line matching ${pattern}, stderr: ${r.stderr.slice(0, 400)}`);
    }
  }
}, { ...DENO, tags: ["slow"] });

test("cli: generate --vae adds video.safetensors (== the one-device decode of its latents) and video.gif", async () => {
  const dir = tmp();
  // A 16-channel DiT (the wan-small fixture, its io.safetensors' encoder_hidden_states as the prompt): the
  // embedded model works in pixel space and takes no VAE.
  const small = `${root}test/fixtures/wan-small`;
  const r = await shardit("generate", "--model", small, "--text", `${small}/io.safetensors`, "--guidance", "1", "--steps", "2", "--devices", "2", "--latent", "3,6,10", "--vae", vaeDir, "--out", dir);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  const g = await loadVaeGolden("wan-vae-tiny");
  const latents = await (await Checkpoint.open([await denoFileSource(`${dir}/latents.safetensors`)])).readF32("latents");
  const file = await Checkpoint.open([await denoFileSource(`${dir}/video.safetensors`)]);
  const shape = file.info("video").shape.join(",");
  if (shape !== "1,3,9,48,80") throw new Error(`video has shape [${shape}], expected [1,3,9,48,80]`);
  const one = await withGpu(async (gpu) => {
    const dec = new WanVaeDecoder(gpu, g.cfg, g.weights, "f32");
    try {
      return await dec.decode(latentsToZ(latents, g.cfg), { F: 3, H: 6, W: 10 });
    } finally {
      dec.dispose();
    }
  });
  expectClose("generate --vae video vs one-device decode of its latents", await file.readF32("video"), one, TOL.sharded.f32);
  const gif = Deno.readFileSync(`${dir}/video.gif`);
  const reader = new (omggif as unknown as { GifReader: new (b: Uint8Array) => { numFrames(): number; width: number; height: number } }).GifReader(gif);
  if (reader.numFrames() !== 9 || reader.width !== 80 || reader.height !== 48) throw new Error(`video.gif: ${reader.numFrames()} frames of ${reader.width}x${reader.height}`);
  const summary = JSON.parse(Deno.readTextFileSync(`${dir}/summary.json`));
  if (summary.decode?.video?.F !== 9 || summary.decode.perDevice.length !== 2) throw new Error(`summary.decode ${JSON.stringify(summary.decode).slice(0, 200)}`);
}, { ...DENO, tags: ["slow"] });
