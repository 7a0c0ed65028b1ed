// Time to a whole video (issue 17, item 6): a Wan2.1-1.3B-dims DiT (synthetic weights, the fixtures' rule) at
// 480p / 81 frames (latent 21,60,104: 32,760 tokens, text 512) through the denoising loop, then the VAE decode
// (Wan2.1's VAE dims, synthetic weights), for four settings:
//   a  UniPC 50 steps, guidance 5, sequential CFG (two forwards per step)
//   b  the same with batched CFG (one forward over a batch of 2)
//   c  b + TeaCache at 0.08 (its plan over the 50 steps from the devices' own timestep modulation)
//   d  the 4-step guidance-1 preset (lightx2v-4step: src/sampler/presets.ts), one forward per step
// and beside each the same settings in the torch twin (bench/torch_wan.py --batches 1,2: whole forwards over
// batches of 1 and 2 and a cached step; bench/torch_vae.py: the decode), measured in the same call.
//
// A 50-step video at 7.7 s per forward is far beyond one 10-minute call, so the loop is MEASURED for
// --steps-measured steps per setting (after a warm-up that compiles every pipeline) and EXTRAPOLATED to the
// setting's steps: a and b: steps x the mean measured step; c: the plan's computed steps x the measured
// computed step + its cached steps x the measured cached step (an explicit plan [computed, cached, ...] is
// what is timed); d: its 4 steps (measured whole when --steps-measured >= 4). The output says which numbers
// are measured and which extrapolated. Torch's video times are built from its measured forwards the same way.
//
// Correctness first: the wan-small golden forward through the same pool (1e-4 f32 / 1e-2 f16 against diffusers'
// float64), and CFG parallel on two workers of the one device (1 + 1) against the sequential loop on one worker:
// each group runs exactly the one-device forward, so they must be equal bit for bit (it cannot be faster there:
// a correctness run, timed for the record).
//
//   deno run -A bench/time_to_video.ts [--latent 21,60,104] [--layers 30] [--precision f16] [--steps-measured 2]
//       [--configs a,b,c,d] [--devices 1] [--vae on|off] [--torch torch_loop.json] [--torch-vae torch_vae.json]
//       [--small] [--json out.json] [--from ttv.json]
// --from: no GPU work: the table again from an earlier run's --json and the torch JSONs given now (torch's twins
// may run after shardit in a call, or time out: the shardit figures stand alone, the torch columns say "-").
// --small: wan-small's dims, latent 3,8,8, text 16 and the wan-vae-small config: the CPU check of the whole path.
// --layers N < 30 runs N blocks and scales the forward's blocks to 30 (stated in the output).
import { Gpu } from "../src/gpu/device.ts";
import type { DType } from "../src/shape.ts";
import { bytesSource, Checkpoint } from "../src/io/safetensors.ts";
import { loadWanWeights } from "../src/loaders/checkpoint.ts";
import type { WanConfig } from "../src/model/config.ts";
import { parseWanConfig, presetConfig } from "../src/loaders/config.ts";
import { readForwardInputs } from "../src/loaders/inputs.ts";
import { syntheticInputs, syntheticTensor, syntheticWeights } from "../src/loaders/synthetic.ts";
import { syntheticModel } from "../src/loaders/synthetic_model.ts";
import { planShards, tokenGridFromLatent } from "../src/parallel/plan.ts";
import { WorkerPool } from "../src/parallel/pool.ts";
import { generate, type GenerateOptions, type GenerateResult, setPrompts } from "../src/pipeline/generate.ts";
import { decodeLatents } from "../src/pipeline/decode.ts";
import { teaCacheInput, teaCachePlan } from "../src/pipeline/step_cache.ts";
import { flowSigmas, flowTimesteps, type SamplerConfig } from "../src/sampler/flow_match.ts";
import { presetSampler } from "../src/sampler/presets.ts";
import { parseWanVaeConfig, WAN21_VAE, type WanVaeConfig } from "../src/vae/config.ts";
import { syntheticLatents, syntheticVaeWeights } from "../src/vae/synthetic.ts";
import { relL2 } from "../src/selftest/harness.ts";
import { benchArgs, benchEnv, printEnv, printTable, writeJson } from "./common.ts";

