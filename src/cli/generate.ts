// `shardit generate`: the whole denoising loop, sharded over device workers. With no --model it runs the
// embedded trained model (models/embedded: 8 frames of 32x32, prompts "a <color> <shape> moving <direction>",
// --prompt) on 4 workers in sequence mode and writes the clip: DIR/video.gif (shown 4x, --scale),
// DIR/video.png (contact sheet), DIR/video.safetensors (`video` [1, 3, 8, 32, 32] in [-1, 1]) and, with
// --frames DIR2, every frame as PNG.
// Writes DIR/latents.safetensors (`latents` [1, C, F, H, W] F32), DIR/preview.png (latent channels 0-2
// as RGB, frames side by side) and DIR/summary.json, and prints a progress bar per step. With --vae it then
// decodes on the same workers (bands of latent rows) and adds DIR/video.safetensors (`video` [1, 3, F', H', W']
// F32 in [-1, 1]) and DIR/video.gif.
import { type CommandSpec, int, num, oneOf, parseCommand, str, UsageError } from "./args.ts";
import { barText, downloadProgress, progressBar } from "./progress.ts";
import { parseOverlap, parseWeights } from "./forward.ts";
import {
  checkEmbeddedPrompt, decodeLatents, type DecodeRun, denoFileSource, depthToSpace, EMBEDDED_LATENT, EMBEDDED_PROMPT, EMBEDDED_SAMPLER, embeddedPrompt, encodeFramePngs, encodePng, encodeSafetensors, generate, type Grid3, latentPreview,
  loadWanWeights, openModel, placeDevices, planBands, PoolCancelled, readPromptEmbeddings, setPrompts, SOLVERS, type StepReport, throwIfCancelled,
  encodeVideoFile, loadEmbeddedModel, upscaleVideo, type WanConfig, type WanWeights, WorkerPool,
} from "../deno.ts";
import { chunkLine, decodeLines, openVae, writeVideo } from "./decode.ts";
import { applyLoraFlags, LORA_FLAG, PRESET_FLAG, presetFlag } from "./lora_flags.ts";
import { onInterrupt } from "./interrupt.ts";
import { checkDevices, checkLatent, checkScale, checkSteps } from "./bounds.ts";
import { OutputSet } from "../io/atomic_output.ts";
import { escapeControl } from "../errors.ts";
import { devicesFlag } from "./devices.ts";
import { encodeForModel } from "./encode.ts";
import { UMT5_GEMM_PATHS, type Umt5GemmPath, type Umt5Precision, UMT5_PRECISIONS } from "../model/umt5.ts";
import { deviceLabel, FEWER_FORWARDS_FLAGS, fewerForwardsLine, fewerForwardsOptions, promptArgs, seedsFlag, stepMark } from "./fewer_forwards_flags.ts";
import { runSummary } from "../pipeline/summary.ts";

/** The embedded model's vocabulary for --help, read from its vocab.json (the encoder's own list). */
function embeddedWords(): string {
  try {
    const words = JSON.parse(Deno.readTextFileSync(new URL("../../models/embedded/text_encoder/vocab.json", import.meta.url))) as string[];
    return `${words.length} words: ${words.join(" ")}`;
  } catch {
    return "the words in models/embedded/text_encoder/vocab.json";
  }
}

/**
 * generate's flags: the parser accepts exactly these rows and `shardit generate --help` prints them. To add a
 * flag, add a row (value: its placeholder, or none for an on/off switch; default as the user should read it).
 */
