// The command line as users call it (`node bin/shardit.cjs ...`, what `npx shardit` runs): outputs
// checked against the golden fixtures, and bad input giving one clear line and a non-zero exit.
import { denoFileSource } from "../../src/io/fs_deno.ts";
import { Checkpoint, encodeSafetensors } from "../../src/io/safetensors.ts";
import { expectClose, test, TOL } from "../../src/selftest/harness.ts";
import { loadGolden } from "../model/util.ts";

const root = new URL("../../", import.meta.url).pathname;
const fixture = (name: string, file: string) => `${root}test/fixtures/${name}/${file}`;

async function shardit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command("node", { args: [`${root}bin/shardit.cjs`, ...args], stdout: "piped", stderr: "piped", cwd: root }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

async function readOutput(path: string, name = "output"): Promise<Float32Array> {
  return await (await Checkpoint.open([await denoFileSource(path)])).readF32(name);
}

const tmp = () => Deno.makeTempDirSync({ prefix: "shardit-cli-" });

for (const shard of ["sequence", "frame"]) {
  test(`cli: forward --devices 3 --shard ${shard} on wan-small == diffusers, with a report`, async () => {
    const dir = tmp();
    const r = await shardit("forward", "--model", fixture("wan-small", ""), "--input", fixture("wan-small", "io.safetensors"), "--out", `${dir}/out.safetensors`, "--devices", "3", "--shard", shard, "--report", `${dir}/report.json`);
    if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
    expectClose(`forward ${shard} x3`, await readOutput(`${dir}/out.safetensors`), (await loadGolden("wan-small")).expected, TOL.model.f32);
    const report = JSON.parse(Deno.readTextFileSync(`${dir}/report.json`));
    const expectPad = shard === "frame" ? 42 : 0; // 5 frames of 42 tokens padded to 6 frames
    if (report.tokens !== 210 || report.devices !== 3 || report.shard !== shard || report.padTokens !== expectPad || report.perDevice.length !== 3) {
      throw new Error(`unexpected report ${JSON.stringify(report).slice(0, 300)}`);
    }
    if (report.perDevice.reduce((a: number, d: { tokens: number }) => a + d.tokens, 0) !== 210) throw new Error("per-device tokens do not sum to 210");
  }, { tags: ["slow"], hosts: ["deno"] });
}

test("cli: generate --prompt on the embedded model writes the clip (gif, contact sheet, video.safetensors == the latents' pixels) and summary", async () => {
  const dir = tmp();
  const r = await shardit("generate", "--prompt", "a green square moving up", "--steps", "2", "--devices", "2", "--out", dir, "--latent", "3,6,10", "--frames", `${dir}/frames`);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  const latents = await readOutput(`${dir}/latents.safetensors`, "latents"); // [1, 12, 3, 6, 10]: the pixel latent
  if (latents.length !== 12 * 3 * 6 * 10 || latents.some((v) => !Number.isFinite(v))) throw new Error("latents missing or not finite");
  // video [1, 3, 3, 12, 20] = depth-to-space of the latents (pixel_shuffle: channel c*4 + a*2 + b), clamped.
  const video = await readOutput(`${dir}/video.safetensors`, "video");
  const want = new Float32Array(3 * 3 * 12 * 20);
  for (let c = 0; c < 3; c++) for (let f = 0; f < 3; f++) for (let y = 0; y < 12; y++) for (let x = 0; x < 20; x++) {
    const v = latents[(((c * 4 + (y % 2) * 2 + (x % 2)) * 3 + f) * 6 + (y >> 1)) * 10 + (x >> 1)];
    want[((c * 3 + f) * 12 + y) * 20 + x] = Math.min(1, Math.max(-1, v));
  }
  expectClose("video.safetensors vs the latents' pixels", video, want, 0);
  const gif = Deno.readFileSync(`${dir}/video.gif`);
  if (new TextDecoder().decode(gif.subarray(0, 6)) !== "GIF89a") throw new Error("video.gif is not a GIF");
  for (const png of [`${dir}/video.png`, `${dir}/frames/frame_000.png`, `${dir}/frames/frame_002.png`]) {
    const b = Deno.readFileSync(png);
    if (b[1] !== 0x50 || b[2] !== 0x4e || b[3] !== 0x47) throw new Error(`${png} is not a PNG`);
  }
  const summary = JSON.parse(Deno.readTextFileSync(`${dir}/summary.json`));
  if (summary.tokens !== 45 || summary.steps !== 2 || summary.padTokens !== 0 || summary.framePadTokens !== 15 || summary.prompt !== "a green square moving up") {
    throw new Error(`summary ${JSON.stringify(summary).slice(0, 200)}`);
  }
  if (!/step 2\/2/.test(r.stdout)) throw new Error(`no progress line in ${r.stdout}`);
}, { tags: ["slow", "dawn"], hosts: ["deno"] });

test("cli: generate --prompt errors: an unknown word lists the vocabulary; --prompt with a --model folder without tokenizer/, or with --text", async () => {
  await expectFailure(["generate", "--prompt", "a red cat moving left"], /unknown word "cat".*knows only: a moving red green blue yellow white circle square triangle left right up down/);
  // with --model, --prompt goes through the pipeline's umT5: a bare transformer folder has no tokenizer/ (test/text/cli.test.ts runs a whole pipeline)
  await expectFailure(["generate", "--prompt", "a red circle moving left", "--model", fixture("wan-small", "")], /tokenizer\/tokenizer\.json: not found \(a Wan pipeline folder has tokenizer\//);
  await expectFailure(["generate", "--prompt", "a red circle moving left", "--text", fixture("wan-small", "io.safetensors")], /--prompt or --text, not both/);
}, { tags: ["slow"], hosts: ["deno"] });

// Ctrl-C (SIGINT) during generate: the run stops within a step, nothing is written, exit status 130.
test("cli: generate stops cleanly on Ctrl-C, writes nothing and exits 130", async () => {
  const dir = tmp();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", `${root}src/cli/main.ts`, "generate", "--steps", "500", "--devices", "2", "--latent", "3,6,10", "--out", dir],
    stdout: "piped",
    stderr: "piped",
    cwd: root,
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let stdout = "";
  while (!/step +1\/500/.test(stdout)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`generate ended before its first step: ${stdout}`);
    stdout += value;
  }
  const t0 = performance.now();
  child.kill("SIGINT");
  const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text(), (async () => {
    for (;;) if ((await reader.read()).done) return;
  })()]);
  const ms = performance.now() - t0;
  if (status.code !== 130) throw new Error(`exit ${status.code} (signal ${status.signal}), expected 130; stderr: ${stderr}`);
  if (!/cancelled after \d+\/500 steps; nothing written/.test(stderr)) throw new Error(`stderr: ${stderr}`);
  if (ms > 60_000) throw new Error(`took ${ms.toFixed(0)} ms to stop`);
  if ([...Deno.readDirSync(dir)].length) throw new Error(`files were written to ${dir}`);
}, { tags: ["slow"], hosts: ["deno"] });