const args = benchArgs("bench/time_to_video.ts", ["latent", "layers", "precision", "steps-measured", "configs", "devices", "vae", "torch", "torch-vae", "small", "json", "text", "from"], ["small"]);
const small = args.has("small");
const [F, H, W] = (args.get("latent") ?? (small ? "3,8,8" : "21,60,104")).split(",").map(Number);
const FULL_LAYERS = small ? 2 : 30;
const layers = Number(args.get("layers") ?? FULL_LAYERS);
const dtype = (args.get("precision") ?? (small ? "f32" : "f16")) as DType;
const measured = Number(args.get("steps-measured") ?? 2);
const configs = (args.get("configs") ?? "a,b,c,d").split(",");
const devices = Number(args.get("devices") ?? 1);
const withVae = (args.get("vae") ?? "on") === "on";
const textLen = Number(args.get("text") ?? (small ? 16 : 512));
const TOL = { f32: 1e-4, f16: 1e-2 };
if (!(measured >= 2)) throw new Error(`--steps-measured must be at least 2 (a computed and a cached step for c), got ${args.get("steps-measured")}`);

const latent = { F, H, W };
const grid = tokenGridFromLatent(latent);
const L = grid.F * grid.H * grid.W;
const cfg: WanConfig = { ...(small ? presetConfig("wan-small") : presetConfig("wan2.1-t2v-1.3b")), numLayers: layers };
const vaeCfg: WanVaeConfig = small
  ? parseWanVaeConfig(JSON.parse(await Deno.readTextFile(new URL("../test/fixtures/wan-vae-small/config.json", import.meta.url))), "wan-vae-small")
  : WAN21_VAE;

type Row = { config: string; steps: number; forwardsPerStep: number; computedSteps: number; measuredSteps: number; stepMs: number; cachedStepMs?: number; ditS: number; extrapolated: boolean };
const from = args.get("from");
if (!from) {
  const gpu = await Gpu.create({ label: "bench", requireF16: dtype === "f16" });
  printEnv(benchEnv(gpu));
  gpu.destroy();
}
if (!from) console.log(`time to video: d ${cfg.dim} (${cfg.heads} x ${cfg.headDim}), ffn ${cfg.ffnDim}, ${layers} of ${FULL_LAYERS} layers run${layers < FULL_LAYERS ? ` (blocks scaled x${FULL_LAYERS / layers})` : ""}, latent ${F}x${H}x${W} = ${L} tokens, text ${textLen}, ${dtype}, ${devices} device(s)`);

// ---- Correctness first -------------------------------------------------------------------------------
async function golden() {
  const dir = new URL("../test/fixtures/wan-small/", import.meta.url);
  const gcfg = parseWanConfig(JSON.parse(await Deno.readTextFile(new URL("config.json", dir))), "wan-small/config.json");
  const ckpt = await Checkpoint.open([bytesSource("wan-small/model.safetensors", await Deno.readFile(new URL("model.safetensors", dir)))]);
  const io = bytesSource("wan-small/io.safetensors", await Deno.readFile(new URL("io.safetensors", dir)));
  return { cfg: gcfg, weights: await loadWanWeights(ckpt, gcfg), inputs: await readForwardInputs(io, gcfg), expected: await (await Checkpoint.open([io])).readF32("expected") };
}

const results: Record<string, unknown> = { latent, tokens: L, layers, fullLayers: FULL_LAYERS, precision: dtype, devices, stepsMeasured: measured };
let failed = false;
if (from) {
  const r = JSON.parse(await Deno.readTextFile(from));
  Object.assign(results, r);
  // the run's own settings (this process's flags and defaults describe nothing here)
  console.log(`time to video, from ${from}: ${r.layers} of ${r.fullLayers} layers run, latent ${r.latent.F}x${r.latent.H}x${r.latent.W} = ${r.tokens} tokens, ${r.precision}, ${r.devices} device(s)`);
  await render(r.rows as Row[], r.vaeS as number, r.teacachePlan50 as boolean[], r.layers as number, r.fullLayers as number, r.precision as string, r.latent);
} else await measure();

