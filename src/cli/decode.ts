// `shardit decode`: latents -> a video a person can play, through the Wan VAE decoder sharded over
// --devices workers in bands of latent rows. --out's extension picks the file (src/io/video.ts): .gif,
// .apng, .png (contact sheet) or .safetensors (`video` [1, 3, F', H', W'] F32 in [-1, 1]); --frames DIR
// adds every frame as a PNG.
import { type CommandSpec, int, oneOf, type Parsed, parseCommand, str, UsageError } from "./args.ts";
import { barText, downloadProgress, progressBar } from "./progress.ts";
import { parseWeights } from "./forward.ts";
import { onInterrupt } from "./interrupt.ts";
import { checkDevices, checkScale } from "./bounds.ts";
import { vaeSpatialScale, vaeVideoFrames } from "../vae/config.ts";
import { OutputSet, type OutputTarget } from "../io/atomic_output.ts";
import {
  checkVideoExtension, type DecodeChunkProgress, decodeLatents, type DecodeRun, denoFileSource, encodeFramePngs, encodeVideoFile, type Grid3, loadWanVaeWeights, modelFolder,
  openModelFolder, parseWanVaeConfig, placeDevices, planBands, PoolCancelled, readLatents, upscaleVideo, WAN_FPS, type WanVaeConfig, type WanVaeWeights, WorkerPool,
} from "../deno.ts";

/** decode's flags: the parser accepts exactly these rows and --help prints them (add a row to add a flag). */
export const SPEC: CommandSpec = {
  name: "decode",
  summary: "latents -> a video, through the Wan VAE decoder sharded over devices in bands of latent rows",
  flags: [
    { name: "vae", value: "DIR|URL|HUB_ID", required: true, help: "a diffusers Wan VAE: a vae/ folder, a pipeline folder with vae/, a URL or a Hub id" },
    { name: "latents", value: "FILE", required: true, help: "`latents` [1, 16, T, h, w] (generate's latents.safetensors)" },
    { name: "out", value: "FILE", required: true, help: "by extension: .gif, .apng (lossless), .png (contact sheet), .safetensors (`video` [1, 3, F, H, W] in [-1, 1])" },
    { name: "scale", value: "N", default: "1", help: "show .gif/.apng/.png and --frames N times larger (nearest neighbour; .safetensors stays as decoded)" },
    { name: "frames", value: "DIR", help: "also every frame as DIR/frame_NNN.png" },
    { name: "fps", value: "N", default: String(WAN_FPS), help: "frames per second of .gif and .apng" },
    { name: "devices", value: "N", default: "1", help: "device workers, each its own WebGPU device (each a band of latent rows)" },
    { name: "weights", value: "w1,...", help: "relative speed of each device: uneven bands" },
    { name: "precision", value: "f32|f16", default: "f32", help: "weights and activations" },
    { name: "gpus", value: "auto|ID,...", help: "Deno on Linux: spread the workers over the host's GPUs" },
    { name: "report", value: "FILE", help: "per-device rows, times and exchange as JSON" },
    { name: "timeout", value: "S", default: "180", help: "seconds a device may wait for the others at a barrier" },
  ],
  examples: [
    "npx shardit decode --vae Wan-AI/Wan2.1-T2V-1.3B-Diffusers --latents out/latents.safetensors --out clip.apng --devices 2",
    "npx shardit decode --vae test/fixtures/wan-vae-tiny --latents test/fixtures/wan-vae-tiny/io.safetensors --out /tmp/tiny.gif --scale 4",
  ],
};

/**
 * The VAE of `--vae ARG` (a vae/ folder, a pipeline folder with vae/, a URL or a Hub id): its config at
 * once, its decoder weights when `weights()` is called (so inputs can be checked against the config first).
 */
export async function openVae(arg: string): Promise<{ config: WanVaeConfig; weights: () => Promise<WanVaeWeights> }> {
  const opened = await openModelFolder(await modelFolder(arg, { component: "vae", onProgress: downloadProgress() }), parseWanVaeConfig);
  return {
    config: opened.config,
    weights: async () => {
      try {
        return await loadWanVaeWeights(opened.checkpoint, opened.config, progressBar(`loading ${arg}`));
      } finally {
        opened.checkpoint.close();
      }
    },
  };
}

/**
 * Writes the decoded video to `out` (by extension) and, when asked, every frame as DIR/frame_NNN.png. Returns
 * the paths written. `scale` > 1 enlarges what is looked at (.gif, .apng, .png, the frames), never .safetensors.
 */
export async function writeVideo(run: DecodeRun, out: string, framesDir?: string, fps = WAN_FPS, scale = 1): Promise<string[]> {
  const written = [out];
  const shown = scale > 1 ? upscaleVideo(run.video, run.videoGrid, scale) : { video: run.video, grid: run.videoGrid };
  const file = out.toLowerCase().endsWith(".safetensors") ? { video: run.video, grid: run.videoGrid } : shown;
  await Deno.writeFile(out, await encodeVideoFile(out, file.video, file.grid, fps));
  if (framesDir) {
    await Deno.mkdir(framesDir, { recursive: true });
    for (const [name, bytes] of await encodeFramePngs(shown.video, shown.grid)) await Deno.writeFile(`${framesDir}/${name}`, bytes);
    written.push(`${framesDir}/frame_*.png (${run.videoGrid.F})`);
  }
  return written;
}

