// Whole-model bench: Wan2.1-1.3B dims (d = 1536, 12 x 128, ffn 8960, text 512 x 4096) with synthetic
// weights from the fixtures' deterministic rule, at a latent of --latent F,H,W (480p/81 frames:
// 21,60,104 = 32,760 tokens), through --layers blocks (scaled to --scale-to for the whole model).
//
// Correctness first: the golden wan-small fixture is run through the same path (single device or the
// worker pool) and must be within 1e-4 (f32) / 1e-2 (f16) of diffusers' float64 output.
//
//   deno run -A bench/wan_forward.ts [--mode single|pool] [--devices 1,2,4] [--shard sequence,frame]
//      [--latent 21,60,104] [--layers 2] [--scale-to 30] [--precision f32,f16] [--profile] [--iters 2]
//      [--gpus auto|ID,...] [--small] [--json out.json] [--overlap=on|off|off,on] [--gemm default|scalar|tile:T|packed:T]
//      [--latest bench/results/latest.json [--torch torch_wan.json]]: merge forward_s {f16, f32} (single mode,
//      wall clock of one forward, the blocks scaled to --scale-to) and torch's forward_s into that JSON
//      [--attention default|scalar|<config>]: what attention() runs, self- and cross-attention ($SHARDIT_ATTENTION,
//      src/ops/attention.ts; set before any device or worker starts; a config that cannot run a call falls back to
//      the default selection, said under --verbose) [--verbose] (SHARDIT_VERBOSE=1)
//
// --gemm: the Linear layers' GEMM kernel for f16 on a device with subgroup matrices ($SHARDIT_GEMM, src/ops/gemm.ts),
// so the forward can be timed with each candidate kernel without a rebuild; it is named in every row and in latest.json.
// single: one device in this thread; --profile adds per-op GPU times (timestamp queries).
// pool: the sharded forward through WorkerPool for each device count and shard mode; per-device
// compute and exchange times come from the workers. --overlap=on (the pool's default): the overlapped rows
// exchange (attention over own keys while the others' arrive, exact merge); off: the plain all-gather;
// off,on runs both in the same pools.
import { Gpu } from "../src/gpu/device.ts";
import type { DType } from "../src/shape.ts";
import { bytesSource, Checkpoint } from "../src/io/safetensors.ts";
import { loadWanWeights } from "../src/loaders/checkpoint.ts";
import { type WanConfig } from "../src/model/config.ts";
import { parseWanConfig, presetConfig } from "../src/loaders/config.ts";
import { forwardOnDevice } from "../src/model/forward.ts";
import { type ForwardInputs } from "../src/model/forward.ts";
import { readForwardInputs } from "../src/loaders/inputs.ts";
import { syntheticInputs, syntheticWeights } from "../src/loaders/synthetic.ts";
import { WanModel } from "../src/model/wan.ts";
import { uploadWanWeights } from "../src/model/weights_gpu.ts";
import { placeDevices } from "../src/platform/deno_gpus.ts";
import { planShards, type ShardMode, tokenGridFromLatent } from "../src/parallel/plan.ts";
import { WorkerPool } from "../src/parallel/pool.ts";
import { relL2 } from "../src/selftest/harness.ts";
import { ATTENTION_ENV, parseAttentionOverride, pickAttention } from "../src/ops/attention.ts";
import { GEMM_ENV, parseGemmOverride } from "../src/ops/gemm.ts";
import { benchArgs, benchEnv, latestRecord, overrideFlag, printEnv, printTable, updateLatest, writeJson } from "./common.ts";

const args = benchArgs("bench/wan_forward.ts", ["mode", "devices", "shard", "latent", "layers", "scale-to", "precision", "profile", "iters", "gpus", "small", "json", "text", "overlap", "latest", "torch", "attention", "verbose", "gemm"], ["profile", "small", "overlap", "verbose"]);
const gemmKernel = overrideFlag(args, "gemm", GEMM_ENV, parseGemmOverride);
const attentionKernel = overrideFlag(args, "attention", ATTENTION_ENV, parseAttentionOverride);
if (args.has("verbose")) Deno.env.set("SHARDIT_VERBOSE", "1");
const small = args.has("small");
const mode = args.get("mode") ?? "single";
const [F, H, W] = (args.get("latent") ?? (small ? "3,8,8" : "21,60,104")).split(",").map(Number);
const layers = Number(args.get("layers") ?? 2);
const scaleTo = Number(args.get("scale-to") ?? 30);
const textLen = Number(args.get("text") ?? (small ? 16 : 512));
const precisions = (args.get("precision") ?? "f32").split(",") as DType[];
const deviceCounts = (args.get("devices") ?? "1").split(",").map(Number);
const shardModes = (args.get("shard") ?? "sequence").split(",") as ShardMode[];
const iters = Number(args.get("iters") ?? 2);
const overlapArg = args.get("overlap") ?? "on";
const overlaps = overlapArg.split(",").map((v) => {
  if (v !== "on" && v !== "off") throw new Error(`--overlap takes on, off or off,on; got "${overlapArg}"`);
  return v === "on";
});
const tol = { f32: 1e-4, f16: 1e-2 };