async function measure() {
const pool = await WorkerPool.create({ devices, precision: dtype, barrierTimeoutMs: 600_000 });
try {
  console.log(`pool of ${devices}: ${pool.adapters().join("; ")}`);
  const gold = await golden();
  await pool.load(gold.cfg, gold.weights);
  await pool.setText("gold", gold.inputs.text, gold.inputs.textTokens);
  const gerr = relL2((await pool.forward({ ...gold.inputs, textKey: "gold", plan: planShards(tokenGridFromLatent(gold.inputs.latentGrid), devices, "sequence") })).out, gold.expected);
  console.log(`correctness (wan-small golden forward, ${dtype}): relative L2 ${gerr.toExponential(2)} vs diffusers float64 ${gerr <= TOL[dtype] ? "ok" : "FAILED"}`);
  failed ||= !(gerr <= TOL[dtype]);

  // CFG parallel on two workers of this device vs the sequential loop on one: bit for bit.
  const sm = syntheticModel();
  const smOpts: GenerateOptions = { latent: { F: 3, H: 6, W: 10 }, sampler: { steps: 3, shift: 5, guidance: 5, solver: "unipc" }, seed: 7, mode: "sequence", batch: false };
  await pool.load(sm.config, sm.weights);
  await setPrompts(pool, sm.text, sm.negativeText, sm.textTokens);
  const seq = await generate(pool, sm.config, smOpts);
  const two = await WorkerPool.create({ devices: 2, precision: dtype, barrierTimeoutMs: 600_000 });
  let par: GenerateResult;
  try {
    await two.load(sm.config, sm.weights);
    await setPrompts(two, sm.text, sm.negativeText, sm.textTokens);
    await generate(two, sm.config, { ...smOpts, cfgParallel: true, sampler: { ...smOpts.sampler, steps: 1 } }); // compile
    par = await generate(two, sm.config, { ...smOpts, cfgParallel: true });
  } finally {
    await two.close();
  }
  const same = par.latent.length === seq.latent.length && par.latent.every((v, i) => Object.is(v, seq.latent[i]));
  console.log(`correctness (CFG parallel, 2 workers of one device as 1 + 1, vs sequential CFG on 1 worker; synthetic wan-small, 3 UniPC steps): ${same ? "bit for bit equal, ok" : `DIFFERENT (relative L2 ${relL2(par.latent, seq.latent).toExponential(2)}) FAILED`}; ` +
    `${(par.ms / 3).toFixed(0)} ms/step with cfg-parallel vs ${(seq.ms / 3).toFixed(0)} ms/step sequential (one device: no speed-up expected)`);
  failed ||= !same;
  results.cfgParallelCheck = { bitwiseEqual: same, msPerStepParallel: par.ms / 3, msPerStepSequential: seq.ms / 3 };
  if (failed) throw new Error("a correctness check failed: no timings");

  // ---- The DiT loop at the video's size ----------------------------------------------------------------
  const t0 = performance.now();
  const weights = syntheticWeights(cfg);
  const syn = syntheticInputs(cfg, latent, textLen, 999);
  const negative = syntheticTensor("input.negative_hidden_states", [1, textLen, cfg.textDim]);
  console.log(`synthetic weights and texts in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const tl = performance.now();
  await pool.load(cfg, weights);
  await setPrompts(pool, syn.encoderHiddenStates, negative, textLen, textLen);
  console.log(`loaded in ${((performance.now() - tl) / 1000).toFixed(1)} s`);

  const base: SamplerConfig = { steps: 50, shift: 5, guidance: 5, solver: "unipc" };
  const run = async (what: string, sampler: SamplerConfig, extra: Partial<GenerateOptions>) => {
    const r = await generate(pool, cfg, { latent, sampler, seed: 0, mode: "sequence", ...extra });
    console.log(`  ${what}: ${r.steps.map((s) => `${(s.ms / 1000).toFixed(2)} s${s.computed ? "" : " (cached)"}`).join(", ")}`);
    return r;
  };
  const short = (s: SamplerConfig, n: number): SamplerConfig => ({ ...s, steps: n });
  console.log(`warm-up (compiles the pipelines of both paths; not counted):`);
  await run("warm-up, sequential", short(base, 1), { batch: false });
  await run("warm-up, batched", short(base, 1), { batch: true });

  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const scale = FULL_LAYERS / layers; // blocks run -> the whole model (the step's non-block work is small next to them)
  const rows: Row[] = [];
  let plan50: boolean[] = [];
  for (const c of configs) {
    if (c === "a" || c === "b") {
      const r = await run(`${c}: ${measured} steps`, short(base, measured), { batch: c === "b" });
      const stepMs = mean(r.steps.map((s) => s.ms)) * scale;
      rows.push({ config: c === "a" ? "a UniPC 50, CFG sequential" : "b UniPC 50, batched CFG", steps: 50, forwardsPerStep: c === "a" ? 2 : 1, computedSteps: 50, measuredSteps: measured, stepMs, ditS: (50 * stepMs) / 1000, extrapolated: true });
    } else if (c === "c") {
      // TeaCache's plan over the 50 steps, from the devices' own timestep modulation.
      const T = base.numTrainTimesteps ?? 1000;
      const timesteps = Array.from(flowTimesteps(flowSigmas(50, base.shift, T), T));
      const e = await pool.timeEmbeddings(timesteps);
      const input = teaCacheInput(cfg.dim), width = input === "proj" ? 6 * cfg.dim : cfg.dim;
      const values = input === "proj" ? e.proj : e.temb;
      const plan = teaCachePlan(50, cfg.dim, (i) => values.subarray(i * width, (i + 1) * width), 0.08);
      plan50 = plan.compute;
      const K = plan.compute.filter(Boolean).length;
      console.log(`  c: TeaCache 0.08 over 50 steps (${plan.calibration}): computes ${K}: [${plan.compute.flatMap((x, i) => (x ? [i] : [])).join(",")}]`);
      const compute = Array.from({ length: measured }, (_, i) => i === 0);
      const r = await run(`c: ${measured} steps of the plan [computed, cached...]`, short(base, measured), { batch: true, cache: { kind: "teacache", threshold: 0.08, compute } });
      const computedMs = r.steps[0].ms * scale; // the blocks scale; the cached steps run none
      const cachedMs = mean(r.steps.slice(1).map((s) => s.ms));
      rows.push({ config: "c batched CFG + TeaCache 0.08", steps: 50, forwardsPerStep: 1, computedSteps: K, measuredSteps: measured, stepMs: computedMs, cachedStepMs: cachedMs, ditS: (K * computedMs + (50 - K) * cachedMs) / 1000, extrapolated: true });
    } else if (c === "d") {
      const preset = presetSampler("lightx2v-4step", 0);
      const n = Math.min(4, measured);
      const sampler = n === 4 ? preset : { ...preset, steps: n, schedule: preset.schedule && { sigmas: [...preset.schedule.sigmas.slice(0, n), 0], timesteps: preset.schedule.timesteps.slice(0, n) } };
      const r = await run(`d: ${n} of the preset's 4 steps`, sampler, {});
      const stepMs = mean(r.steps.map((s) => s.ms)) * scale;
      rows.push({ config: "d lightx2v-4step, guidance 1", steps: 4, forwardsPerStep: 1, computedSteps: 4, measuredSteps: n, stepMs, ditS: (4 * stepMs) / 1000, extrapolated: n < 4 || scale !== 1 });
    } else throw new Error(`--configs takes a,b,c,d; got "${c}"`);
  }

  // ---- The VAE decode, once (the same video for every setting) ------------------------------------------
  let vaeS = 0;
  if (withVae) {
    await pool.loadVae(vaeCfg, syntheticVaeWeights(vaeCfg));
    const lat = syntheticLatents(vaeCfg, F, H, W);
    await decodeLatents(pool, vaeCfg, syntheticLatents(vaeCfg, 1, H, W), { F: 1, H, W }); // compile
    const dec = await decodeLatents(pool, vaeCfg, lat, latent);
    vaeS = dec.ms / 1000;
    console.log(`VAE decode ${F}x${H}x${W} -> ${dec.videoGrid.F} frames of ${dec.videoGrid.W}x${dec.videoGrid.H}: ${vaeS.toFixed(1)} s (measured whole)`);
  }

  results.rows = rows;
  results.vaeS = vaeS;
  results.teacachePlan50 = plan50;
  await render(rows, vaeS, plan50, layers, FULL_LAYERS, dtype, latent);
} finally {
  await pool.close();
}
}

