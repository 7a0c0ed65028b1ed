// The demo's video step: after a run, decode the latents with a Wan VAE on the same workers (bands of
// latent rows, src/parallel/vae_*.ts), then play the clip and offer it for download: a WebM (VP9 or VP8
// through WebCodecs' VideoEncoder, muxed by webm-muxer) where the browser can encode one, else the
// animated GIF (src/io/video.ts). Draws the decode bands under the shard map with each device's time.
// The panel mounts itself (mountVideo): a "Video" fieldset in the controls (the VAE: none, embedded, a vae/
// folder, a URL or Hub id; a latents file to decode instead of the last run's), the decode bands under
// the shard map, and a "Video" panel with the player, the download link and per-device times. It runs
// on its own pool of the page's worker count and precision. State for tests: window.__shardit_video.
import { ArrayBufferTarget, Muxer } from "webm-muxer";
import {
  type BandPlan, type DecodeChunkProgress, type DecodeRun, decodeLatents, type DecodeStats, type DType, encodeGif, fileListFolder, fileObjectSource, folderFromText, type FolderSource, type Grid3,
  openWanVaeFolder, parseWanVaeConfig, pickModelFolder, pipelineComponent, planBands, PoolCancelled, readLatents, syntheticVaeWeights, videoToRgb8, WAN_FPS, type WanVaeConfig,
  type WanVaeWeights, WorkerPool,
} from "../src/index.ts";
import { deviceColor } from "./shard_map.ts";

export type VaeSource = "none" | "embedded" | "folder" | "url";

export interface VideoState {
  status: "idle" | "loading" | "decoding" | "encoding" | "done" | "error" | "cancelled";
  /** What the panel is doing, in words. */
  phase: string;
  /** The decode's bands and per-device milliseconds. */
  bands: { device: number; y0: number; y1: number; ms: number; exchangeMs: number; chunkMs: number[] }[] | null;
  video: Grid3 | null;
  decodeMs: number;
  /** What plays: "webm" (WebCodecs) or "gif" (no VideoEncoder, or it refused the config). */
  format: "webm" | "gif" | null;
  codec: string | null;
  bytes: number;
  /** Why there is no WebM, when there is none. */
  fallback: string | null;
  error: string | null;
}

declare global {
  interface Window { __shardit_video: VideoState }
}

export const videoState: VideoState = { status: "idle", phase: "", bands: null, video: null, decodeMs: 0, format: null, codec: null, bytes: 0, fallback: null, error: null };
window.__shardit_video = videoState;

/**
 * The embedded VAE: the decoder of the wan-vae-tiny fixture's shape (base_dim 8, z_dim 16, Wan2.1's
 * latent statistics) with weights by the fixtures' rule: nothing to download, and it shows the path
 * (bands, halo exchange, files), not pictures, like the embedded DiT.
 */
export const EMBEDDED_VAE_CONFIG: WanVaeConfig = parseWanVaeConfig({
  _class_name: "AutoencoderKLWan",
  base_dim: 8,
  z_dim: 16,
  dim_mult: [1, 2, 4, 4],
  num_res_blocks: 2,
  attn_scales: [],
  temperal_downsample: [false, true, true],
  latents_mean: [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921],
  latents_std: [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.916],
}, "embedded VAE");

export interface LoadedVae {
  id: string;
  config: WanVaeConfig;
  weights: WanVaeWeights;
}

let embedded: LoadedVae | null = null;
export function embeddedVae(): LoadedVae {
  embedded ??= { id: "embedded-vae", config: EMBEDDED_VAE_CONFIG, weights: syntheticVaeWeights(EMBEDDED_VAE_CONFIG) };
  return embedded;
}

export async function loadVaeFolder(id: string, folder: FolderSource, onProgress?: (done: number, total: number) => void): Promise<LoadedVae> {
  const { config, weights } = await openWanVaeFolder(folder, onProgress);
  return { id, config, weights };
}

/** Which pool holds which VAE (a pool is rebuilt when the model, workers or precision change). */
const loadedIn = new WeakMap<WorkerPool, string>();

