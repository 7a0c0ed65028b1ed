// `shardit generate`: the whole denoising loop, sharded over device workers. With no --model it runs the
// embedded trained model (models/embedded: 8 frames of 32x32, prompts "a <color> <shape> moving <direction>",
// --prompt) on 4 workers in sequence mode and writes the clip: DIR/video.gif (shown 4x, --scale),
// DIR/video.png (contact sheet), DIR/video.safetensors (`video` [1, 3, 8, 32, 32] in [-1, 1]) and, with
// --frames DIR2, every frame as PNG.
// Writes DIR/latents.safetensors (`latents` [1, C, F, H, W] F32), DIR/preview.png (latent channels 0-2
// as RGB, frames side by side) and DIR/summary.json, and prints a progress bar per step. With --vae it then
// decodes on the same workers (bands of latent rows) and adds DIR/video.safetensors (`video` [1, 3, F', H', W']
// F32 in [-1, 1]) and DIR/video.gif.
import { allowFlags, int, num, oneOf, parseArgs, str, UsageError } from "./args.ts";
import { barText, downloadProgress, progressBar } from "./progress.ts";
import { parseOverlap, parseWeights } from "./forward.ts";
import {
  decodeLatents, type DecodeRun, denoFileSource, depthToSpace, EMBEDDED_LATENT, EMBEDDED_PROMPT, EMBEDDED_SAMPLER, embeddedPrompt, encodeFramePngs, encodePng, encodeSafetensors, generate, type Grid3, latentPreview,
  loadWanWeights, openModel, placeDevices, planBands, PoolCancelled, readPromptEmbeddings, setPrompts, SOLVERS, type StepReport, throwIfCancelled,
  encodeVideoFile, loadEmbeddedModel, upscaleVideo, type WanConfig, type WanWeights, WorkerPool,
} from "../deno.ts";
import { chunkLine, decodeLines, openVae, writeVideo } from "./decode.ts";

const FLAGS = ["model", "text", "negative-text", "steps", "guidance", "shift", "seed", "devices", "shard", "weights", "precision", "out", "latent", "solver", "gpus", "timeout", "overlap", "vae", "prompt", "frames", "scale"];

/** Prompt embeddings from a safetensors file (see readPromptEmbeddings). */
async function readTextEmbedding(path: string, cfg: WanConfig): Promise<{ text: Float32Array; tokens: number }> {
  return readPromptEmbeddings(await denoFileSource(path), cfg);
}

function parseLatent(raw: string | undefined, def: Grid3): Grid3 {
  if (raw === undefined) return def;
  const v = raw.split(",").map(Number);
  if (v.length !== 3 || v.some((x) => !Number.isInteger(x) || x < 1) || v[1] % 2 || v[2] % 2) {
    throw new UsageError(`--latent must be F,H,W with H and W even, got "${raw}"`);
  }
  return { F: v[0], H: v[1], W: v[2] };
}

interface ModelChoice {
  name: string;
  config: WanConfig;
  weights: WanWeights;
  text: Float32Array;
  textTokens: number;
  negativeText: Float32Array | null;
  negativeTokens: number;
  latent: Grid3;
  /** The embedded model works in pixel space: its latent is the video (depthToSpace). */
  pixels: boolean;
  prompt?: string;
  /** GenerateOptions.condition (the embedded model's coordinate planes). */
  condition?: (latent: Grid3) => Float32Array;
}

async function chooseModel(flag: (n: string) => string | undefined, needNegative: boolean): Promise<ModelChoice> {
  const dir = flag("model");
  if (!dir) {
    if (flag("prompt") !== undefined && flag("text")) throw new UsageError("give --prompt or --text, not both");
    if (flag("vae")) throw new UsageError("--vae needs --model: the embedded model works in pixel space, its output is the video");
    const e = await loadEmbeddedModel();
    const prompt = flag("text") ? undefined : flag("prompt") ?? EMBEDDED_PROMPT;
    const text = prompt === undefined ? await readTextEmbedding(flag("text")!, e.config) : embeddedPrompt(e, prompt);
    // The unconditional branch is the empty prompt: all-zero rows, as the model was trained (10% text dropped).
    const neg = flag("negative-text") ? await readTextEmbedding(flag("negative-text")!, e.config) : embeddedPrompt(e, "");
    return { name: e.name, config: e.config, weights: e.weights, text: text.text, textTokens: text.tokens, negativeText: neg.text, negativeTokens: neg.tokens, latent: parseLatent(flag("latent"), EMBEDDED_LATENT), pixels: true, prompt, condition: e.condition };
  }
  if (flag("prompt") !== undefined) throw new UsageError("--prompt works with the embedded model only (its word-level encoder); with --model give umT5 embeddings as --text FILE");
  const textPath = flag("text");
  if (!textPath) throw new UsageError("--text FILE (umT5 prompt embeddings, see README) is required with --model");
  const negPath = flag("negative-text");
  if (needNegative && !negPath) throw new UsageError("--negative-text FILE is required with --model when --guidance is not 1");
  const { config, checkpoint: ckpt } = await openModel(dir, { onProgress: downloadProgress() });
  const text = await readTextEmbedding(textPath, config);
  const neg = negPath ? await readTextEmbedding(negPath, config) : null;
  const weights = await loadWanWeights(ckpt, config, progressBar(`loading ${dir}`));
  return { name: dir, config, weights, text: text.text, textTokens: text.tokens, negativeText: neg?.text ?? null, negativeTokens: neg?.tokens ?? 0, latent: parseLatent(flag("latent"), { F: 21, H: 60, W: 104 }), pixels: false };
}

