// A new user's first hour (issue 19): help per command from the one flag table each command parses with,
// Dawn's warnings kept off stderr, the prompt rules of the embedded model, the device-count default on a CPU
// adapter, selftest's lines, decode's missing-weights message and --scale. Deno only where the CLI is spawned.
// @ts-types="../../src/types/upng-js.d.ts"
import UPNG from "upng-js";
import { test } from "../../src/selftest/harness.ts";
import { type CommandSpec, commandHelp, HelpRequested, parseCommand, UsageError } from "../../src/cli/args.ts";
import { SPEC as GENERATE } from "../../src/cli/generate.ts";
import { SPEC as DECODE } from "../../src/cli/decode.ts";
import { SPEC as FORWARD } from "../../src/cli/forward.ts";
import { SPEC as PLAN } from "../../src/cli/plan.ts";
import { checkLine, SPEC as SELFTEST } from "../../src/cli/selftest.ts";
import { defaultDeviceCount, isCpuAdapter } from "../../src/cli/device_count.ts";
import { isDawnLogLine, withoutDawnLog } from "../../src/platform/dawn_quiet.ts";
import { encodePrompt, promptWords, quoteShort, type WordEncoder } from "../../src/loaders/text_encoder.ts";
import { checkEmbeddedPrompt } from "../../src/loaders/embedded.ts";
import { frameRgbRef } from "../../src/selftest/reference/video.ts";
import { writeVideo } from "../../src/cli/decode.ts";
import type { DecodeRun } from "../../src/pipeline/decode.ts";
import { Checkpoint } from "../../src/io/safetensors.ts";
import { denoFileSource } from "../../src/io/fs_deno.ts";
import { contactSheet } from "../../src/io/video.ts";
import { loadVaeGolden } from "../vae/util.ts";

const root = new URL("../../", import.meta.url).pathname;
const DENO_SLOW = { hosts: ["deno" as const], tags: ["slow" as const], timeoutMs: 300_000 };

async function shardit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command("node", { args: [`${root}bin/shardit.cjs`, ...args], stdout: "piped", stderr: "piped", cwd: root }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

async function expectThrows(what: string, fn: () => unknown, pattern: RegExp, type?: new (...a: never[]) => Error): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (type && !(e instanceof type)) throw new Error(`${what}: threw ${(e as Error).constructor.name}, expected ${type.name}`);
    if (pattern.test((e as Error).message)) return e as Error;
    throw new Error(`${what}: error "${(e as Error).message}" does not match ${pattern}`);
  }
  throw new Error(`${what}: no error`);
}

/** shardit's own stderr lines (not the backend note, which depends on the host's drivers). */
const ownLines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("shardit:") && !l.startsWith("shardit: --webgpu auto uses") && !l.startsWith("shardit: WebGPU is running on wgpu's OpenGL"));

// ---------------------------------------------------------------------------------------------
// Help and the flag tables

const SPECS: CommandSpec[] = [GENERATE, DECODE, FORWARD, PLAN, SELFTEST];

test("cli args: parseCommand accepts exactly the table's rows; --help/-h throw the table; required rows and switches", async () => {
  const spec: CommandSpec = {
    name: "demo",
    summary: "a command",
    flags: [{ name: "out", value: "DIR", default: "out", help: "where" }, { name: "model", value: "DIR", required: true, help: "which" }, { name: "overlap", default: "on", help: "a switch" }],
    examples: ["shardit demo --model m"],
  };
  const p = parseCommand(spec, ["--model", "m", "--overlap", "--out=o"]);
  if (p.flags.get("model") !== "m" || p.flags.get("overlap") !== true || p.flags.get("out") !== "o") throw new Error(`parsed ${JSON.stringify([...p.flags])}`);
  await expectThrows("unknown flag", () => parseCommand(spec, ["--model", "m", "--device", "2"]), /demo: unknown flag --device \(allowed: --out --model --overlap\)/, UsageError);
  await expectThrows("required", () => parseCommand(spec, ["--out", "o"]), /demo: --model is required/, UsageError);
  await expectThrows("stray", () => parseCommand(spec, ["--model", "m", "--overlap", "off"]), /unexpected argument "off"/, UsageError);
  for (const h of ["--help", "-h"]) {
    const e = await expectThrows(h, () => parseCommand(spec, ["--model", "m", h]), /help/, HelpRequested) as HelpRequested;
    for (const want of ["usage: shardit demo", "--out DIR", "(default: out)", "--model DIR", "(required)", "--overlap[=on|off]", "--webgpu auto|dawn|deno", "shardit demo --model m"]) {
      if (!e.text.includes(want)) throw new Error(`${h}: help lacks "${want}":\n${e.text}`);
    }
  }
});