/** Decodes `latent` on the pool's workers; Cancel (signal) stops the devices at their next halo swap. */
export async function decodeOnPool(
  pool: WorkerPool,
  vae: LoadedVae,
  latents: Float32Array,
  latent: Grid3,
  weights: number[] | undefined,
  signal: AbortSignal,
  onChunk?: (p: DecodeChunkProgress) => void,
): Promise<DecodeRun> {
  if (vae.config.zDim * latent.F * latent.H * latent.W !== latents.length) {
    throw new Error(`the VAE's z_dim is ${vae.config.zDim}, the latent has ${latents.length / (latent.F * latent.H * latent.W)} channels`);
  }
  planBands(latent.H, pool.devices, weights); // fail before loading when the rows cannot be split
  if (loadedIn.get(pool) !== vae.id) {
    await pool.loadVae(vae.config, vae.weights);
    loadedIn.set(pool, vae.id);
  }
  const stop = () => pool.cancel("cancelled");
  signal.addEventListener("abort", stop);
  try {
    return await decodeLatents(pool, vae.config, latents, latent, weights, onChunk);
  } finally {
    signal.removeEventListener("abort", stop);
  }
}

/** Frames of RGB [H, W, 3] -> a WebM, or null (with the reason) where this browser cannot encode one. */
export async function encodeWebm(frames: Uint8Array[], width: number, height: number, fps = WAN_FPS): Promise<{ blob: Blob; codec: string } | { blob: null; reason: string }> {
  if (typeof VideoEncoder === "undefined") return { blob: null, reason: "this browser has no WebCodecs VideoEncoder" };
  const choices = [{ codec: "vp09.00.10.08", mux: "V_VP9" }, { codec: "vp8", mux: "V_VP8" }];
  let chosen: (typeof choices)[number] | null = null;
  const config = (codec: string): VideoEncoderConfig => ({ codec, width, height, framerate: fps, bitrate: Math.max(200_000, width * height * fps * 2) });
  for (const c of choices) {
    const ok = await VideoEncoder.isConfigSupported(config(c.codec)).then((s) => s.supported, () => false);
    if (ok) {
      chosen = c;
      break;
    }
  }
  if (!chosen) return { blob: null, reason: `VideoEncoder supports neither VP9 nor VP8 at ${width}x${height}` };
  const muxer = new Muxer({ target: new ArrayBufferTarget(), video: { codec: chosen.mux, width, height, frameRate: fps } });
  let failure: Error | null = null;
  const encoder = new VideoEncoder({ output: (chunk, meta) => muxer.addVideoChunk(chunk, meta), error: (e) => (failure = e) });
  encoder.configure(config(chosen.codec));
  const rgba = new Uint8Array(width * height * 4);
  frames.forEach((rgb, i) => {
    for (let p = 0, q = 0; p < rgb.length; p += 3, q += 4) {
      rgba[q] = rgb[p], rgba[q + 1] = rgb[p + 1], rgba[q + 2] = rgb[p + 2], rgba[q + 3] = 255;
    }
    const frame = new VideoFrame(rgba, { format: "RGBA", codedWidth: width, codedHeight: height, timestamp: Math.round((i * 1e6) / fps), duration: Math.round(1e6 / fps) });
    encoder.encode(frame, { keyFrame: i % (2 * fps) === 0 });
    frame.close();
  });
  await encoder.flush();
  encoder.close();
  if (failure) return { blob: null, reason: `VideoEncoder failed: ${(failure as Error).message}` };
  muxer.finalize();
  return { blob: new Blob([muxer.target.buffer], { type: "video/webm" }), codec: chosen.codec };
}

/** The decoded video as a playable file: WebM where WebCodecs can, else the animated GIF. */
export async function playableFile(run: DecodeRun): Promise<{ blob: Blob; name: string; format: "webm" | "gif"; codec: string | null; fallback: string | null }> {
  const { F, H, W } = run.videoGrid;
  const frames = videoToRgb8(run.video, run.videoGrid);
  const webm = await encodeWebm(frames, W, H);
  if (webm.blob) return { blob: webm.blob, name: `shardit-${F}x${W}x${H}.webm`, format: "webm", codec: webm.codec, fallback: null };
  const gif = encodeGif(frames, W, H);
  return { blob: new Blob([gif as Uint8Array<ArrayBuffer>], { type: "image/gif" }), name: `shardit-${F}x${W}x${H}.gif`, format: "gif", codec: null, fallback: webm.reason };
}

/**
 * The decode bands over a frame of the video: one horizontal band per device in its colour, labelled
 * with its rows and decode time; drawn into `canvas` at `width` CSS pixels.
 */
