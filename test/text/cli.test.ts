// The CLI end to end on the tiny pipeline folder (test/text/tiny_pipeline.ts): `shardit encode` and
// `shardit generate --model DIR --prompt ... --vae DIR`, each in a fresh $SHARDIT_CACHE. Deno only.
import { bytesSource, Checkpoint } from "../../src/io/safetensors.ts";
import { expectClose, test, TOL } from "../../src/selftest/harness.ts";
import { assert } from "../io/util.ts";
import { makeTinyPipeline, sharedTinyPipeline } from "./tiny_pipeline.ts";
import { umt5TinyGolden } from "./util.ts";

const root = new URL("../../", import.meta.url).pathname;
const DENO = { hosts: ["deno" as const] };
const golden = umt5TinyGolden;
const pipeline = sharedTinyPipeline;

async function shardit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { SHARDIT_CACHE: Deno.makeTempDirSync({ prefix: "shardit-cache-" }) };
  const r = await new Deno.Command("node", { args: [`${root}bin/shardit.cjs`, ...args], stdout: "piped", stderr: "piped", cwd: root, env }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

test("cli: encode --model <pipeline> --prompt writes prompt_embeds (== transformers), input_ids and attention_mask (I64)", async () => {
  const { io, meta } = await golden();
  const out = `${Deno.makeTempDirSync()}/emb.safetensors`;
  const r = await shardit("encode", "--model", pipeline(), "--prompt", meta.cases[1].prompt, "--out", out);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  const bytes = Deno.readFileSync(out);
  const ck = await Checkpoint.open([bytesSource(out, bytes)]);
  const n = meta.cases[1].seq_len, emb = await ck.readF32("prompt_embeds");
  assert(ck.info("prompt_embeds").shape.join() === "1,512,32" && emb.subarray(n * 32).every((v) => v === 0), "prompt_embeds [1, 512, 32], zero past seq_len");
  expectClose("prompt_embeds rows", emb.subarray(0, n * 32), await io.readF32("expected.1"), TOL.model.f32);
  // the integer tensors, read from the header by hand (safetensors: u64 header length, JSON, data)
  const hlen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  const ints = (name: string) => {
    const [b, e] = header[name].data_offsets;
    assert(header[name].dtype === "I64" && header[name].shape.join() === "1,512", `${name}: ${JSON.stringify(header[name])}`);
    return Array.from(new BigInt64Array(bytes.slice(8 + hlen + b, 8 + hlen + e).buffer), Number);
  };
  const ids = ints("input_ids"), mask = ints("attention_mask");
  assert(ids.slice(0, n).join() === meta.cases[1].input_ids.join() && ids.slice(n).every((v) => v === 0), "input_ids");
  assert(mask.slice(0, n).every((v) => v === 1) && mask.slice(n).every((v) => v === 0), "attention_mask");
}, { ...DENO, tags: ["slow"] });

test("cli: generate --model <pipeline> --prompt --negative-prompt --vae makes a video; bad input is one line", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "shardit-gen-" });
  const r = await shardit("generate", "--model", pipeline(), "--prompt", "a red fox runs in the snow", "--negative-prompt", "", "--text-precision", "w8", "--steps", "2", "--latent", "1,2,4", "--vae", pipeline(), "--out", dir);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  assert(/prompt: \d+ umT5 tokens/.test(r.stdout) && /negative prompt: 1 umT5 tokens/.test(r.stdout), `stdout: ${r.stdout.slice(0, 400)}`);
  const gif = Deno.readFileSync(`${dir}/video.gif`);
  assert(new TextDecoder().decode(gif.subarray(0, 6)) === "GIF89a", "video.gif is a GIF");
  const video = await (await Checkpoint.open([bytesSource("v", Deno.readFileSync(`${dir}/video.safetensors`))])).readF32("video");
  assert(video.length === 3 * 1 * 16 * 32 && video.every(Number.isFinite), `video ${video.length} values`);
  const bad = Deno.makeTempDirSync();
  makeTinyPipeline(bad);
  Deno.removeSync(`${bad}/tokenizer`, { recursive: true });
  const b = await shardit("generate", "--model", bad, "--prompt", "a fox", "--steps", "1", "--latent", "1,2,4", "--out", dir);
  assert(b.code === 1 && /tokenizer\/tokenizer\.json: not found/.test(b.stderr), `no tokenizer: exit ${b.code}, ${b.stderr}`);
}, { ...DENO, tags: ["slow"] });

// --devices N: the layer split in the CLI; --gpus places each device through a Dawn instance of its own (DRI_PRIME
// at its enumeration; lavapipe has no PCI id, so Mesa's layer keeps the only device: the code path runs, the choice
// of GPU is not checked here). On Deno's own WebGPU, --gpus is refused in one line (it has one instance per thread).
test("cli: encode --devices 2 (layer split) == one device bitwise; --gpus places them through Dawn instances (or is one line without Dawn)", async () => {
  const { meta } = await golden();
  const dir = Deno.makeTempDirSync({ prefix: "shardit-split-" });
  const run = (name: string, ...extra: string[]) => shardit("encode", "--model", pipeline(), "--prompt", meta.cases[1].prompt, "--out", `${dir}/${name}.safetensors`, "--cache=off", ...extra);
  const embeds = async (name: string) => await (await Checkpoint.open([bytesSource(name, Deno.readFileSync(`${dir}/${name}.safetensors`))])).readF32("prompt_embeds");
  const one = await run("one"), two = await run("two", "--devices", "2");
  if (one.code !== 0 || two.code !== 0) throw new Error(`exit ${one.code} / ${two.code}: ${one.stderr}${two.stderr}`);
  assert(/umT5 layers over 2 devices: umt5 device 0 \[/.test(two.stdout), `--devices 2 names its devices: ${two.stdout.slice(0, 300)}`);
  const a = await embeds("one"), b = await embeds("two");
  assert(a.length === b.length && a.every((v, i) => Object.is(v, b[i])), "--devices 2 == --devices 1, bitwise");
  const ids = "pci-0000_00_00_0,pci-0000_00_00_1";
  const placed = await run("placed", "--devices", "2", "--gpus", ids);
  if (placed.code === 0) {
    assert(/umt5 device 0 \(pci-0000_00_00_0\) \[dawn: .*umt5 device 1 \(pci-0000_00_00_1\) \[dawn: /.test(placed.stdout), `placed devices: ${placed.stdout.slice(0, 300)}`);
    const c = await embeds("placed");
    assert(c.every((v, i) => Object.is(v, a[i])), "--gpus placed split == one device, bitwise");
  } else {
    const lines = placed.stderr.trim().split("\n");
    assert(placed.code === 1 && lines.length === 1 && /--gpus: placing umt5's 2 devices on different GPUs needs Dawn \(--webgpu dawn\); this process uses deno/.test(lines[0]), `without Dawn: exit ${placed.code}, ${placed.stderr}`);
  }
}, { ...DENO, tags: ["slow", "dawn"] });
