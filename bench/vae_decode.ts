// Wan VAE decode bench: the real Wan2.1 VAE dims (base_dim 96, decoder widths 384/384/384/192/96, 127M
// parameters) with synthetic weights from the fixtures' rule (src/vae/synthetic.ts), decoding the rule's
// latents of --latent T,h,w (480p/81 frames: 21,60,104 -> 81 x 480 x 832) on one device.
//
// Correctness first: the decode of --check-latent (default 2,8,8) is compared with --check-ref, the same
// decode by bench/torch_vae.py in float64 (raw f32 [3, T', 8h, 8w]); f32 must be within 1e-4 and f16
// within 1e-2 relative L2. Then each precision decodes the full latent once (per-chunk times through
// onChunk); --max-seconds stops a decode early (the rows then say how many chunks ran: no extrapolation
// is printed as a measurement).
//
//   deno run -A bench/vae_decode.ts [--latent 21,60,104] [--precision f32,f16] [--check-latent 2,8,8]
//       [--check-ref FILE] [--max-seconds 120] [--workers 2] [--gpus auto|ID,...] [--timestamps] [--small] [--json out.json]
// --timestamps: GPU time per op of the timed decode (timestamp queries, one pass per dispatch), beside the
// wall clock: on Dawn the wall clock of long waits includes its event polling (bench/RESULTS.md, "Attention
// on Dawn"), so the GPU times are the kernels' own.
// --workers N: also the sharded decode (src/pipeline/decode.ts: N workers, height bands, halo exchange
// through SharedArrayBuffer) on the devices --gpus places them on; its check decode must equal the
// single-device one within the same tolerances.
// --latest FILE [--torch torch_vae.json]: merge the one-device whole-decode seconds into that JSON as
// vae_decode_s: {f16: s, f32: s} (wall clock of the whole decode; vae_decode_gpu_s the timestamped GPU time
// where --timestamps gave it; a decode stopped by --max-seconds is not written) and, with --torch,
// bench/torch_vae.py's seconds under torch.vae_decode_s. Other keys are kept; commit from $SHARDIT_COMMIT.
// --conv default|scalar|tile:T: the f16 convs' kernel on a device with subgroup matrices ($SHARDIT_CONV,
// src/ops/vae_conv3d.ts), so the decode can be timed with each candidate without a rebuild; named in the rows.
// --small: the wan-vae-small fixture's config (base_dim 16) instead of the real dims, for a CPU adapter.
import { Gpu } from "../src/gpu/device.ts";
import type { DType } from "../src/shape.ts";
import { latentsToZ, parseWanVaeConfig, vaeDecoderPlan, vaeVideoFrames, WAN21_VAE, type WanVaeConfig } from "../src/vae/config.ts";
import { WanVaeDecoder } from "../src/vae/decoder.ts";
import { syntheticLatents, syntheticVaeWeights } from "../src/vae/synthetic.ts";
import { relL2 } from "../src/selftest/harness.ts";
import { PoolCancelled, WorkerPool } from "../src/parallel/pool.ts";
import { placeDevices } from "../src/platform/deno_gpus.ts";
import { decodeLatents } from "../src/pipeline/decode.ts";
import { CONV_ENV, parseConvOverride } from "../src/ops/vae_conv3d.ts";
import { benchArgs, benchEnv, overrideFlag, printEnv, printTable, updateLatest, latestRecord, writeJson } from "./common.ts";

const args = benchArgs("bench/vae_decode.ts", ["latent", "precision", "check-latent", "check-ref", "max-seconds", "small", "json", "workers", "gpus", "timestamps", "latest", "torch", "conv"], ["small", "timestamps"]);
const convKernel = overrideFlag(args, "conv", CONV_ENV, parseConvOverride);
/** Worker counts for the sharded decode through the pool (0: none), e.g. --workers 2. */
const workerCounts = (args.get("workers") ?? "").split(",").filter(Boolean).map(Number);
const gpus = args.get("gpus") ?? "auto";
const small = args.has("small");
const [T, h, w] = (args.get("latent") ?? (small ? "3,8,8" : "21,60,104")).split(",").map(Number);
const [cT, ch, cw] = (args.get("check-latent") ?? "2,8,8").split(",").map(Number);
const precisions = (args.get("precision") ?? "f32,f16").split(",") as DType[];
const maxSeconds = Number(args.get("max-seconds") ?? 120);
const tol = { f32: 1e-4, f16: 1e-2 };

const cfg: WanVaeConfig = small
  ? parseWanVaeConfig(JSON.parse(await Deno.readTextFile(new URL("../test/fixtures/wan-vae-small/config.json", import.meta.url))), "wan-vae-small")
  : WAN21_VAE;