// Bad input: one line on stderr naming the problem, non-zero exit, no stack trace.
async function expectFailure(args: string[], pattern: RegExp) {
  const r = await shardit(...args);
  const lines = r.stderr.trim().split("\n").filter((l) => !/^(loading|\s*$)/.test(l));
  if (r.code === 0) throw new Error(`expected failure, got exit 0 for ${args.join(" ")}`);
  if (lines.length !== 1 || !pattern.test(lines[0]) || /\bat \S+:\d+/.test(r.stderr)) {
    throw new Error(`expected one line matching ${pattern}, got: ${r.stderr}`);
  }
}

test("cli: clear one-line errors for bad input", async () => {
  const dir = tmp();
  const io = fixture("wan-small", "io.safetensors");
  const model = fixture("wan-small", "");
  await expectFailure(["forward", "--model", model, "--input", `${dir}/missing.safetensors`, "--out", `${dir}/o`], /missing\.safetensors/);
  await expectFailure(["forward", "--model", `${dir}/nowhere`, "--input", io, "--out", `${dir}/o`], /nowhere/);
  await expectFailure(["forward", "--model", model, "--input", io, "--out", `${dir}/o`, "--devices", "0"], /--devices/);
  await expectFailure(["forward", "--model", model, "--input", io, "--out", `${dir}/o`, "--shard", "rows"], /--shard/);
  await expectFailure(["forward", "--model", model, "--input", io, "--out", `${dir}/o`, "--device", "2"], /unknown flag --device/);
  await expectFailure(["generate", "--overlap", "off"], /generate: unexpected argument "off".*--overlap=off/);
  await expectFailure(["forward", "--model", model, "--input", io, "--out", `${dir}/o`, "--devices", "2", "--weights", "1"], /--weights/);
  // An input whose latent has the wrong channel count for the model.
  const bad = `${dir}/bad-io.safetensors`;
  Deno.writeFileSync(bad, encodeSafetensors({
    hidden_states: { dtype: "F32", shape: [1, 3, 1, 2, 2], data: new Float32Array(12) },
    encoder_hidden_states: { dtype: "F32", shape: [1, 2, 64], data: new Float32Array(128) },
    timestep: { dtype: "F32", shape: [1], data: Float32Array.of(1) },
  }));
  await expectFailure(["forward", "--model", model, "--input", bad, "--out", `${dir}/o`], /bad-io\.safetensors: hidden_states has 3 channels.*16/);
  // An input with a NaN in its latent: refused before anything runs, naming the tensor and the position.
  const nan = `${dir}/nan-io.safetensors`;
  const latent = new Float32Array(16 * 1 * 2 * 2);
  latent[5] = NaN;
  Deno.writeFileSync(nan, encodeSafetensors({
    hidden_states: { dtype: "F32", shape: [1, 16, 1, 2, 2], data: latent },
    encoder_hidden_states: { dtype: "F32", shape: [1, 2, 64], data: new Float32Array(128) },
    timestep: { dtype: "F32", shape: [1], data: Float32Array.of(1) },
  }));
  await expectFailure(["forward", "--model", model, "--input", nan, "--out", `${dir}/o`], /nan-io\.safetensors: hidden_states has 1 non-finite value \(first NaN at index 5\)/);
  // A truncated checkpoint.
  const trunc = `${dir}/trunc`;
  Deno.mkdirSync(trunc);
  Deno.copyFileSync(fixture("wan-small", "config.json"), `${trunc}/config.json`);
  Deno.writeFileSync(`${trunc}/model.safetensors`, Deno.readFileSync(fixture("wan-small", "model.safetensors")).subarray(0, 5000));
  await expectFailure(["forward", "--model", trunc, "--input", io, "--out", `${dir}/o`], /model\.safetensors/);
  await expectFailure(["plan", "--latent", "21,61,104", "--devices", "4"], /even|61/);
  await expectFailure(["frobnicate"], /unknown command "frobnicate"/);
}, { tags: ["slow"], hosts: ["deno"], timeoutMs: 180_000 });