export function drawBands(canvas: HTMLCanvasElement, plan: BandPlan, video: Grid3, stats: DecodeStats[] | null, width: number): void {
  const scale = video.H / plan.h;
  const height = Math.max(24 * plan.bands.length, Math.min(96, Math.round((width * video.H) / video.W)));
  const dpr = globalThis.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const g = canvas.getContext("2d")!;
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, width, height);
  g.font = "12px system-ui, sans-serif";
  g.textBaseline = "middle";
  for (const b of plan.bands) {
    const y0 = (b.y0 / plan.h) * height, y1 = (b.y1 / plan.h) * height;
    g.fillStyle = deviceColor(b.device);
    g.globalAlpha = 0.85;
    g.fillRect(0, y0, width, y1 - y0);
    g.globalAlpha = 1;
    g.strokeStyle = "rgba(0,0,0,0.5)";
    g.strokeRect(0.5, y0 + 0.5, width - 1, y1 - y0 - 1);
    const ms = stats?.[b.device]?.ms;
    g.fillStyle = "#000";
    g.fillText(`decode band, device ${b.device}: latent rows ${b.y0}-${b.y1} = video rows ${b.y0 * scale}-${b.y1 * scale}${ms !== undefined ? `, ${ms.toFixed(0)} ms` : ""}`, 8, (y0 + y1) / 2);
  }
}

/** Records a decode's outcome in the published state. */
export function recordDecode(run: DecodeRun): void {
  videoState.bands = run.stats.map((s) => ({ device: s.device, y0: s.y0, y1: s.y1, ms: s.ms, exchangeMs: s.exchangeMs, chunkMs: s.chunkMs }));
  videoState.video = run.videoGrid;
  videoState.decodeMs = run.ms;
}

// ---------------------------------------------------------------------------------------------
// The panel

const FIELDSET = `
<legend>Video <small class="muted">Wan VAE decoder, sharded in bands of rows</small></legend>
<label>VAE <select id="vae-source">
  <option value="none" selected>none</option>
  <option value="embedded">embedded (wan-vae-tiny's shape, synthetic weights)</option>
  <option value="folder">vae/ folder on disk</option>
  <option value="url">URL or Hub id</option>
</select></label>
<div class="sub" data-vae="folder"><input type="file" id="vae-folder" webkitdirectory multiple></div>
<div class="sub" data-vae="url"><input type="text" id="vae-url" spellcheck="false" placeholder="Wan-AI/Wan2.1-T2V-1.3B-Diffusers (its vae/)"></div>
<label class="file">Latents <input type="file" id="latents-file" accept=".safetensors"></label>
<small class="muted">latents [1, 16, T, h, w] as shardit generate writes them; empty: the last run's (16-channel models)</small>
<div class="actions"><button type="button" id="decode" disabled>Decode</button><button type="button" id="decode-cancel" disabled title="no decode is running">Cancel decode</button>
<small id="decode-note" class="note" role="status"></small></div>`;

const PANEL = `
<h2>Video <small id="video-caption" class="muted"></small></h2>
<div class="previewbox"><video id="video-player" controls loop muted autoplay playsinline hidden style="width: min(100%, 512px); image-rendering: pixelated"></video><img id="video-gif" alt="decoded clip" hidden style="width: min(100%, 512px); image-rendering: pixelated"></div>
<p><a id="video-download" href="#" download hidden>download</a> <small id="video-note" class="muted"></small></p>
<div id="video-error" class="errorbox" hidden></div>`;

interface PageHooks {
  /** The page's worker count and precision (its fields). */
  devices(): number;
  precision(): DType;
}

let hooks: PageHooks | null = null;
let lastLatents: { latents: Float32Array; latent: Grid3 } | null = null;
/** The last run's latent channels (0: no run yet), to say why Decode cannot use it. */
let lastChannels = 0;
/** A generate run holds the workers (main.ts setBusy). */
let pageBusy = false;
let vaeCache: LoadedVae | null = null;
let decodePool: { key: string; pool: WorkerPool } | null = null;
let cancelDecode: AbortController | null = null;
let objectUrl = "";

const el = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function setPhase(status: VideoState["status"], phase: string): void {
  videoState.status = status;
  videoState.phase = phase;
  el("video-caption").textContent = phase;
}

function vaeSource(): VaeSource {
  return el<HTMLSelectElement>("vae-source").value as VaeSource;
}

/** Why Decode cannot run now, or "" when it can. */
function decodeBlocked(): string {
  if (cancelDecode !== null) return "a decode is running (Cancel decode stops it)";
  if (pageBusy) return "a run is in progress";
  if (vaeSource() === "none") return "choose a VAE first";
  if (el<HTMLInputElement>("latents-file").files?.length || lastLatents) return "";
  if (lastChannels && lastChannels !== 16) {
    return `the last run's latent has ${lastChannels} channels, a Wan VAE takes 16 (the embedded model works in pixels: its clip is shown above); pick a latents file`;
  }
  return "pick a latents file (or run a 16-channel model first)";
}