test("cli: every command's --help (and -h) prints each row of its flag table with the defaults, exit 0, nothing on stderr", async () => {
  for (const spec of SPECS) {
    for (const h of spec.name === "generate" ? ["--help", "-h"] : ["--help"]) {
      const r = await shardit(spec.name, h);
      if (r.code !== 0 || r.stderr.trim()) throw new Error(`${spec.name} ${h}: exit ${r.code}, stderr: ${r.stderr}`);
      if (r.stdout.trim() !== commandHelp(spec)) throw new Error(`${spec.name} ${h}: the output is not the table's help:\n${r.stdout}`);
      for (const f of spec.flags) if (!r.stdout.includes(`--${f.name}`)) throw new Error(`${spec.name} ${h}: --${f.name} missing`);
    }
  }
  const gen = (await shardit("generate", "--help")).stdout;
  const flat = gen.replace(/\s+/g, " "); // the help wraps long lines
  for (const want of ['"a red circle moving down"', "14 words: a moving red green blue yellow white circle square triangle left right up down", "(default: 4 for the embedded model, 1 with --model; 1 on a CPU adapter"]) {
    if (!flat.includes(want)) throw new Error(`generate --help lacks ${want}`);
  }
  const top = await shardit("--help");
  if (top.code !== 0) throw new Error(`--help: exit ${top.code}`);
  for (const want of [...SPECS.map((s) => `  ${s.name} `), "--webgpu auto|dawn|deno", "14 words", "--steps 8"]) {
    if (!top.stdout.includes(want.replace("--steps 8", "8 steps"))) throw new Error(`shardit --help lacks "${want}":\n${top.stdout}`);
  }
}, DENO_SLOW);

// ---------------------------------------------------------------------------------------------
// Prompts

/** A two-word encoder: enough for the error messages. */
const tiny: WordEncoder = { vocab: ["a", "red"], tokenEmbedding: new Float32Array(2), positionEmbedding: new Float32Array(8), textDim: 1, maxWords: 8 };

test("prompts: sentence punctuation is ignored, an empty prompt is refused, errors echo at most 60 characters", async () => {
  const words = promptWords(`A red circle, moving UP. "Now!"`);
  if (words.join(" ") !== "a red circle moving up now") throw new Error(`promptWords: ${JSON.stringify(words)}`);
  for (const empty of ["", "   ", " . ", "?!"]) await expectThrows(`"${empty}"`, () => checkEmbeddedPrompt(empty), /the prompt is empty/);
  checkEmbeddedPrompt("a red circle moving up.");
  if (quoteShort("abc") !== '"abc"' || quoteShort("x".repeat(61)) !== `"${"x".repeat(60)}..." (61 characters)`) throw new Error(`quoteShort: ${quoteShort("x".repeat(61))}`);
  // 2,000 random letters in words: the message names a few, not all (it was 4.5 KB of stderr).
  const long = Array.from({ length: 400 }, (_, i) => `w${i}xyz`).join(" ");
  const e = await expectThrows("long", () => encodePrompt(tiny, long), /unknown words "w0xyz", "w1xyz", "w2xyz", "w3xyz", "w4xyz" and 395 more; the embedded model knows only: a red/);
  if (e.message.length > 300) throw new Error(`the message is ${e.message.length} characters: ${e.message}`);
  // Punctuation inside the vocabulary's words still counts as a word's end, and equal prompts encode the same.
  const a = encodePrompt(tiny, "a red."), b = encodePrompt(tiny, "A, red");
  if (a.join() !== b.join()) throw new Error("'a red.' and 'A, red' encode differently");
});

test("cli: generate refuses an empty --prompt in one line (exit 2), and a long unknown prompt in a short one", async () => {
  const empty = await shardit("generate", "--prompt", " . ");
  const lines = ownLines(empty.stderr);
  if (empty.code !== 2 || lines.length !== 1 || !/--prompt: the prompt is empty/.test(lines[0])) throw new Error(`exit ${empty.code}, stderr: ${empty.stderr}`);
  const long = await shardit("generate", "--prompt", "qz".repeat(1000));
  const longLines = ownLines(long.stderr);
  if (long.code === 0 || longLines.length !== 1 || longLines[0].length > 400 || !/\(2000 characters\)/.test(longLines[0])) {
    throw new Error(`exit ${long.code}, ${long.stderr.length} bytes of stderr: ${long.stderr.slice(0, 500)}`);
  }
}, DENO_SLOW);

