// `shardit forward`: one DiT forward of a diffusers Wan2.1 checkpoint on an input file, sharded over
// --devices workers (DESIGN.md (shared/docs, not in this repo), "Command line"). Writes `output` [1, Cout, F, H, W] F32 and a report.
import { type CommandSpec, int, oneOf, type Parsed, parseCommand, str, UsageError } from "./args.ts";
import { downloadProgress, progressBar } from "./progress.ts";
import { onInterrupt } from "./interrupt.ts";
import { checkDevices } from "./bounds.ts";
import { OutputSet } from "../io/atomic_output.ts";
import {
  denoFileSource, encodeSafetensors, type ForwardResult, loadWanWeights, openModel, placeDevices, planShards, readForwardInputs, type ShardMode, type ShardPlan,
  tokenGridFromLatent, WorkerPool,
} from "../deno.ts";
import { applyLoraFlags, LORA_FLAG } from "./lora_flags.ts";

/** forward's flags: the parser accepts exactly these rows and --help prints them (add a row to add a flag). */
export const SPEC: CommandSpec = {
  name: "forward",
  summary: "one DiT forward of a diffusers Wan2.1 checkpoint on an io.safetensors input, sharded over devices",
  flags: [
    { name: "model", value: "DIR|URL|HUB_ID", required: true, help: "a diffusers Wan2.1 transformer folder (or pipeline folder, URL, Hub id)" },
    { name: "input", value: "FILE", required: true, help: "hidden_states, encoder_hidden_states, timestep (the fixtures' io.safetensors format)" },
    { name: "out", value: "FILE", required: true, help: "writes `output` [1, C, F, H, W] F32" },
    { name: "devices", value: "N", default: "1", help: "device workers, each its own WebGPU device" },
    { name: "shard", value: "sequence|frame", default: "sequence", help: "how tokens are split over devices" },
    { name: "weights", value: "w1,...", help: "relative speed of each device: uneven shards" },
    { name: "precision", value: "f32|f16", default: "f32", help: "weights and activations" },
    { name: "gpus", value: "auto|ID,...", help: "Deno on Linux: spread the workers over the host's GPUs" },
    { name: "report", value: "FILE", help: "per-device times, shards and exchange as JSON" },
    { name: "overlap", default: "on", help: "overlap the key/value exchange with attention (--overlap=off)" },
    { name: "profile", default: "off", help: "per-kernel GPU times in the report (timestamp queries)" },
    LORA_FLAG,
    { name: "timeout", value: "S", default: "180", help: "seconds a device may wait for the others at a barrier" },
  ],
  examples: [
    "npx shardit forward --model test/fixtures/wan-small --input test/fixtures/wan-small/io.safetensors --out /tmp/out.safetensors --devices 3",
  ],
};

export function parseWeights(raw: string | undefined, devices: number): number[] | undefined {
  if (raw === undefined) return undefined;
  const w = raw.split(",").map(Number);
  if (w.length !== devices || w.some((x) => !(x > 0))) throw new UsageError(`--weights needs ${devices} positive numbers, got "${raw}"`);
  return w;
}

/** --overlap (on, the default) or --overlap=off: the overlapped self-attention exchange (PoolOptions.overlap). */
export function parseOverlap(p: Parsed): boolean {
  const v = p.flags.get("overlap");
  if (v === undefined || v === true || v === "on") return true;
  if (v === "off") return false;
  throw new UsageError(`--overlap takes on or off (as --overlap=off), got "${v}"`);
}

export interface ForwardReport {
  model: string;
  precision: string;
  tokens: number;
  computedTokens: number;
  devices: number;
  shard: ShardMode;
  padTokens: number;
  totalMs: number;
  loadMs: number;
  perDevice: { device: number; adapter: string; start: number; end: number; tokens: number; padTokens: number; ms: number; exchangeMs: number; exchangeWaitMs: number; bytesExchanged: number }[];
  /** Per device: the WebGPU implementation ("dawn", "deno"), its features and matrix configs (Gpu.describe). */
  gpus: { implementation: unknown; features: unknown }[];
}