const base = small ? presetConfig("wan-small") : presetConfig("wan2.1-t2v-1.3b");
const cfg: WanConfig = { ...base, numLayers: layers };
const latent = { F, H, W };
const grid = tokenGridFromLatent(latent);
const L = grid.F * grid.H * grid.W;

const t0 = performance.now();
const weights = syntheticWeights(cfg);
const syn = syntheticInputs(cfg, latent, textLen, 999);
const inputs: ForwardInputs = {
  latent: syn.hiddenStates,
  latentGrid: latent,
  text: syn.encoderHiddenStates,
  textTokens: textLen,
  timestep: 999,
};
console.log(`synthetic ${layers}-layer weights (d ${cfg.dim}, ffn ${cfg.ffnDim}) and inputs in ${((performance.now() - t0) / 1000).toFixed(1)} s; latent ${F}x${H}x${W} = ${L} tokens, text ${textLen}; ${GEMM_ENV}=${gemmKernel}`);

// The golden fixture, for the correctness check of each path.
async function golden(): Promise<{ cfg: WanConfig; weights: Awaited<ReturnType<typeof loadWanWeights>>; inputs: ForwardInputs; expected: Float32Array }> {
  const dir = new URL("../test/fixtures/wan-small/", import.meta.url);
  const gcfg = parseWanConfig(JSON.parse(await Deno.readTextFile(new URL("config.json", dir))), "wan-small/config.json");
  const ckpt = await Checkpoint.open([bytesSource("wan-small/model.safetensors", await Deno.readFile(new URL("model.safetensors", dir)))]);
  const io = bytesSource("wan-small/io.safetensors", await Deno.readFile(new URL("io.safetensors", dir)));
  return { cfg: gcfg, weights: await loadWanWeights(ckpt, gcfg), inputs: await readForwardInputs(io, gcfg), expected: await (await Checkpoint.open([io])).readF32("expected") };
}
const gold = await golden();

function checkGolden(what: string, out: Float32Array, dtype: DType): number {
  const err = relL2(out, gold.expected);
  const ok = err <= tol[dtype];
  console.log(`correctness (${what}, wan-small golden, ${dtype}): relative L2 ${err.toExponential(2)} ${ok ? "ok" : "FAILED"}`);
  if (!ok) Deno.exit(1);
  return err;
}

const results: Record<string, unknown>[] = [];
let env: ReturnType<typeof benchEnv> | null = null;