// ---------------------------------------------------------------------------------------------
// Device count, Dawn's log, selftest lines

test("devices: one device on a CPU adapter or under 4 cores, with the reason; the preferred count elsewhere", () => {
  const lavapipe = { adapter: "llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1", fallback: true, cores: 2 };
  const cases: [number, { adapter: string; fallback: boolean; cores: number }, number, RegExp | null][] = [
    [4, lavapipe, 1, /1 device, not 4: the adapter \(llvmpipe.*\) is a CPU, and workers on it share its 2 cores \(--devices N overrides\)/],
    [4, { adapter: "google swiftshader", fallback: false, cores: 16 }, 1, /is a CPU/],
    [2, { adapter: "NVIDIA H100 80GB HBM3", fallback: false, cores: 2 }, 1, /this host has 2 logical cores/],
    [4, { adapter: "NVIDIA H100 80GB HBM3", fallback: false, cores: 16 }, 4, null],
    [1, lavapipe, 1, null],
  ];
  for (const [preferred, facts, want, why] of cases) {
    const got = defaultDeviceCount(preferred, facts);
    if (got.devices !== want || (why ? !why.test(got.why ?? "") : got.why !== undefined)) throw new Error(`${facts.adapter} (${preferred}): ${JSON.stringify(got)}`);
  }
  if (isCpuAdapter({ adapter: "AMD Radeon RX 7900 XTX", fallback: false })) throw new Error("a GPU taken for a CPU");
});

test("dawn log: Dawn's warning lines (and their location lines) are dropped, everything else kept in order", () => {
  // What dawn.node printed on this project's machines (Mesa 25 lavapipe; no Vulkan loader at all).
  const text = [
    "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.",
    "shardit: something of ours",
    "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file: No such file or directory",
    "    at operator() (/home/runner/work/node-webgpu/node-webgpu/third_party/dawn/src/dawn/native/vulkan/BackendVk.cpp:368)",
    "",
    "Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.", // Mesa 22's lavapipe
    " - While initializing adapter (backend=BackendType::Vulkan)",
    "    at InitializeImpl (/home/runner/work/node-webgpu/node-webgpu/third_party/dawn/src/dawn/native/vulkan/PhysicalDeviceVk.cpp:257)",
    "",
    " - a line of ours that starts like a context line",
    "step 1/8 Warning: not at the start",
    "",
  ].join("\n");
  const kept = withoutDawnLog(text);
  if (kept !== "shardit: something of ours\n - a line of ours that starts like a context line\nstep 1/8 Warning: not at the start\n") throw new Error(`kept ${JSON.stringify(kept)}`);
  if (isDawnLogLine("shardit: Warning: x") || !isDawnLogLine("Warning: x")) throw new Error("isDawnLogLine");
});

test("selftest: its lines drop the runner's host label (the implementation is named once above)", () => {
  const cases = [["ok   deno rms_norm f32 1x24 (12 ms)", "ok   rms_norm f32 1x24 (12 ms)"], ["FAIL deno gemm 3x3: bad", "FAIL gemm 3x3: bad"], ["skip browser x (0 ms): no f16", "skip x (0 ms): no f16"]];
  for (const [line, want] of cases) if (checkLine(line) !== want) throw new Error(`${line} -> ${checkLine(line)}`);
});