/** The table: shardit's rows beside torch's figures (its JSONs, same plans); ratio = torch time / shardit time. */
async function render(rows: Row[], vaeS: number, plan50: boolean[], layers: number, fullLayers: number, dtype: string, latent: { F: number; H: number; W: number }) {
  const { F, H, W } = latent;
  const scale = fullLayers / layers;
  const withVae = vaeS > 0;
  // ---- Torch's figures from the same call, the same plans -------------------------------------------------
  const torchJson = args.get("torch") ? JSON.parse(await Deno.readTextFile(args.get("torch")!)) : null;
  const tokens = tokenGridFromLatent(latent).F * tokenGridFromLatent(latent).H * tokenGridFromLatent(latent).W;
  // torch's forwards must be over the same tokens as shardit's, or its columns compare nothing
  if (torchJson && torchJson.tokens !== tokens) console.log(`torch: ${args.get("torch")} timed ${torchJson.tokens} tokens, shardit ${tokens}: torch's columns left out`);
  const torchRows = torchJson && torchJson.tokens === tokens ? (torchJson.loop as { dtype: string; batch: number; forward_ms: number; cached_step_ms: number }[]) : [];
  const torchVae = args.get("torch-vae") ? (JSON.parse(await Deno.readTextFile(args.get("torch-vae")!)).rows as { dtype: string; ms: number }[]) : [];
  const torchDtypes = [...new Set(torchRows.map((r) => r.dtype))];
  const K = plan50.filter(Boolean).length;
  const torchVideo = (dt: string, config: string): number | null => {
    const f = (b: number) => torchRows.find((r) => r.dtype === dt && r.batch === b);
    const b1 = f(1), b2 = f(2);
    const vaeRow = torchVae.find((r) => r.dtype === dt);
    if (!b1 || !b2 || (withVae && !vaeRow)) return null; // no figure rather than a partial one
    const vae = (vaeRow?.ms ?? 0) / 1000;
    const dit = config.startsWith("a") ? 50 * 2 * b1.forward_ms : config.startsWith("b") ? 50 * b2.forward_ms
      : config.startsWith("c") ? K * b2.forward_ms + (50 - K) * b2.cached_step_ms : 4 * b1.forward_ms;
    return dit / 1000 + (withVae ? vae : 0);
  };
  const table = rows.map((r) => {
    const video = r.ditS + vaeS;
    const row: Record<string, unknown> = {
      config: r.config,
      steps: r.steps,
      "fwd/step": r.forwardsPerStep,
      computed: r.computedSteps,
      measured: r.measuredSteps,
      "step s": (r.stepMs / 1000).toFixed(2),
      "cached step s": r.cachedStepMs === undefined ? "-" : (r.cachedStepMs / 1000).toFixed(3),
      "DiT s": r.ditS.toFixed(1) + (r.extrapolated ? "*" : ""),
      "VAE s": withVae ? vaeS.toFixed(1) : "-",
      "video s": video.toFixed(1) + (r.extrapolated ? "*" : ""),
    };
    for (const dt of torchDtypes) {
      const t = torchVideo(dt, r.config);
      row[`torch ${dt} s`] = t === null ? "-" : t.toFixed(1) + "*";
      row[`ratio vs ${dt}`] = t === null ? "-" : (t / video).toFixed(3);
    }
    return row;
  });
  console.log(`\ntime to a ${F}x${H}x${W}-latent video (${dtype}; * = extrapolated: measured steps x the setting's steps${scale !== 1 ? `, blocks scaled from ${layers} to ${fullLayers} layers` : ""}; torch from its measured forwards the same way; ratio = torch s / shardit s, below 1 = slower than torch):`);
  printTable(table);
  results.torch = { loop: torchRows, vae: torchVae };
}
const json = args.get("json");
if (json) writeJson(json, results);
if (failed) Deno.exit(1);