export function buildReport(model: string, precision: string, plan: ShardPlan, pool: WorkerPool, r: ForwardResult, loadMs: number): ForwardReport {
  return {
    model,
    precision,
    tokens: plan.tokens,
    computedTokens: plan.computedTokens,
    devices: plan.devices,
    shard: plan.mode,
    padTokens: plan.padTokens,
    totalMs: r.ms,
    loadMs,
    perDevice: r.stats.map((s) => ({
      device: s.device,
      adapter: pool.adapters()[s.device],
      start: plan.shards[s.device].start,
      end: plan.shards[s.device].end,
      tokens: s.tokens,
      padTokens: s.padTokens,
      ms: s.ms,
      exchangeMs: s.exchangeMs,
      exchangeWaitMs: s.exchangeWaitMs,
      bytesExchanged: s.bytesExchanged,
    })),
    gpus: r.stats.map((s) => {
      const d = pool.describe(s.device);
      return { implementation: d.implementation, features: d.features };
    }),
  };
}

export async function forwardCommand(argv: string[]): Promise<number> {
  const p = parseCommand(SPEC, argv);
  const modelDir = str(p, "model"), inputPath = str(p, "input"), outPath = str(p, "out");
  const devices = int(p, "devices", 1);
  checkDevices(devices);
  const mode = oneOf(p, "shard", ["sequence", "frame"] as const, "sequence");
  const precision = oneOf(p, "precision", ["f32", "f16"] as const, "f32");
  const weightsRaw = p.flags.get("weights");
  const weights = parseWeights(typeof weightsRaw === "string" ? weightsRaw : undefined, devices);
  const gpusRaw = p.flags.get("gpus");
  const overlap = parseOverlap(p);

  // --out and --report checked, locked and staged before any work, renamed into place together at the end;
  // Ctrl-C, SIGTERM or SIGHUP stops the run and changes nothing (exit 130).
  const reportRaw = p.flags.get("report");
  const reportPath = typeof reportRaw === "string" ? reportRaw : undefined;
  const outputs = OutputSet.open([{ flag: "--out", path: outPath, kind: "file" }, ...(reportPath ? [{ flag: "--report", path: reportPath, kind: "file" as const }] : [])]);
  const stopListening = onInterrupt((_count, why) => {
    if (outputs.isCommitting || outputs.isDone) return;
    outputs.close();
    console.error(`forward cancelled (${why}); nothing written`);
    Deno.exit(130);
  });
  let pool: WorkerPool | undefined;
  try {
    const { config: cfg, checkpoint: ckpt } = await openModel(modelDir, { onProgress: downloadProgress() });
    const inputs = await readForwardInputs(await denoFileSource(inputPath), cfg);
    const plan = planShards(tokenGridFromLatent(inputs.latentGrid), devices, mode, weights);

    const t0 = performance.now();
    const weightsF32 = await loadWanWeights(ckpt, cfg, progressBar(`loading ${modelDir}`));
    await applyLoraFlags(argv, cfg, weightsF32); // --lora: merged in f32 before the workers get the weights
    pool = await WorkerPool.create({
      devices,
      precision,
      gpus: placeDevices(typeof gpusRaw === "string" ? gpusRaw : undefined, devices),
      profile: p.flags.has("profile"),
      barrierTimeoutMs: int(p, "timeout", 180, 1) * 1000,
      overlap,
    });
    try {
      await pool.load(cfg, weightsF32);
      await pool.setText("text", inputs.text, inputs.textTokens);
      const loadMs = performance.now() - t0;
      const result = await pool.forward({ ...inputs, textKey: "text", plan });
      const C = cfg.outChannels, { F, H, W } = inputs.latentGrid;
      await outputs.write(outPath, encodeSafetensors({ output: { dtype: "F32", shape: [1, C, F, H, W], data: result.out } }));
      const report = buildReport(modelDir, precision, plan, pool, result, loadMs);
      if (reportPath) await outputs.write(reportPath, new TextEncoder().encode(JSON.stringify(report, null, 2) + "\n"));
      outputs.commit();
      console.log(`forward: ${plan.tokens} tokens on ${devices} device(s), ${mode} mode, ${plan.padTokens} pad tokens, ${result.ms.toFixed(0)} ms -> ${outPath}`);
      for (const d of report.perDevice) {
        console.log(`  device ${d.device} [${d.start}, ${d.end}) ${d.tokens} tokens (+${d.padTokens} pad) ${d.ms.toFixed(0)} ms, exchange ${d.exchangeMs.toFixed(0)} ms (${d.exchangeWaitMs.toFixed(0)} waiting) / ${(d.bytesExchanged / 2 ** 20).toFixed(1)} MiB, ${d.adapter}`);
      }
      return 0;
    } finally {
      await pool.close();
    }
  } finally {
    outputs.close(); // first: once the listeners go, Deno restores the signals' default (src/cli/interrupt.ts)
    stopListening();
  }
}