export const SPEC: CommandSpec = {
  name: "generate",
  summary: "the denoising loop, sharded over device workers; with no --model, the embedded model makes a clip from --prompt",
  flags: [
    { name: "prompt", value: "TEXT", default: `"${EMBEDDED_PROMPT}"`, help: "embedded model: a <red|green|blue|yellow|white> <circle|square|triangle> moving <left|right|up|down>; with --model: any text, through the pipeline's umT5 (tokenizer/, text_encoder/)" },
    { name: "negative-prompt", value: "TEXT", default: `"" (WanPipeline's)`, help: "with --model and --prompt: the negative prompt, encoded the same way" },
    { name: "text-precision", value: "f32|w16|w8|f16", default: "f32", help: "with --model and --prompt: the umT5 encoder's precision (w16: f16 weights, w8: int8 weights; see shardit encode --help)" },
    { name: "text-gemm", value: "auto|scalar|matrix", default: "auto", help: "with --text-precision w16 or w8: where the encoder's linears run (see shardit encode --help, --gemm)" },
    { name: "text-devices", value: "N", default: "1", help: "with --model and --prompt: the umT5 encoder's layers split over N devices, placed by --gpus (see shardit encode --help, --devices)" },
    { name: "out", value: "DIR", default: "out", help: "where latents.safetensors, summary.json and the video (or preview.png) go" },
    { name: "frames", value: "DIR", help: "embedded model: also every frame as DIR/frame_NNN.png" },
    { name: "scale", value: "N", default: "4", help: "embedded model: video.gif and video.png shown N times the 32x32 clip" },
    { name: "devices", value: "N", default: "4 for the embedded model, 1 with --model; 1 on a CPU adapter or under 4 cores", help: "device workers, each its own WebGPU device" },
    { name: "seed", value: "N", default: "0", help: "the initial noise" },
    { name: "steps", value: "N", default: `${EMBEDDED_SAMPLER.steps} (embedded), 50 (--model)`, help: "sampler steps" },
    { name: "guidance", value: "G", default: `${EMBEDDED_SAMPLER.guidance} (embedded), 5 (--model)`, help: "classifier-free guidance scale (1: one forward per step, no negative)" },
    { name: "shift", value: "S", default: `${EMBEDDED_SAMPLER.shift} (embedded), 5 (--model)`, help: "flow-matching timestep shift" },
    PRESET_FLAG,
    { name: "solver", value: SOLVERS.join("|"), default: `${EMBEDDED_SAMPLER.solver} (embedded), unipc (--model)`, help: "the sampler" },
    { name: "model", value: "DIR|URL|HUB_ID", help: "a diffusers Wan2.1 transformer (folder, pipeline folder, URL or Hub id) instead of the embedded model" },
    { name: "text", value: "FILE", help: "umT5 prompt embeddings (prompt_embeds [1, L, 4096]: shardit encode writes them); with --model, instead of --prompt" },
    { name: "negative-text", value: "FILE", help: "umT5 negative-prompt embeddings; with --text and --model unless --guidance 1" },
    { name: "latent", value: "F,H,W", default: "8,16,16 (embedded), 21,60,104 (--model)", help: "latent grid (H and W even)" },
    LORA_FLAG,
    { name: "vae", value: "DIR|URL|HUB_ID", help: "with --model: decode on the same devices, adds video.safetensors and video.gif" },
    { name: "shard", value: "sequence|frame", default: "sequence", help: "how tokens are split over devices (frame: SGLang's whole-frame split, for comparison)" },
    { name: "weights", value: "w1,...", help: "relative speed of each device (one number per device): uneven shards" },
    { name: "precision", value: "f32|f16", default: "f32", help: "weights and activations" },
    { name: "gpus", value: "auto|ID,...", help: "Deno on Linux: spread the workers over the host's GPUs (PCI ids)" },
    { name: "overlap", default: "on", help: "overlap the key/value exchange with attention over each device's own keys (--overlap=off)" },
    { name: "timeout", value: "S", default: "180", help: "seconds a device may wait for the others at a barrier" },
    ...FEWER_FORWARDS_FLAGS,
  ],
  examples: [
    `npx shardit generate --prompt "a blue square moving up"`,
    `npx shardit generate --prompt "a white triangle moving left" --seed 3 --out tri --frames tri/frames`,
    "npx shardit generate --model Wan-AI/Wan2.1-T2V-1.3B-Diffusers --text prompt.safetensors --negative-text negative.safetensors --latent 21,60,104 --precision f16 --devices 2 --gpus auto",
  ],
  notes: [
    `The embedded model knows ${embeddedWords()} (sentence punctuation is ignored).`,
    "It writes DIR/video.gif, video.png (contact sheet), video.safetensors, latents.safetensors and summary.json;",
    "Ctrl-C stops within a layer (exit 130, nothing written).",
  ],
};

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
  /** The embedded model's word encoder, for a repeated --prompt. */
  encodePrompt?: (prompt: string) => { text: Float32Array; tokens: number };
}