/** FLOPs of one decode: every conv (2 M N K, taps included), the 1x1 convs, and the mid block's attention. */
function decodeFlops(cfg: WanVaeConfig, T: number, h: number, w: number): number {
  const plan = vaeDecoderPlan(cfg);
  let flops = 0;
  for (let t = 0; t < T; t++) {
    let f = 1, H = h, W = w;
    const conv = (cin: number, cout: number, taps: number) => (flops += 2 * f * H * W * cin * cout * taps);
    const res = (cin: number, cout: number) => {
      conv(cin, cout, 27), conv(cout, cout, 27);
      if (cin !== cout) conv(cin, cout, 1);
    };
    conv(cfg.zDim, cfg.zDim, 1);
    conv(cfg.zDim, plan.midDim, 27);
    res(plan.midDim, plan.midDim), res(plan.midDim, plan.midDim);
    const L = H * W, C = plan.midDim;
    flops += 2 * L * C * 4 * C + 4 * L * L * C;
    for (const b of plan.blocks) {
      for (let r = 0; r <= cfg.numResBlocks; r++) res(r === 0 ? b.inDim : b.outDim, b.outDim);
      if (b.upsample === "3d" && t > 0) conv(b.outDim, 2 * b.outDim, 3), (f *= 2);
      if (b.upsample) (H *= 2), (W *= 2), conv(b.outDim, b.outDim / 2, 9);
    }
    conv(plan.outDim, 3, 27);
  }
  return flops;
}

const gpu = await Gpu.create({ label: "vae bench", profile: args.has("timestamps") });
const env = benchEnv(gpu);
printEnv(env);
const t0 = performance.now();
const weights = syntheticVaeWeights(cfg);
console.log(`synthetic weights (base_dim ${cfg.baseDim}) in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${CONV_ENV}=${convKernel}`);
const checkRefPath = args.get("check-ref");
const checkRef = checkRefPath ? new Float32Array((await Deno.readFile(checkRefPath)).buffer) : null;
const rows: Record<string, unknown>[] = [];
const flops = decodeFlops(cfg, T, h, w);

