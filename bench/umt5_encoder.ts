// umT5 text encoder bench (issue 21): correctness first, then load and encode time beside torch.
//   1. transformers' float64 goldens (test/fixtures/umt5-tiny, umt5-odd) through the loader and the GPU encoder;
//   2. the full umT5-XXL dims (d 4096, 64 x 64 heads, d_ff 10240) with --rule-layers layers of weights by the
//      fixtures' rule, against bench/torch_umt5.py's float64 output (--expected, written by the same command);
//   3. --layers (24) layers on the GPU (the rule layers repeated: the time does not depend on the values), for each
//      of --precisions (f32: all f32; w16: f16 weights through gemm_w16, f32 activations): upload time, then
//      encode time of a --tokens (512) prompt (embedding rows in, last hidden state out), TFLOP/s, and the ratio
//      to torch fp32 / bf16 from --torch JSON (bench/torch_umt5.py --json).
// usage: deno run -A bench/umt5_encoder.ts [--webgpu dawn] --expected /tmp/umt5_expected.safetensors --torch /tmp/torch_umt5.json
//        [--tokens 512] [--layers 24] [--rule-layers 2] [--iters 5] [--precisions f32,w16,w8] [--json out.json]
import { benchEnv, printEnv } from "./common.ts";
import { Gpu } from "../src/gpu/device.ts";
import { bytesSource, Checkpoint } from "../src/io/safetensors.ts";
import { syntheticTensor } from "../src/loaders/synthetic.ts";
import { UMT5_XXL, type Umt5Config, Umt5Encoder, type Umt5LayerWeights, type Umt5Precision } from "../src/model/umt5.ts";
import { gatherEmbeddingRows, loadUmt5Encoder, parseUmt5Config, UMT5_FINAL_NORM, umt5LayerTensors } from "../src/loaders/umt5.ts";
import { relL2 } from "../src/selftest/harness.ts";
import { TOL } from "../src/tolerances.ts";

const args = Deno.args;
const opt = (name: string, def: string) => (args.includes(`--${name}`) ? args[args.indexOf(`--${name}`) + 1] : def);
const tokens = Number(opt("tokens", "512")), layers = Number(opt("layers", "24")), ruleLayers = Number(opt("rule-layers", "2"));
const precisions = opt("precisions", "f32,w16,w8").split(",") as Umt5Precision[];
const iters = Number(opt("iters", "5")), expectedPath = opt("expected", ""), torchPath = opt("torch", ""), jsonPath = opt("json", "");
const fixtures = new URL("../test/fixtures/", import.meta.url);
const report: Record<string, unknown> = { tokens, layers, ruleLayers };
let ok = true;

const gpu = await Gpu.create({ label: "umt5 bench" });
const env = benchEnv(gpu);
printEnv(env);
report.env = env;

// 1. transformers' goldens
for (const f of ["umt5-tiny", "umt5-odd"]) {
  const read = (file: string) => Deno.readFileSync(new URL(`${f}/${file}`, fixtures));
  const cfg = parseUmt5Config(JSON.parse(new TextDecoder().decode(read("config.json"))), `${f}/config.json`);
  const ck = await Checkpoint.open([bytesSource(`${f}/model.safetensors`, read("model.safetensors"))]);
  const io = await Checkpoint.open([bytesSource(`${f}/io.safetensors`, read("io.safetensors"))]);
  const meta = JSON.parse(new TextDecoder().decode(read("io.json"))) as { cases: { input_ids: number[]; seq_len: number }[] };
  const enc = await loadUmt5Encoder(gpu, ck, cfg, f);
  const errs: number[] = [];
  for (const [i, c] of meta.cases.entries()) errs.push(relL2(await enc.encode(await gatherEmbeddingRows(ck, cfg, c.input_ids)), await io.readF32(`expected.${i}`)));
  enc.free();
  const worst = Math.max(...errs);
  ok &&= worst <= TOL.model.f32;
  console.log(`check ${f} vs transformers float64 (${meta.cases.map((c) => c.seq_len).join(", ")} tokens): worst rel L2 ${worst.toExponential(2)} ${worst <= TOL.model.f32 ? "ok" : "FAIL"}`);
  report[`check_${f}`] = worst;
}