function stepLine(r: StepReport): string {
  const devices = r.perDevice.map((d) => `d${d.device} ${d.ms.toFixed(0)}ms`).join(" ");
  return `step ${String(r.step + 1).padStart(String(r.steps).length)}/${r.steps} ${barText(r.step + 1, r.steps, 20)} t=${r.timestep} ${r.ms.toFixed(0)} ms | ${devices}`;
}

export async function generateCommand(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ["overlap"]);
  allowFlags(p, "generate", FLAGS);
  const flag = (n: string) => (typeof p.flags.get(n) === "string" ? p.flags.get(n) as string : undefined);
  const embedded = !flag("model");
  const devices = int(p, "devices", embedded ? 4 : 1);
  const mode = oneOf(p, "shard", ["sequence", "frame"] as const, "sequence");
  const precision = oneOf(p, "precision", ["f32", "f16"] as const, "f32");
  const solver = oneOf(p, "solver", SOLVERS, embedded ? EMBEDDED_SAMPLER.solver : "unipc");
  const steps = int(p, "steps", embedded ? EMBEDDED_SAMPLER.steps : 50);
  const guidance = num(p, "guidance", embedded ? EMBEDDED_SAMPLER.guidance : 5.0);
  const shift = num(p, "shift", embedded ? EMBEDDED_SAMPLER.shift : 5.0);
  const scale = int(p, "scale", 4);
  const seed = int(p, "seed", 0, 0);
  const outDir = str(p, "out", "out");
  const weights = parseWeights(flag("weights"), devices);
  const overlap = parseOverlap(p);

  // Ctrl-C cancels: the forward in flight stops at its devices' next layer, the workers release their
  // GPUs, nothing is written, exit status 130. A second Ctrl-C quits at once.
  const cancel = new AbortController();
  const onInterrupt = () => {
    if (cancel.signal.aborted) Deno.exit(130);
    console.error("cancelling: the devices stop at their next layer (Ctrl-C again to quit at once)");
    cancel.abort();
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  let pool: WorkerPool | null = null;
  let stepsDone = 0;
  let latentsWritten = false;
  try {
    const model = await chooseModel(flag, guidance !== 1);
    // --vae: the config is checked against the model before anything runs; the weights load with the model's.
    const vae = flag("vae") ? await openVae(flag("vae")!) : null;
    if (vae && vae.config.zDim !== model.config.outChannels) {
      throw new UsageError(`--vae ${flag("vae")}: its z_dim is ${vae.config.zDim}, the model's latents have ${model.config.outChannels} channels`);
    }
    if (vae) planBands(model.latent.H, devices, weights); // the decode's bands: at least one latent row per device
    throwIfCancelled(cancel.signal);
    const t0 = performance.now();
    pool = await WorkerPool.create({ devices, precision, gpus: placeDevices(flag("gpus"), devices), barrierTimeoutMs: int(p, "timeout", 180) * 1000, overlap });
    await pool.load(model.config, model.weights);
    if (vae) await pool.loadVae(vae.config, await vae.weights());
    throwIfCancelled(cancel.signal);
    await setPrompts(pool, model.text, guidance !== 1 ? model.negativeText : null, model.textTokens, model.negativeTokens);
    throwIfCancelled(cancel.signal);
    const setupMs = performance.now() - t0;
    if (model.prompt !== undefined) console.log(`prompt: "${model.prompt}"`);
    console.log(`${model.name}: latent ${model.latent.F}x${model.latent.H}x${model.latent.W}, ${devices} device(s) [${[...new Set(pool.adapters())].join("; ")}], ${mode} mode, ${precision}, ${solver} ${steps} steps, guidance ${guidance}, shift ${shift}, seed ${seed}`);
    const sampler = { steps, shift, guidance, solver };
    const result = await generate(pool, model.config, { latent: model.latent, sampler, seed, mode, weights, signal: cancel.signal, condition: model.condition }, (r) => {
      stepsDone = r.step + 1;
      console.log(stepLine(r));
    });
    const C = model.config.outChannels, { F, H, W } = result.latentGrid;
    await Deno.mkdir(outDir, { recursive: true });
    await Deno.writeFile(`${outDir}/latents.safetensors`, encodeSafetensors({ latents: { dtype: "F32", shape: [1, C, F, H, W], data: result.latent } }, { model: model.name, steps: String(steps), seed: String(seed) }));
    const written = [`${outDir}/latents.safetensors`];
    if (model.pixels) {
      // The pixel-space latent is the clip: [12, F, h, w] -> [3, F, 2h, 2w], clamped to [-1, 1].
      const video = depthToSpace(result.latent, result.latentGrid);
      const grid = { F, H: 2 * H, W: 2 * W };
      const shown = upscaleVideo(video, grid, scale);
      await Deno.writeFile(`${outDir}/video.gif`, await encodeVideoFile("video.gif", shown.video, shown.grid));
      await Deno.writeFile(`${outDir}/video.png`, await encodeVideoFile("video.png", shown.video, shown.grid));
      await Deno.writeFile(`${outDir}/video.safetensors`, await encodeVideoFile("video.safetensors", video, grid));
      written.push(`${outDir}/video.gif`, `${outDir}/video.png`, `${outDir}/video.safetensors`);
      const framesDir = flag("frames");
      if (framesDir) {
        await Deno.mkdir(framesDir, { recursive: true });
        const frames = await encodeFramePngs(shown.video, shown.grid);
        for (const [name, bytes] of frames) await Deno.writeFile(`${framesDir}/${name}`, bytes);
        written.push(`${framesDir}/frame_*.png (${frames.length})`);
      }
    } else {
      const preview = latentPreview(result.latent, C, result.latentGrid);
      await Deno.writeFile(`${outDir}/preview.png`, await encodePng(preview.rgb, preview.width, preview.height));
      written.push(`${outDir}/preview.png`);
    }
    latentsWritten = true;
    let decoded: DecodeRun | null = null;
    if (vae) {
      const stop = () => pool!.cancel("interrupted");
      cancel.signal.addEventListener("abort", stop);
      try {
        decoded = await decodeLatents(pool, vae.config, result.latent, result.latentGrid, weights, (c) => console.log(chunkLine(c)));
      } finally {
        cancel.signal.removeEventListener("abort", stop);
      }
      await writeVideo(decoded, `${outDir}/video.safetensors`);
      await writeVideo(decoded, `${outDir}/video.gif`);
    }
    const perStep = result.steps.map((s) => s.ms);
    const summary = {
      model: model.name,
      prompt: model.prompt,
      sampler: { solver, steps, guidance, shift, seed },
      tokens: result.plan.tokens,
      devices,
      shard: mode,
      padTokens: result.plan.padTokens,
      framePadTokens: result.framePlan.padTokens,
      paddingSavedVsFrameMode: result.framePlan.padTokens - result.plan.padTokens,
      shards: result.plan.shards,
      steps,
      msPerStep: perStep.reduce((a, b) => a + b, 0) / perStep.length,
      totalMs: result.ms,
      setupMs,
      perStep: result.steps,
      decode: decoded && { video: decoded.videoGrid, ms: decoded.ms, perDevice: decoded.stats },
    };
    await Deno.writeTextFile(`${outDir}/summary.json`, JSON.stringify(summary, null, 2) + "\n");
    console.log(
      `done: ${summary.tokens} tokens on ${devices} device(s), ${summary.padTokens} pad tokens (frame mode would pad ${summary.framePadTokens}: ${summary.paddingSavedVsFrameMode} saved), ` +
        `${summary.msPerStep.toFixed(0)} ms/step, ${(summary.totalMs / 1000).toFixed(1)} s total (+${(setupMs / 1000).toFixed(1)} s setup)`,
    );
    if (decoded) {
      const v = decoded.videoGrid;
      console.log(`decoded: ${v.F} frames of ${v.W}x${v.H} in ${(decoded.ms / 1000).toFixed(1)} s on ${devices} device(s)`);
      if (devices > 1) for (const line of decodeLines(decoded, pool.adapters())) console.log(line);
    }
    const videoFiles = decoded ? `, ${outDir}/video.safetensors, ${outDir}/video.gif` : "";
    console.log(`wrote ${written.join(", ")}${videoFiles}, ${outDir}/summary.json`);
    return 0;
  } catch (e) {
    if (!(e instanceof PoolCancelled)) throw e;
    if (latentsWritten) console.error(`decode cancelled: ${outDir}/latents.safetensors and preview.png written, no video`);
    else console.error(`cancelled after ${stepsDone}/${steps} steps; nothing written`);
    return 130;
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
    await pool?.close();
  }
}