test("cli: selftest names the implementation, prints one line per check and a summary, and no Dawn log or GPU error on stderr", async () => {
  const r = await shardit("selftest", "--filter", "runtime: a validation error");
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stdout}\n${r.stderr}`);
  const out = r.stdout.trim().split("\n");
  if (!/^selftest on (Dawn \(the webgpu package\)|Deno's WebGPU \(wgpu\)): /.test(out[0])) throw new Error(`first line: ${out[0]}`);
  if (out.length !== 3 || !/^ok {3}runtime: a validation error/.test(out[1]) || !/^selftest: 1 passed, 0 failed, 0 skipped on (dawn|deno)$/.test(out[2])) throw new Error(`stdout:\n${r.stdout}`);
  // The check makes an invalid bind group on purpose: its later errors must not reach the terminal.
  const stray = r.stderr.split("\n").filter((l) => isDawnLogLine(l) || /Invalid (BindGroup|CommandBuffer)/.test(l));
  if (stray.length) throw new Error(`stderr: ${r.stderr}`);
}, DENO_SLOW);

// ---------------------------------------------------------------------------------------------
// decode

test("cli: decode names missing VAE weights in one line", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "shardit-first-hour-" });
  const vaeDir = `${root}test/fixtures/wan-vae-tiny`, io = `${vaeDir}/io.safetensors`;
  const bare = `${dir}/bare-vae`;
  Deno.mkdirSync(bare);
  Deno.copyFileSync(`${vaeDir}/config.json`, `${bare}/config.json`);
  Deno.copyFileSync(io, `${bare}/io.safetensors`); // a safetensors file, but not the VAE's weights
  const missing = await shardit("decode", "--vae", bare, "--latents", io, "--out", `${dir}/v.gif`);
  const lines = ownLines(missing.stderr);
  if (missing.code === 0 || lines.length !== 1 || !/VAE weights missing: .*io\.safetensors holds none of the decoder's \d+ tensors .*diffusion_pytorch_model\.safetensors/.test(lines[0])) {
    throw new Error(`exit ${missing.code}, stderr: ${missing.stderr}`);
  }
}, DENO_SLOW);

// decode --scale goes through writeVideo; here with diffusers' own decoded video in place of a decode run
// (the GPU decode itself is checked in decode.test.ts), so no GPU time is spent.
test("decode --scale 2 (writeVideo): the .apng and --frames are twice the size, == diffusers' frames by nearest neighbour; .safetensors unscaled", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "shardit-first-hour-" });
  const F = 9, H = 32, W = 48; // wan-vae-tiny: 9 frames of 48x32
  const expected = (await loadVaeGolden("wan-vae-tiny")).expected; // [3, F, H, W] in [-1, 1]
  const run = { video: expected, videoGrid: { F, H, W }, plan: { h: 4, devices: 1, bands: [] }, stats: [], ms: 0 } as unknown as DecodeRun;
  const written = await writeVideo(run, `${dir}/v.apng`, `${dir}/frames`, 16, 2);
  if (written.length !== 2) throw new Error(`wrote ${written.join(", ")}`);
  const img = UPNG.decode(Deno.readFileSync(`${dir}/v.apng`).buffer);
  const frames = UPNG.toRGBA8(img).map((b) => new Uint8Array(b));
  if (frames.length !== F || img.width !== 2 * W || img.height !== 2 * H) throw new Error(`APNG: ${frames.length} frames of ${img.width}x${img.height}, expected ${F} of ${2 * W}x${2 * H}`);
  let worst = 0;
  for (let f = 0; f < F; f++) {
    const want = frameRgbRef(expected, F, H, W, f); // [H, W, 3]
    for (let y = 0; y < 2 * H; y++) {
      for (let x = 0; x < 2 * W; x++) {
        for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(frames[f][(y * 2 * W + x) * 4 + c] - want[((y >> 1) * W + (x >> 1)) * 3 + c]));
      }
    }
  }
  if (worst > 0) throw new Error(`--scale 2 frames differ from diffusers' by up to ${worst} levels`);
  const f8 = UPNG.decode(Deno.readFileSync(`${dir}/frames/frame_008.png`).buffer);
  if (f8.width !== 2 * W || f8.height !== 2 * H) throw new Error(`--frames: ${f8.width}x${f8.height}`);
  await writeVideo(run, `${dir}/v.safetensors`, undefined, 16, 2);
  const st = await Checkpoint.open([await denoFileSource(`${dir}/v.safetensors`)]);
  if (st.info("video").shape.join() !== `1,3,${F},${H},${W}`) throw new Error(`.safetensors shape ${st.info("video").shape}`);
}, { hosts: ["deno"] });

test("contact sheet (generate's video.png): 8 frames are 4 x 2, no empty cell; 9 stay 3 x 3; 7 keep the square layout", () => {
  const frames = (n: number) => Array.from({ length: n }, () => new Uint8Array(4 * 4 * 3));
  for (const [n, w, h] of [[8, 4 * 4 + 3 * 2, 2 * 4 + 2], [9, 3 * 4 + 2 * 2, 3 * 4 + 2 * 2], [7, 3 * 4 + 2 * 2, 3 * 4 + 2 * 2]]) {
    const s = contactSheet(frames(n), 4, 4);
    if (s.width !== w || s.height !== h) throw new Error(`${n} frames: ${s.width}x${s.height}, expected ${w}x${h}`);
  }
});