// 2. full dims, rule weights
const cfgOf = (n: number): Umt5Config => ({ ...UMT5_XXL, layers: n });
const t0 = performance.now();
const rule: Umt5LayerWeights[] = [];
for (let i = 0; i < ruleLayers; i++) {
  const w = {} as Umt5LayerWeights;
  for (const t of umt5LayerTensors(UMT5_XXL, i)) w[t.key] = syntheticTensor(t.name, t.shape);
  rule.push(w);
}
const finalNorm = syntheticTensor(UMT5_FINAL_NORM, [UMT5_XXL.dModel]);
const x = syntheticTensor("input.hidden_states", [tokens, UMT5_XXL.dModel]);
console.log(`rule weights for ${ruleLayers} full-size layers: ${((performance.now() - t0) / 1000).toFixed(1)} s (host)`);
const expected = expectedPath ? await (await Checkpoint.open([bytesSource(expectedPath, Deno.readFileSync(expectedPath))])).readF32("expected") : null;
const d = UMT5_XXL.dModel, inner = UMT5_XXL.heads * UMT5_XXL.dKv, ff = UMT5_XXL.dFf;
const flops = layers * (2 * tokens * d * inner * 4 + 2 * tokens * d * ff * 3 + 4 * tokens * tokens * inner);
const torch = torchPath ? JSON.parse(Deno.readTextFileSync(torchPath)) as Record<string, number> : {};
for (const precision of precisions) {
  if ((precision === "w16" || precision === "f16") && !gpu.features.f16) {
    console.log(`${precision}: skipped (no shader-f16)`);
    continue;
  }
  // w8: int8 weights carry their own error (about 1e-2 relative at these dims): reported, held to 5e-2
  const bound = precision === "f32" ? TOL.model.f32 : precision === "w8" ? 5e-2 : TOL.model.f16;
  if (expected) {
    const enc = new Umt5Encoder(gpu, cfgOf(ruleLayers), precision);
    rule.forEach((w, i) => enc.addLayer(i, w));
    enc.setFinalNorm(finalNorm);
    const err = relL2(await enc.encode(x), expected);
    enc.free();
    ok &&= err <= bound;
    console.log(`check ${precision}: umT5-XXL dims, ${ruleLayers} rule layers, ${tokens} tokens vs torch float64: rel L2 ${err.toExponential(2)} ${err <= bound ? "ok" : "FAIL"} (bound ${bound})`);
    report[`check_full_dims_${precision}`] = err;
  }
  // the whole stack
  const tl = performance.now();
  const enc = new Umt5Encoder(gpu, cfgOf(layers), precision);
  for (let i = 0; i < layers; i++) enc.addLayer(i, rule[i % ruleLayers]);
  enc.setFinalNorm(finalNorm);
  await gpu.sync();
  const loadMs = performance.now() - tl;
  const weightGB = layers * (4 * d * inner + 3 * d * ff) * (precision === "f32" ? 4 : precision === "w8" ? 1 : 2) / 1e9;
  console.log(`load ${precision}: ${layers} layers (${weightGB.toFixed(1)} GB) host -> GPU in ${(loadMs / 1000).toFixed(2)} s`);
  await enc.encode(x);
  const times: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t = performance.now();
    await enc.encode(x);
    times.push(performance.now() - t);
  }
  enc.free();
  const ms = Math.min(...times);
  const ratio = (k: string) => (torch[k] ? ` | torch ${k.replace("_ms", "")} ${torch[k].toFixed(1)} ms (shardit / torch ${(ms / torch[k]).toFixed(2)}x)` : "");
  console.log(`encode ${precision}: ${tokens} tokens x ${layers} layers: ${ms.toFixed(1)} ms (best of ${iters}: ${times.map((t) => t.toFixed(0)).join(", ")}), ${(flops / ms / 1e9).toFixed(2)} TFLOP/s${ratio("fp32_ms")}${ratio("bf16_ms")}`);
  report[precision] = { loadMs, encodeMs: ms, encodeMsAll: times, tflops: flops / ms / 1e9 };
}
report.torch = torch;
report.ok = ok;
if (jsonPath) Deno.writeTextFileSync(jsonPath, JSON.stringify(report, null, 1));
gpu.destroy();
console.log(ok ? "umt5 bench: checks passed" : "umt5 bench: a check FAILED");
Deno.exit(ok ? 0 : 1);