/** One progress line per latent frame decoded on every device, as generate prints one per step. */
export function chunkLine(p: DecodeChunkProgress): string {
  const devices = p.deviceMs.length > 1 ? ` | ${p.deviceMs.map((ms, d) => `d${d} ${ms.toFixed(0)}ms`).join(" ")}` : "";
  return `decode ${String(p.chunk + 1).padStart(String(p.chunks).length)}/${p.chunks} ${barText(p.chunk + 1, p.chunks, 20)} ${p.ms.toFixed(0)} ms${devices}`;
}

/** One line per device: its rows, time and exchange. */
export function decodeLines(run: DecodeRun, adapters: string[]): string[] {
  const S = run.videoGrid.H / run.plan.h;
  return run.stats.map((s) =>
    `  device ${s.device} latent rows [${s.y0}, ${s.y1}) = video rows [${S * s.y0}, ${S * s.y1}): ${s.ms.toFixed(0)} ms, exchange ${s.exchangeMs.toFixed(0)} ms (${s.waitMs.toFixed(0)} waiting) / ${(s.bytesExchanged / 2 ** 20).toFixed(1)} MiB, ${adapters[s.device] ?? ""}`
  );
}

export function decodeReport(vae: string, precision: string, latent: Grid3, run: DecodeRun, adapters: string[], loadMs: number) {
  return {
    vae,
    precision,
    latent,
    video: run.videoGrid,
    devices: run.plan.devices,
    totalMs: run.ms,
    loadMs,
    perDevice: run.stats.map((s) => ({ ...s, adapter: adapters[s.device] })),
  };
}

function flag(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === "string" ? v : undefined;
}

export async function decodeCommand(argv: string[]): Promise<number> {
  const p = parseCommand(SPEC, argv);
  const vaeArg = str(p, "vae"), latentsPath = str(p, "latents"), out = str(p, "out");
  const devices = int(p, "devices", 1);
  checkDevices(devices);
  const precision = oneOf(p, "precision", ["f32", "f16"] as const, "f32");
  const weights = parseWeights(flag(p, "weights"), devices);
  const fps = int(p, "fps", WAN_FPS);
  const scale = int(p, "scale", 1);
  try {
    checkVideoExtension(out); // before any work: a typo in --out should not cost a decode
  } catch (e) {
    throw new UsageError(`--out ${(e as Error).message}`);
  }
  // Every output checked, locked and staged before any work; renamed into place together at the end.
  const framesDir = flag(p, "frames"), reportPath = flag(p, "report");
  const targets: OutputTarget[] = [{ flag: "--out", path: out, kind: "file" }];
  if (framesDir) targets.push({ flag: "--frames", path: framesDir, kind: "dir" });
  if (reportPath) targets.push({ flag: "--report", path: reportPath, kind: "file" });
  const outputs = OutputSet.open(targets);
  // Ctrl-C, SIGTERM or SIGHUP cancels the decode (the devices stop at their next halo swap or chunk),
  // changes nothing, exits 130; before the devices run, or a second time, it quits at once.
  let pool: WorkerPool | undefined;
  const stopListening = onInterrupt((count, why) => {
    if (outputs.isCommitting || outputs.isDone) return;
    console.error(`cancelling the decode (${why}; Ctrl-C again to quit at once)`);
    if (count === 1 && pool?.cancel("interrupted")) return;
    outputs.close();
    console.error("decode cancelled; nothing written");
    Deno.exit(130);
  });
  try {
    const t0 = performance.now();
    const vae = await openVae(vaeArg);
    const { latents, latent } = await readLatents(await denoFileSource(latentsPath), vae.config);
    planBands(latent.H, devices, weights); // a device count or weights that cannot split h: say so before loading
    const S = vaeSpatialScale(vae.config); // --scale bounded by the video it will enlarge (bounds.ts), before decoding
    checkScale(scale, vaeVideoFrames(vae.config, latent.F), S * latent.H, S * latent.W);
    const vaeWeights = await vae.weights();
    pool = await WorkerPool.create({ devices, precision, gpus: placeDevices(flag(p, "gpus"), devices), barrierTimeoutMs: int(p, "timeout", 180) * 1000 });
    await pool.loadVae(vae.config, vaeWeights);
    const loadMs = performance.now() - t0;
    const run = await decodeLatents(pool, vae.config, latents, latent, weights, (c) => console.log(chunkLine(c)));
    await writeVideo(run, outputs.staged(out), framesDir && outputs.staged(framesDir), fps, scale);
    const written = [out, ...(framesDir ? [`${framesDir}/frame_*.png (${run.videoGrid.F})`] : [])];
    const v = run.videoGrid;
    console.log(`decode: latent ${latent.F}x${latent.H}x${latent.W} -> ${v.F} frames of ${v.W}x${v.H} on ${devices} device(s), ${precision}, ${run.ms.toFixed(0)} ms -> ${written.join(", ")}`);
    if (devices > 1) for (const line of decodeLines(run, pool.adapters())) console.log(line);
    if (reportPath) await outputs.write(reportPath, new TextEncoder().encode(JSON.stringify(decodeReport(vaeArg, precision, latent, run, pool.adapters(), loadMs), null, 2) + "\n"));
    outputs.commit();
    return 0;
  } catch (e) {
    if (!(e instanceof PoolCancelled)) throw e;
    console.error("decode cancelled; nothing written");
    return 130;
  } finally {
    outputs.close(); // first: once the listeners go, Deno restores the signals' default (src/cli/interrupt.ts)
    stopListening();
    await pool?.close();
  }
}