async function chooseModel(flag: (n: string) => string | undefined, needNegative: boolean): Promise<ModelChoice> {
  const dir = flag("model");
  if (!dir) {
    if (flag("prompt") !== undefined && flag("text")) throw new UsageError("give --prompt or --text, not both");
    if (flag("vae")) throw new UsageError("--vae needs --model: the embedded model works in pixel space, its output is the video");
    if (flag("negative-prompt") !== undefined) throw new UsageError("--negative-prompt needs --model (the embedded model's negative is the empty prompt)");
    const e = await loadEmbeddedModel();
    const prompt = flag("text") ? undefined : flag("prompt") ?? EMBEDDED_PROMPT;
    if (prompt !== undefined) {
      try {
        checkEmbeddedPrompt(prompt);
      } catch (err) {
        throw new UsageError(`--prompt: ${(err as Error).message}`);
      }
    }
    const text = prompt === undefined ? await readTextEmbedding(flag("text")!, e.config) : embeddedPrompt(e, prompt);
    // The unconditional branch is the empty prompt: all-zero rows, as the model was trained (10% text dropped).
    const neg = flag("negative-text") ? await readTextEmbedding(flag("negative-text")!, e.config) : embeddedPrompt(e, "");
    return { name: e.name, config: e.config, weights: e.weights, text: text.text, textTokens: text.tokens, negativeText: neg.text, negativeTokens: neg.tokens, latent: parseLatent(flag("latent"), EMBEDDED_LATENT), pixels: true, prompt, condition: e.condition, encodePrompt: (s: string) => embeddedPrompt(e, s) };
  }
  // The text: --prompt through the pipeline's umT5 (tokenizer/ and text_encoder/, src/cli/encode.ts), or --text embeddings.
  const promptText = flag("prompt"), negPrompt = flag("negative-prompt");
  const textPath = flag("text");
  if (promptText !== undefined && textPath) throw new UsageError("give --prompt or --text, not both");
  if (promptText === undefined && !textPath) throw new UsageError("--prompt TEXT (encoded by the pipeline's umT5) or --text FILE (embeddings, see shardit encode) is required with --model");
  const negPath = flag("negative-text");
  if (negPrompt !== undefined && negPath) throw new UsageError("give --negative-prompt or --negative-text, not both");
  if (negPrompt !== undefined && promptText === undefined) throw new UsageError("--negative-prompt goes with --prompt (with --text give --negative-text FILE)");
  if (needNegative && promptText === undefined && !negPath) throw new UsageError("--negative-text FILE is required with --model when --guidance is not 1");
  const { config, checkpoint: ckpt } = await openModel(dir, { onProgress: downloadProgress() });
  let text: { text: Float32Array; tokens: number }, neg: { text: Float32Array; tokens: number } | null;
  if (promptText !== undefined) {
    // WanPipeline's default negative prompt is "" (None): encoded like any prompt.
    const textPrecision = (flag("text-precision") ?? "f32") as Umt5Precision;
    if (!UMT5_PRECISIONS.includes(textPrecision)) throw new UsageError(`--text-precision must be one of ${UMT5_PRECISIONS.join(", ")}, got ${textPrecision}`);
    const textGemm = (flag("text-gemm") ?? "auto") as Umt5GemmPath;
    if (!UMT5_GEMM_PATHS.includes(textGemm)) throw new UsageError(`--text-gemm must be one of ${UMT5_GEMM_PATHS.join(", ")}, got ${textGemm}`);
    const textDevices = Number(flag("text-devices") ?? "1");
    if (!Number.isInteger(textDevices) || textDevices < 1) throw new UsageError(`--text-devices must be an integer >= 1, got ${flag("text-devices")}`);
    ({ text, negative: neg } = await encodeForModel(dir, promptText, needNegative ? negPrompt ?? "" : null, config.textDim, textPrecision, textGemm, { devices: textDevices, gpus: textDevices > 1 ? flag("gpus") : undefined }));
  } else {
    text = await readTextEmbedding(textPath!, config);
    neg = negPath ? await readTextEmbedding(negPath, config) : null;
  }
  const weights = await loadWanWeights(ckpt, config, progressBar(`loading ${dir}`));
  return { name: dir, config, weights, text: text.text, textTokens: text.tokens, negativeText: neg?.text ?? null, negativeTokens: neg?.tokens ?? 0, latent: parseLatent(flag("latent"), { F: 21, H: 60, W: 104 }), pixels: false, prompt: promptText };
}