function syncUi(): void {
  const src = vaeSource();
  document.querySelectorAll<HTMLElement>("[data-vae]").forEach((d) => (d.hidden = d.dataset.vae !== src));
  const decoding = cancelDecode !== null;
  for (const id of ["vae-source", "vae-folder", "vae-url", "latents-file"]) el<HTMLInputElement>(id).disabled = decoding || pageBusy;
  const why = decodeBlocked();
  const decode = el<HTMLButtonElement>("decode");
  decode.disabled = why !== "";
  decode.title = why;
  // The reason under the buttons, except while a decode runs (its progress is in the Video panel's caption).
  el("decode-note").textContent = why && !decoding ? `Decode is off: ${why}.` : "";
  const cancel = el<HTMLButtonElement>("decode-cancel");
  cancel.disabled = !decoding;
  cancel.title = decoding ? "" : "no decode is running";
}

/** main.ts's setBusy: a generate run holds the workers, so the Video controls wait for it. */
export function syncVideoUi(busy: boolean): void {
  pageBusy = busy;
  if (document.getElementById("video-controls")) syncUi();
}

/** The VAE the controls name (loaded once per choice). */
async function chosenVae(): Promise<LoadedVae> {
  const src = vaeSource();
  if (src === "embedded") return embeddedVae();
  if (src === "folder") {
    const files = [...(el<HTMLInputElement>("vae-folder").files ?? [])];
    const id = `folder:${files.map((f) => `${f.webkitRelativePath}/${f.size}/${f.lastModified}`).join(",")}`;
    if (vaeCache?.id === id) return vaeCache;
    // A pipeline folder's vae/, or a picked vae/ folder itself.
    const inVae = files.find((f) => /(^|\/)vae\/config\.json$/.test(f.webkitRelativePath ?? ""));
    const folder = inVae ? fileListFolder(files, inVae.webkitRelativePath!.slice(0, -"config.json".length)) : pickModelFolder(files);
    vaeCache = null;
    return (vaeCache = await loadVaeFolder(id, folder));
  }
  if (src === "url") {
    const text = el<HTMLInputElement>("vae-url").value.trim();
    if (!text) throw new Error("enter a VAE folder URL or a Hub id (owner/name: its vae/)");
    const id = `url:${text}`;
    if (vaeCache?.id === id) return vaeCache;
    vaeCache = null;
    return (vaeCache = await loadVaeFolder(id, await pipelineComponent(folderFromText(text), "vae")));
  }
  throw new Error("choose a VAE first");
}

async function poolFor(devices: number, precision: DType): Promise<WorkerPool> {
  const key = `${devices}|${precision}`;
  if (decodePool?.key === key) return decodePool.pool;
  const old = decodePool;
  decodePool = null;
  await old?.pool.close().catch(() => {});
  const pool = await WorkerPool.create({ devices, precision });
  decodePool = { key, pool };
  return pool;
}

function showError(message: string | null): void {
  videoState.error = message;
  const box = el("video-error");
  box.textContent = message ?? "";
  box.hidden = !message;
  if (message) box.scrollIntoView({ block: "nearest" }); // the Video panel sits low on the page
}

/** Decodes the chosen latents with the chosen VAE, shows the bands and plays the clip. */
export async function decodeNow(): Promise<void> {
  if (!hooks || cancelDecode) return;
  const controller = (cancelDecode = new AbortController());
  syncUi();
  showError(null);
  el("video-panel").hidden = false;
  try {
    setPhase("loading", "loading the VAE");
    const vae = await chosenVae();
    const file = el<HTMLInputElement>("latents-file").files?.[0];
    const input = file ? await readLatents(fileObjectSource(file), vae.config) : lastLatents;
    if (!input) throw new Error("no latents: run a 16-channel model or pick a latents file");
    const devices = Math.min(hooks.devices(), input.latent.H);
    setPhase("loading", `starting ${devices} decode worker${devices > 1 ? "s" : ""}`);
    const pool = await poolFor(devices, hooks.precision());
    const plan = planBands(input.latent.H, devices);
    drawBands(el<HTMLCanvasElement>("decode-bands"), plan, videoGridOf(vae.config, input.latent), null, bandsWidth());
    const what = `${input.latent.F}x${input.latent.H}x${input.latent.W} on ${devices} device${devices > 1 ? "s" : ""}`;
    setPhase("decoding", `decoding ${what}`);
    const run = await decodeOnPool(pool, vae, input.latents, input.latent, undefined, controller.signal, (c) => {
      setPhase("decoding", `decoding ${what}: latent frame ${c.chunk + 1}/${c.chunks} (${(c.ms / 1000).toFixed(1)} s)`);
    });
    recordDecode(run);
    drawBands(el<HTMLCanvasElement>("decode-bands"), run.plan, run.videoGrid, run.stats, bandsWidth());
    setPhase("encoding", "encoding the clip");
    const out = await playableFile(run);
    show(out, run);
    const v = run.videoGrid;
    setPhase("done", `${v.F} frames of ${v.W}x${v.H}, decoded in ${(run.ms / 1000).toFixed(1)} s on ${devices} device${devices > 1 ? "s" : ""} (${out.format}${out.codec ? `, ${out.codec}` : ""})`);
  } catch (e) {
    if (e instanceof PoolCancelled) setPhase("cancelled", "decode cancelled; the workers are ready");
    else {
      setPhase("error", "the decode failed");
      showError((e as Error).message);
      const old = decodePool;
      decodePool = null;
      await old?.pool.close().catch(() => {});
    }
  } finally {
    cancelDecode = null;
    syncUi();
  }
}