for (const dtype of precisions) {
  if (dtype === "f16" && !gpu.features.f16) {
    console.log("f16: adapter has no shader-f16, skipped");
    continue;
  }
  const dec = new WanVaeDecoder(gpu, cfg, weights, dtype);
  // Correctness first (and every pipeline compiled before the timed decode).
  const zc = latentsToZ(syntheticLatents(cfg, cT, ch, cw), cfg);
  const check = await dec.decode(zc, { F: cT, H: ch, W: cw });
  let err: number | null = null;
  if (checkRef) {
    if (checkRef.length !== check.length) throw new Error(`--check-ref has ${checkRef.length} values, the check decode ${check.length}`);
    err = relL2(check, checkRef);
    console.log(`${dtype} check ${cT}x${ch}x${cw} vs torch float64: rel L2 ${err.toExponential(3)} (limit ${tol[dtype]})`);
    if (!(err <= tol[dtype])) throw new Error(`${dtype}: the check decode is off by ${err} (> ${tol[dtype]}); no timing`);
  } else console.log(`${dtype}: no --check-ref given; timing without a correctness check`);
  // The timed decode.
  gpu.opTimes.clear();
  const chunks: number[] = [];
  const stop = new AbortController();
  const start = performance.now();
  let stopped = false;
  try {
    await dec.decode(latentsToZ(syntheticLatents(cfg, T, h, w), cfg), { F: T, H: h, W: w }, {
      signal: stop.signal,
      onChunk: (_t, ms) => {
        chunks.push(ms);
        if ((performance.now() - start) / 1000 > maxSeconds) stop.abort(new Error("time limit"));
      },
    });
  } catch (e) {
    if (!stop.signal.aborted) throw e;
    stopped = true;
  }
  const ms = performance.now() - start;
  const rest = chunks.slice(1);
  const ops = gpu.opTimeTable();
  const gpuMs = ops.reduce((a, o) => a + o.ms, 0);
  if (ops.length) {
    console.log(`${dtype}: GPU time by op over ${chunks.length} chunks (timestamps), ${gpuMs.toFixed(0)} ms in all:`);
    printTable(ops.map((o) => ({ op: o.op, ms: o.ms, count: o.count, share: o.ms / gpuMs })));
  }
  const row = {
    precision: dtype,
    conv: convKernel,
    latent: `${T}x${h}x${w}`,
    frames: `${vaeVideoFrames(cfg, T)}x${8 * h}x${8 * w}`,
    chunks: `${chunks.length}/${T}${stopped ? " (stopped)" : ""}`,
    ms: stopped ? NaN : ms,
    first_chunk_ms: chunks[0],
    chunk_ms: rest.length ? rest.reduce((a, b) => a + b, 0) / rest.length : NaN,
    tflops: stopped ? NaN : flops / ms / 1e9,
    gpu_ms: ops.length ? gpuMs : NaN,
    check_rel_l2: err,
  };
  console.log(JSON.stringify(row));
  rows.push(row);
  dec.dispose();
}
for (const n of workerCounts) {
  for (const dtype of precisions) {
    if (dtype === "f16" && !gpu.features.f16) continue;
    const pool = await WorkerPool.create({ devices: n, precision: dtype, gpus: placeDevices(gpus, n) });
    try {
      console.log(`pool of ${n}: ${pool.adapters().join("; ")}`);
      await pool.loadVae(cfg, weights);
      const zc = syntheticLatents(cfg, cT, ch, cw);
      const check = await decodeLatents(pool, cfg, zc, { F: cT, H: ch, W: cw });
      const err = checkRef ? relL2(check.video, checkRef) : null;
      if (err !== null && !(err <= tol[dtype])) throw new Error(`${dtype} on ${n} workers: the check decode is off by ${err}`);
      // --max-seconds caps this decode too; the chunks done by then (every device) give its times.
      const start = performance.now();
      const timer = setTimeout(() => pool.cancel("time limit"), maxSeconds * 1000);
      const poolChunks: number[] = [];
      const r = await decodeLatents(pool, cfg, syntheticLatents(cfg, T, h, w), { F: T, H: h, W: w }, undefined, (c) => poolChunks.push(c.ms)).catch((e) => {
        if (e instanceof PoolCancelled) return null;
        throw e;
      }).finally(() => clearTimeout(timer));
      const later = poolChunks.slice(1);
      const chunkTimes = { first_chunk_ms: poolChunks[0] ?? NaN, chunk_ms: later.length ? later.reduce((a, b) => a + b, 0) / later.length : NaN };
      if (!r) {
        const row = { precision: `${dtype} x${n} workers`, latent: `${T}x${h}x${w}`, chunks: `${poolChunks.length}/${T} (stopped at --max-seconds ${maxSeconds})`, ms: NaN, ...chunkTimes, check_rel_l2: err };
        console.log(JSON.stringify(row), `(${((performance.now() - start) / 1000).toFixed(1)} s)`);
        rows.push(row);
        continue;
      }
      const row = {
        precision: `${dtype} x${n} workers`,
        conv: convKernel,
        latent: `${T}x${h}x${w}`,
        frames: `${r.videoGrid.F}x${r.videoGrid.H}x${r.videoGrid.W}`,
        chunks: `${T}/${T}`,
        ms: r.ms,
        ...chunkTimes,
        tflops: flops / r.ms / 1e9,
        check_rel_l2: err,
        bands: r.plan.bands.map((b) => `${b.y0}-${b.y1}`).join(","),
      };
      console.log(JSON.stringify(row), JSON.stringify(r.stats));
      rows.push(row);
    } finally {
      await pool.close();
    }
  }
}
printTable(rows, ["precision", "latent", "frames", "chunks", "ms", "first_chunk_ms", "chunk_ms", "tflops", "gpu_ms", "check_rel_l2"]);
if (gpu.features.timestamps) console.log(`(decode FLOPs counted: ${(flops / 1e12).toFixed(1)} TFLOP)`);
const jsonPath = args.get("json");
if (jsonPath) writeJson(jsonPath, { env, cfg: { baseDim: cfg.baseDim }, flops, rows });
const latestPath = args.get("latest");
if (latestPath) {
  updateLatest(latestPath, env, (latest, torch) => {
    const s = latestRecord<number>(latest, "vae_decode_s");
    const g = latestRecord<number>(latest, "vae_decode_gpu_s");
    for (const r of rows as { precision: string; ms: number; gpu_ms?: number; latent: string }[]) {
      if (!(r.precision === "f16" || r.precision === "f32") || !Number.isFinite(r.ms)) continue;
      s[r.precision] = r.ms / 1000;
      if (r.gpu_ms !== undefined && Number.isFinite(r.gpu_ms)) g[r.precision] = r.gpu_ms / 1000;
    }
    latest.vae_decode_s = s;
    if (Object.keys(g).length) latest.vae_decode_gpu_s = g;
    latest.vae_decode_timing = `wall clock of the whole one-device decode of latent ${T}x${h}x${w} (vae_decode_gpu_s: timestamped GPU time); ${CONV_ENV}=${convKernel}`;
    const torchPath = args.get("torch");
    if (!torchPath) return;
    const runs = JSON.parse(Deno.readTextFileSync(torchPath)) as { rows?: { dtype?: string; ms?: number }[] };
    const ts = latestRecord<number>(torch, "vae_decode_s");
    // bench/torch_vae.py's rows: {dtype: "fp32" | "bf16" | "fp16", ms} (wall clock of the whole decode, synchronized)
    for (const r of runs.rows ?? []) if (r.dtype && r.ms !== undefined) ts[r.dtype] = r.ms / 1000;
    torch.vae_decode_s = ts;
  });
}
gpu.destroy();