function stepLine(r: StepReport): string {
  const devices = r.perDevice.map((d) => `${deviceLabel(d)} ${d.ms.toFixed(0)}ms`).join(" ");
  return `step ${String(r.step + 1).padStart(String(r.steps).length)}/${r.steps} ${barText(r.step + 1, r.steps, 20)} t=${r.timestep} ${r.ms.toFixed(0)} ms${stepMark(r)} | ${devices}`;
}

export async function generateCommand(argv: string[]): Promise<number> {
  const p = parseCommand(SPEC, argv);
  const flag = (n: string) => (typeof p.flags.get(n) === "string" ? p.flags.get(n) as string : undefined);
  const embedded = !flag("model");
  const { devices, why: devicesWhy } = await devicesFlag(p, embedded ? 4 : 1);
  const mode = oneOf(p, "shard", ["sequence", "frame"] as const, "sequence");
  const precision = oneOf(p, "precision", ["f32", "f16"] as const, "f32");
  const preset = presetFlag(p); // --preset: the sampler settings of a step-distilled model (src/sampler/presets.ts)
  const solver = preset?.solver ?? oneOf(p, "solver", SOLVERS, embedded ? EMBEDDED_SAMPLER.solver : "unipc");
  const steps = preset?.steps ?? int(p, "steps", embedded ? EMBEDDED_SAMPLER.steps : 50);
  const guidance = preset?.guidance ?? num(p, "guidance", embedded ? EMBEDDED_SAMPLER.guidance : 5.0);
  const shift = preset?.shift ?? num(p, "shift", embedded ? EMBEDDED_SAMPLER.shift : 5.0);
  const scale = int(p, "scale", 4);
  const seed = int(p, "seed", 0, 0);
  const outDir = str(p, "out", "out");
  const weights = parseWeights(flag("weights"), devices);
  const overlap = parseOverlap(p);
  checkDevices(devices); // size flags bounded before anything is allocated (bounds.ts)
  checkSteps(steps);
  // --cfg-parallel, --batch, --cache, --seeds and a repeated --prompt (issue 17: fewer forwards per video).
  const fewer = fewerForwardsOptions(p, devices, guidance);
  const seeds = seedsFlag(p, seed);
  const prompts = promptArgs(argv);

  // The outputs are checked, locked and staged before anything runs (src/io/atomic_output.ts): every file
  // goes into a folder beside --out and is renamed into place at the end, all or nothing.
  const framesDir = embedded ? flag("frames") : undefined;
  const outputs = OutputSet.open([{ flag: "--out", path: outDir, kind: "dir" }, ...(framesDir ? [{ flag: "--frames", path: framesDir, kind: "dir" as const }] : [])]);
  // Ctrl-C, SIGTERM or SIGHUP cancels: the forward in flight stops at its devices' next layer, the workers
  // release their GPUs, nothing is changed, exit status 130. A second one quits at once (still changing
  // nothing); one that comes while the outputs are being renamed into place waits for the renames.
  const cancel = new AbortController();
  const stopListening = onInterrupt((count, why) => {
    if (outputs.isCommitting || outputs.isDone) return;
    if (count > 1) {
      outputs.close();
      console.error(`cancelled (${why}); nothing written`);
      Deno.exit(130);
    }
    console.error(`cancelling (${why}): the devices stop at their next layer (Ctrl-C again to quit at once)`);
    cancel.abort();
  });
  let pool: WorkerPool | null = null;
  let stepsDone = 0;
  let latentsWritten = false;
  try {
    const model = await chooseModel(flag, guidance !== 1);
    const { F: lF, H: lH, W: lW } = model.latent;
    checkLatent(lF, lH, lW, { dim: model.config.dim, channels: Math.max(model.config.inChannels, model.config.outChannels), ropeMaxSeqLen: model.config.ropeMaxSeqLen });
    if (model.pixels) checkScale(scale, lF, 2 * lH, 2 * lW); // the clip is depthToSpace of the latent
    await applyLoraFlags(argv, model.config, model.weights); // --lora: merged in f32 before the workers get the weights
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
    // Items: every prompt with every seed; prompt k > 0 is text "prompt<k>" (the embedded model's encoder only).
    if (prompts.length > 1 && !model.encodePrompt) throw new UsageError("a repeated --prompt works with the embedded model (with --model, one --prompt per run)");
    // (The parser keeps the last --prompt: with several, "prompt" is re-encoded from the first.)
    for (let k = 0; prompts.length > 1 && k < prompts.length; k++) {
      const t = model.encodePrompt!(prompts[k]);
      await pool.setText(k === 0 ? "prompt" : `prompt${k}`, t.text, t.tokens);
    }
    const items = (prompts.length > 1 ? prompts : [model.prompt]).flatMap((_, k) => seeds.map((s) => ({ seed: s, textKey: k === 0 ? "prompt" : `prompt${k}` })));
    throwIfCancelled(cancel.signal);
    const setupMs = performance.now() - t0;
    if (prompts.length > 1) prompts.forEach((t, k) => console.log(`prompt ${k}: "${escapeControl(t)}"`));
    else if (model.prompt !== undefined) console.log(`prompt: "${escapeControl(model.prompt)}"`);
    if (devicesWhy) console.log(devicesWhy);
    console.log(`${model.name}: latent ${model.latent.F}x${model.latent.H}x${model.latent.W}, ${devices} device(s) [${[...new Set(pool.adapters())].join("; ")}], ${mode} mode, ${precision}, ${solver} ${steps} steps, guidance ${guidance}, shift ${shift}, seed ${seed}`);
    const sampler = { ...preset, steps, shift, guidance, solver, noiseSeed: seed };
    // The first step waits for every kernel's pipeline to compile (seconds on a CPU adapter, minutes on wgpu's
    // GL fallback; bench/RESULTS.md). WebGPU has no pipeline cache to keep; the drivers' own disk caches (Mesa's
    // ~/.cache/mesa_shader_cache, NVIDIA's ~/.nv/ComputeCache) make the next runs start at once.
    console.log("compiling kernels during step 1 (a first run only: the driver keeps compiled shaders on disk)");
    const result = await generate(pool, model.config, { latent: model.latent, sampler, seed, mode, weights, signal: cancel.signal, condition: model.condition, ...fewer, items }, (r) => {
      stepsDone = r.step + 1;
      console.log(stepLine(r));
    });
    const C = model.config.outChannels, { F, H, W } = result.latentGrid;
    const written: string[] = [];
    // Item 0 (the first prompt and seed) in --out, item k > 0 in --out/item<k>/, each with the same files.
    for (let k = 0; k < result.latents.length; k++) {
      const sub = k === 0 ? "" : `item${k}/`, latent = result.latents[k];
      if (sub) await Deno.mkdir(outputs.staged(outDir, sub), { recursive: true });
      await outputs.write(outDir, `${sub}latents.safetensors`, encodeSafetensors({ latents: { dtype: "F32", shape: [1, C, F, H, W], data: latent } }, { model: model.name, steps: String(steps), seed: String(items[k].seed) }));
      written.push(`${outDir}/${sub}latents.safetensors`);
      if (model.pixels) {
        // The pixel-space latent is the clip: [12, F, h, w] -> [3, F, 2h, 2w], clamped to [-1, 1].
        const video = depthToSpace(latent, result.latentGrid);
        const grid = { F, H: 2 * H, W: 2 * W };
        const shown = upscaleVideo(video, grid, scale);
        await outputs.write(outDir, `${sub}video.gif`, await encodeVideoFile("video.gif", shown.video, shown.grid));
        await outputs.write(outDir, `${sub}video.png`, await encodeVideoFile("video.png", shown.video, shown.grid));
        await outputs.write(outDir, `${sub}video.safetensors`, await encodeVideoFile("video.safetensors", video, grid));
        written.push(`${outDir}/${sub}video.gif`, `${outDir}/${sub}video.png`, `${outDir}/${sub}video.safetensors`);
        if (framesDir && k === 0) {
          const frames = await encodeFramePngs(shown.video, shown.grid);
          for (const [name, bytes] of frames) await outputs.write(framesDir, name, bytes);
          written.push(`${framesDir}/frame_*.png (${frames.length})`);
        }
      } else {
        const preview = latentPreview(latent, C, result.latentGrid);
        await outputs.write(outDir, `${sub}preview.png`, await encodePng(preview.rgb, preview.width, preview.height));
        written.push(`${outDir}/${sub}preview.png`);
      }
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
      await writeVideo(decoded, outputs.staged(outDir, "video.safetensors"));
      await writeVideo(decoded, outputs.staged(outDir, "video.gif"));
    }
    const summary = {
      model: model.name,
      prompt: prompts.length > 1 ? prompts : model.prompt,
      sampler: { solver, steps, guidance, shift, seed, preset: flag("preset") },
      devices,
      steps,
      setupMs,
      ...runSummary(result),
      decode: decoded && { video: decoded.videoGrid, ms: decoded.ms, perDevice: decoded.stats },
    };
    await outputs.write(outDir, "summary.json", new TextEncoder().encode(JSON.stringify(summary, null, 2) + "\n"));
    // An interrupt that came while the files were encoded still means nothing changes.
    throwIfCancelled(cancel.signal);
    outputs.commit();
    console.log(
      `done: ${summary.tokens} tokens on ${devices} device(s), ${summary.padTokens} pad tokens (frame mode would pad ${summary.framePadTokens}: ${summary.paddingSavedVsFrameMode} saved), ` +
        `${summary.msPerStep.toFixed(0)} ms/step, ${(summary.totalMs / 1000).toFixed(1)} s total (+${(setupMs / 1000).toFixed(1)} s setup)`,
    );
    const fewerLine = fewerForwardsLine(result);
    if (fewerLine) console.log(fewerLine);
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
    if (latentsWritten) console.error(`cancelled after the ${steps} steps; nothing written`);
    else console.error(`cancelled after ${stepsDone}/${steps} steps; nothing written`);
    return 130;
  } finally {
    outputs.close(); // first: once the listeners go, Deno restores the signals' default (src/cli/interrupt.ts)
    stopListening();
    await pool?.close();
  }
}