function videoGridOf(cfg: WanVaeConfig, latent: Grid3): Grid3 {
  const s = 2 ** (cfg.dimMult.length - 1);
  return { F: 1 + 2 ** cfg.temperalDownsample.filter(Boolean).length * (latent.F - 1), H: s * latent.H, W: s * latent.W };
}

function bandsWidth(): number {
  return Math.max(240, (el("shard-map").parentElement?.clientWidth ?? 480) - 2);
}

function show(out: Awaited<ReturnType<typeof playableFile>>, run: DecodeRun): void {
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = URL.createObjectURL(out.blob);
  const player = el<HTMLVideoElement>("video-player"), gif = el<HTMLImageElement>("video-gif");
  player.hidden = out.format !== "webm";
  gif.hidden = out.format !== "gif";
  if (out.format === "webm") {
    player.src = objectUrl;
    player.play().catch(() => {}); // autoplay may be refused; the controls are there
  } else gif.src = objectUrl;
  const link = el<HTMLAnchorElement>("video-download");
  link.href = objectUrl;
  link.download = out.name;
  link.textContent = `download ${out.name} (${(out.blob.size / 1024).toFixed(0)} KiB)`;
  link.hidden = false;
  const times = run.stats.map((s) => `device ${s.device} ${s.ms.toFixed(0)} ms (exchange ${s.exchangeMs.toFixed(0)})`).join(", ");
  el("video-note").textContent = `${out.fallback ? `GIF: ${out.fallback}. ` : ""}${times}`;
  videoState.format = out.format;
  videoState.codec = out.codec;
  videoState.bytes = out.blob.size;
  videoState.fallback = out.fallback;
}

/**
 * The page's last run: a latent of `channels` channels. Remembered for Decode when it has the VAE's 16
 * channels; decoded at once when a VAE is chosen.
 */
export function offerLatents(latents: Float32Array, channels: number, latent: Grid3): void {
  lastLatents = channels === 16 ? { latents, latent } : null;
  lastChannels = channels;
  syncUi();
  if (lastLatents && vaeSource() !== "none" && !el<HTMLInputElement>("latents-file").files?.length) void decodeNow();
}

/** Builds the controls and panels into the page (once). */
export function mountVideo(page: PageHooks): void {
  hooks = page;
  const form = document.getElementById("controls")!;
  const fieldset = document.createElement("fieldset");
  fieldset.id = "video-controls";
  fieldset.innerHTML = FIELDSET;
  form.appendChild(fieldset); // last: Generate (under the model) stays near the top
  const bands = document.createElement("canvas");
  bands.id = "decode-bands";
  bands.title = "decode bands: the latent rows (and video rows) each device decodes, with its time";
  bands.style.display = "block";
  bands.style.marginTop = "6px";
  bands.width = bands.height = 0; // empty until a decode draws it (a canvas is 300x150 by default: a blank box under the map)
  el("shard-map").parentElement!.after(bands);
  const panel = document.createElement("div");
  panel.className = "panel";
  panel.id = "video-panel";
  panel.hidden = true;
  panel.innerHTML = PANEL;
  document.querySelector(".results")!.appendChild(panel);
  el("vae-source").addEventListener("change", syncUi);
  el("latents-file").addEventListener("change", syncUi);
  el("decode").addEventListener("click", () => void decodeNow());
  el("decode-cancel").addEventListener("click", () => cancelDecode?.abort());
  syncUi();
}