if (mode === "single") {
  for (const dtype of precisions) {
    const gpu = await Gpu.create({ label: "bench", profile: args.has("profile"), requireF16: dtype === "f16" });
    env ??= benchEnv(gpu);
    printEnv(env);
    console.log(`attention (${ATTENTION_ENV}=${attentionKernel}), ${dtype}, head dim ${cfg.headDim}: ${JSON.stringify(pickAttention(gpu, cfg.headDim, dtype === "f16"))}`);
    const gm = new WanModel(gpu, gold.cfg, uploadWanWeights(gpu, gold.cfg, gold.weights, dtype), dtype);
    checkGolden("single device", await forwardOnDevice(gm, gold.inputs), dtype);
    const model = new WanModel(gpu, cfg, uploadWanWeights(gpu, cfg, weights, dtype), dtype);
    await forwardOnDevice(model, inputs); // warm-up (pipelines, pool buffers)
    gpu.opTimes.clear();
    const times: number[] = [];
    let out: Float32Array = new Float32Array();
    for (let i = 0; i < iters; i++) {
      const s = performance.now();
      out = await forwardOnDevice(model, inputs);
      times.push(performance.now() - s);
    }
    const nonFinite = out.reduce((n, v) => n + (Number.isFinite(v) ? 0 : 1), 0);
    const ms = Math.min(...times);
    const row = { mode, precision: dtype, attention: attentionKernel, gemm: gemmKernel, tokens: L, layers, ms, msPerLayer: ms / layers, msScaled: (ms / layers) * scaleTo, nonFinite };
    results.push(row);
    printTable([row]);
    if (args.has("profile")) {
      const table = gpu.opTimeTable();
      const total = table.reduce((a, r) => a + r.ms, 0);
      const shares = table.map((r) => ({ op: r.op, ms: r.ms / (iters), share: `${((100 * r.ms) / total).toFixed(1)}%`, dispatches: r.count / iters }));
      console.log(`GPU time per op (per forward, ${layers} layers; sum ${(total / iters).toFixed(0)} ms):`);
      printTable(shares);
      (row as Record<string, unknown>).ops = shares;
    }
    gpu.destroy();
  }
} else {
  const gpus = args.get("gpus");
  for (const dtype of precisions) {
    for (const n of deviceCounts) {
      const pool = await WorkerPool.create({ devices: n, precision: dtype, gpus: placeDevices(gpus, n) });
      try {
        console.log(`pool of ${n}: ${pool.adapters().map((a, i) => `${i}: ${a}${placeDevices(gpus, n)[i] ? " @" + placeDevices(gpus, n)[i] : ""}`).join("; ")}`);
        // Correctness first: the golden fixture through the same pool.
        await pool.load(gold.cfg, gold.weights);
        await pool.setText("gold", gold.inputs.text, gold.inputs.textTokens);
        const gplan = planShards(tokenGridFromLatent(gold.inputs.latentGrid), n, "sequence");
        for (const overlap of overlaps) {
          checkGolden(`pool of ${n}${overlap ? ", overlapped exchange" : ""}`, (await pool.forward({ ...gold.inputs, textKey: "gold", plan: gplan, overlap })).out, dtype);
        }
        await pool.load(cfg, weights);
        await pool.setText("text", inputs.text, inputs.textTokens);
        for (const shard of shardModes) for (const overlap of overlaps) {
          const plan = planShards(grid, n, shard);
          await pool.forward({ ...inputs, textKey: "text", plan, overlap }); // warm-up
          let best: Awaited<ReturnType<typeof pool.forward>> | null = null;
          for (let i = 0; i < iters; i++) {
            const r = await pool.forward({ ...inputs, textKey: "text", plan, overlap });
            if (!best || r.ms < best.ms) best = r;
          }
          const r = best!;
          const row = {
            mode: "pool",
            precision: dtype,
            gemm: gemmKernel,
            attention: attentionKernel,
            devices: n,
            shard,
            overlap,
            tokens: L,
            computed: plan.computedTokens,
            layers,
            ms: r.ms,
            msScaled: (r.ms / layers) * scaleTo,
            maxExchangeMs: Math.max(...r.stats.map((s) => s.exchangeMs)),
            maxCopyMs: Math.max(...r.stats.map((s) => s.exchangeMs - s.exchangeWaitMs)),
            exchangeMiB: r.stats.reduce((a, s) => a + s.bytesExchanged, 0) / 2 ** 20,
            // tokens+pad:total ms/exchange ms(of which waiting)
            perDevice: r.stats.map((s) => `${s.tokens}+${s.padTokens}:${s.ms.toFixed(0)}/${s.exchangeMs.toFixed(0)}(${s.exchangeWaitMs.toFixed(0)})`).join(" "),
          };
          results.push(row);
          printTable([row]);
        }
      } finally {
        await pool.close();
      }
    }
  }
}

console.log(`\nsummary (${layers} of ${scaleTo} layers run; msScaled = ms / layers * ${scaleTo}):`);
printTable(results.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== "ops"))));
const json = args.get("json");
if (json) writeJson(json, { env, config: { dim: cfg.dim, heads: cfg.heads, headDim: cfg.headDim, ffn: cfg.ffnDim, layers, scaleTo, latent, tokens: L, textLen }, results });

const latestPath = args.get("latest");
if (latestPath && env) {
  updateLatest(latestPath, env, (latest, torch) => {
    const fs = latestRecord<number>(latest, "forward_s");
    for (const r of results) if (r.mode === "single" && typeof r.msScaled === "number") fs[r.precision as string] = r.msScaled / 1000;
    latest.forward_s = fs;
    latest.forward_timing = `wall clock of one forward at ${F}x${H}x${W} (${L} tokens), ${layers} of the blocks run and scaled to ${scaleTo}; ${GEMM_ENV}=${gemmKernel}, ${ATTENTION_ENV}=${attentionKernel}`;
    const torchPath = args.get("torch");
    if (!torchPath) return;
    // bench/torch_wan.py's results: {dtype: "fp32" | "bf16" | "fp16", ms_forward_scaled}
    const runs = JSON.parse(Deno.readTextFileSync(torchPath)) as { results?: { dtype: string; ms_forward_scaled: number }[] };
    const ts = latestRecord<number>(torch, "forward_s");
    for (const r of runs.results ?? []) ts[r.dtype] = r.ms_forward_scaled / 1000;
    torch.forward_s = ts;
  });
}
