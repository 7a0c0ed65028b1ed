// The demo page: pick a model and settings, run the sharded denoising loop over N device workers, and
// watch the shard map, per-device step times and the latent as it forms; then rerun on one device to
// check the sharded result. Plain DOM. State for tests is published on window.__shardit_demo.
import {
  defaultDeviceCount, type DType, EMBEDDED_LATENT, EMBEDDED_SAMPLER, generate, type GenerateOptions, type GenerateResult, type Grid3, planShards, PoolCancelled, setPrompts, type ShardMode, type ShardPlan,
  type RunSummary, runSummary, type Solver, SOLVERS, type StepReport, throwIfCancelled, tokenGridFromLatent, TOL, type Umt5Precision, WorkerPool,
} from "../src/index.ts";
import { type DemoEnv, probeEnv } from "./env.ts";
import { CHECKPOINT_LATENT, clearModelCache, loadEmbedded, type LoadedModel, loadFolder, loadUrl, type PromptEmbeddings, readPrompts } from "./model_source.ts";
import { clipGifUrl, drawClip, drawLatent } from "./preview.ts";
import { deviceColor, drawShardMap, shardCounts } from "./shard_map.ts";
import { compareLatents, type LatentDiff, latentStats, type LatentStats } from "./stats.ts";
import { fmtMs, renderTiming } from "./timing.ts";
import { mountVideo, offerLatents, syncVideoUi } from "./video.ts";
import { encodeCheckpointPrompts, memoryLine } from "./text_prompt.ts";

type Source = "embedded" | "folder" | "url";

interface Settings {
  source: Source;
  devices: number;
  mode: ShardMode;
  precision: DType;
  steps: number;
  guidance: number;
  shift: number;
  seed: number;
  solver: Solver;
  latent: Grid3;
  /** Sequence mode: per-worker speed weights (undefined: equal shares). */
  weights?: number[];
  /** The adapter the workers ask for (a browser's only lever over GPU placement). */
  powerPreference?: GPUPowerPreference;
  /** CFG parallel: two device groups, one per guidance branch. */
  cfgParallel: boolean;
  /** Step caching (off when absent). */
  cache?: "teacache" | "magcache" | "fbcache";
}

interface DemoState {
  status: "idle" | "running" | "done" | "error" | "cancelled";
  /** What the page is doing now, in words. */
  phase: string;
  step: number;
  steps: number;
  error: string | null;
  env: DemoEnv | null;
  shardMap: { mode: ShardMode; devices: number; tokens: number; computedTokens: number; padTokens: number; perDevice: ReturnType<typeof shardCounts> } | null;
  /** The last run's latent [C, F, H, W]: its channels and grid. */
  latentDims: ({ C: number } & Grid3) | null;
  latentStats: LatentStats | null;
  summary: (RunSummary & { setupMs: number; adapters: string; cfgGroups?: string }) | null;
  compare: (Omit<LatentDiff, "worst"> & { steps: number; ms: number }) | null;
  compareStep: number;
}

declare global {
  interface Window { __shardit_demo: DemoState }
}

const state: DemoState = {
  status: "idle",
  phase: "",
  step: 0,
  steps: 0,
  error: null,
  env: null,
  shardMap: null,
  latentDims: null,
  latentStats: null,
  summary: null,
  compare: null,
  compareStep: 0,
};
window.__shardit_demo = state;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const select = (id: string) => $<HTMLSelectElement>(id);
const MAP_WIDTH = () => Math.max(240, $("shard-map").parentElement!.clientWidth - 2);

// ---------------------------------------------------------------------------------------------
// Settings

function source(): Source {
  return (document.querySelector<HTMLInputElement>("input[name=model]:checked")?.value ?? "embedded") as Source;
}

function intField(id: string, what: string, lo: number, hi: number): number {
  const raw = input(id).value.trim();
  const v = Number(raw);
  if (raw === "" || !Number.isInteger(v) || v < lo || v > hi) throw new Error(`${what} must be a whole number from ${lo} to ${hi}, got "${raw}"`);
  return v;
}

function numField(id: string, what: string, lo: number): number {
  const raw = input(id).value.trim();
  const v = Number(raw);
  if (raw === "" || !Number.isFinite(v) || v < lo) throw new Error(`${what} must be a number >= ${lo}, got "${raw}"`);
  return v;
}

function readSettings(): Settings {
  const latent = {
    F: intField("latent-f", "Latent F", 1, 1024),
    H: intField("latent-h", "Latent H", 2, 4096),
    W: intField("latent-w", "Latent W", 2, 4096),
  };
  if (latent.H % 2 || latent.W % 2) throw new Error(`Latent H and W must be even (2x2 patches), got ${latent.H} x ${latent.W}`);
  const precision = select("precision").value as DType;
  if (precision === "f16" && !state.env?.f16) throw new Error("f16 needs the adapter's shader-f16 feature, which this adapter lacks: choose f32");
  const devices = intField("workers", "Workers", 1, 8);
  const mode = select("shard").value as ShardMode;
  return {
    source: source(),
    devices,
    mode,
    weights: mode === "sequence" ? weightsField(devices) : undefined,
    powerPreference: (select("power").value || undefined) as GPUPowerPreference | undefined,
    precision,
    steps: intField("steps", "Steps", 1, 1000),
    guidance: numField("guidance", "Guidance", 0),
    shift: numField("shift", "Shift", 0),
    seed: intField("seed", "Seed", 0, 2 ** 32 - 1),
    solver: select("solver").value as Solver,
    latent,
    cfgParallel: input("cfg-parallel").checked,
    cache: (select("cache").value || undefined) as Settings["cache"],
  };
}

/** "2,1" -> [2, 1]: one positive number per worker, or nothing for equal shares. */
function weightsField(devices: number): number[] | undefined {
  const raw = input("weights").value.trim();
  if (!raw) return undefined;
  const w = raw.split(",").map((x) => Number(x.trim()));
  if (w.length !== devices || w.some((x) => !(x > 0))) throw new Error(`Speed weights: ${devices} positive numbers separated by commas (one per worker), got "${raw}"`);
  return w;
}

/** The real Wan2.1 defaults (WanPipeline: 50 steps, guidance 5, shift 5 in Wan's own code). */
const CHECKPOINT_SAMPLER = { solver: "unipc" as Solver, steps: 50, guidance: 5, shift: 5 };

function setSamplerFields(d: { solver: Solver; steps: number; guidance: number; shift: number }): void {
  select("solver").value = d.solver;
  input("steps").value = String(d.steps);
  input("guidance").value = String(d.guidance);
  input("shift").value = String(d.shift);
}

function setLatentFields(l: Grid3): void {
  input("latent-f").value = String(l.F);
  input("latent-h").value = String(l.H);
  input("latent-w").value = String(l.W);
}

/** Shows which sub-controls belong to the chosen model source. */
function syncSourceUi(): void {
  const s = source();
  document.querySelectorAll<HTMLElement>(".sub[data-for]").forEach((el) => (el.hidden = !el.dataset.for!.split(" ").includes(s)));
}

// ---------------------------------------------------------------------------------------------
// Rendering

function setStatus(status: DemoState["status"], phase: string): void {
  state.status = status;
  state.phase = phase;
  const pill = $("status");
  pill.className = `pill ${status}`;
  pill.textContent = status;
  $("phase").textContent = phase;
}

function setProgress(el: HTMLElement, done: number, total: number, label: string): void {
  (el.querySelector(".fill") as HTMLElement).style.width = `${total > 0 ? Math.min(100, (100 * done) / total) : 0}%`;
  el.querySelector(".label")!.textContent = label;
}

function setStepProgress(step: number, steps: number, prefix = ""): void {
  setProgress($("step-progress"), step, steps, `${prefix}${step}/${steps} steps`);
}

/**
 * Shows an error in the status panel and, in short, under the Generate button (where the user's eyes are),
 * and scrolls the status panel into view if the page was scrolled away from it.
 */
function showError(message: string): void {
  state.error = message;
  const el = $("error");
  el.textContent = message;
  el.hidden = false;
  const note = $("run-note");
  note.textContent = message.length > 240 ? `${message.slice(0, 240)}... (the whole message is in the status panel)` : message;
  note.hidden = false;
  el.scrollIntoView({ block: "nearest" });
}

function clearError(): void {
  state.error = null;
  $("error").hidden = true;
  $("run-note").hidden = true;
}

const fmtBytes = (n: number) => n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 1024).toFixed(0)} KiB`;

function loadProgress(label: string, done: number, total: number): void {
  const el = $("load-progress");
  el.hidden = false;
  setProgress(el, done, total, `${label}: ${fmtBytes(done)}${total ? ` / ${fmtBytes(total)}` : ""}`);
}

function renderPlan(plan: ShardPlan): void {
  drawShardMap($<HTMLCanvasElement>("shard-map"), plan, MAP_WIDTH());
  const counts = shardCounts(plan);
  state.shardMap = { mode: plan.mode, devices: plan.devices, tokens: plan.tokens, computedTokens: plan.computedTokens, padTokens: plan.padTokens, perDevice: counts };
  const items = counts.map((c) =>
    `<li><span class="swatch" style="--c:${deviceColor(c.device)}"></span>device ${c.device}: ${c.tokens} tokens${c.padTokens ? ` + ${c.padTokens} pad` : ""}</li>`
  );
  if (plan.padTokens) items.push(`<li><span class="swatch pad"></span>padding: ${plan.padTokens} tokens</li>`);
  $("legend").innerHTML = items.join("");
  const { F, H, W } = plan.grid;
  $("map-caption").textContent = `token grid F'×H'×W' = ${F}×${H}×${W} = ${plan.tokens} tokens, ${plan.mode} mode, ${plan.devices} device${plan.devices > 1 ? "s" : ""}`;
}

/** Redraws the shard map for the current settings (before a run), or says why there is none. */
function previewPlan(): void {
  const note = $("grid-note");
  try {
    const s = readSettings();
    const grid = tokenGridFromLatent(s.latent);
    renderPlan(planShards(grid, s.devices, s.mode, s.weights));
    note.textContent = `${grid.F}×${grid.H}×${grid.W} = ${grid.F * grid.H * grid.W} tokens`;
    note.className = "muted";
  } catch (e) {
    note.textContent = (e as Error).message;
    note.className = "note";
  }
}

function renderSummary(rows: [string, string, string][]): void {
  if (rows.length === 0) rows = [["tokens", "-", "after a run"]];
  $("summary").innerHTML = rows.map(([k, v, sub]) => `<div><dt>${k}</dt><dd>${v}</dd><small>${sub}</small></div>`).join("");
}

/** Enables what can be used now; every disabled button says why in its title (and Generate in the note under it). */
function setBusy(busy: boolean): void {
  // The Video fieldset's controls have their own rules (video.ts syncVideoUi): Decode needs a VAE and latents.
  document.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLButtonElement>("#controls input, #controls select, #controls button").forEach((el) => {
    if (el.closest("#video-controls")) return;
    if (el.id === "cancel") el.disabled = !busy;
    else if (el.id === "compare") el.disabled = busy || !lastRun;
    else if (el.id === "run") el.disabled = busy || (state.env?.problems.length ?? 1) > 0;
    else el.disabled = busy;
  });
  const problems = state.env?.problems ?? [];
  $("run").title = busy ? "a run is in progress (Cancel stops it)" : problems.length ? `Generate is off: ${problems[0]}` : "";
  $("cancel").title = busy ? "" : "nothing is running";
  $("compare").title = busy ? "a run is in progress" : lastRun ? "" : "Generate first: this re-runs the last run on one device and compares";
  if (!busy && problems.length && state.env) {
    const note = $("run-note");
    note.textContent = `Generate is off: ${problems.length > 1 ? `${problems.length} problems, ` : ""}see the message at the top of the page.`;
    note.hidden = false;
  }
  syncVideoUi(busy);
  if (!busy) applyF16Availability();
}

function applyF16Availability(): void {
  const f16 = select("precision").querySelector<HTMLOptionElement>("option[value=f16]")!;
  const ok = state.env?.f16 ?? false;
  f16.disabled = !ok;
  if (!ok && select("precision").value === "f16") select("precision").value = "f32";
  const note = $("f16-note");
  note.hidden = ok || !state.env?.webgpu;
  note.textContent = `f16 is off: this adapter${state.env?.adapter ? ` (${state.env.adapter})` : ""} has no shader-f16 feature.`;
}

// ---------------------------------------------------------------------------------------------
// Model and pools

let model: { key: string; model: LoadedModel } | null = null;
let pool: { key: string; pool: WorkerPool } | null = null;
let lastRun: { settings: Settings; model: LoadedModel; prompts: PromptEmbeddings; result: GenerateResult } | null = null;

function sourceKey(s: Source): string {
  if (s === "embedded") return "embedded";
  if (s === "url") return `url:${input("url").value.trim()}`;
  const files = [...(input("folder").files ?? [])];
  return `folder:${files.map((f) => `${f.webkitRelativePath}/${f.size}/${f.lastModified}`).join(",")}`;
}

async function ensureModel(s: Settings): Promise<{ model: LoadedModel; prompts: PromptEmbeddings }> {
  const key = sourceKey(s.source);
  if (s.source === "embedded") {
    const e = await loadEmbedded(input("prompt").value);
    model = { key, model: e.model };
    return { model: e.model, prompts: e.prompts };
  }
  // Without embeddings files: the prompt through the pipeline's umT5, the memory plan shown first (text_prompt.ts).
  const embFile = input("text").files?.[0] ?? null;
  const encoded = embFile ? null : await encodeCheckpointPrompts(
    s.source === "folder" ? [...(input("folder").files ?? [])] : input("url").value.trim(),
    { prompt: input("ckpt-prompt").value, negative: input("ckpt-negative").value, needNegative: s.guidance !== 1, textPrecision: select("text-precision").value as Umt5Precision, precision: s.precision, devices: s.devices, latent: s.latent },
    (m) => Object.assign($("memory"), { hidden: false, textContent: memoryLine(m) }), (phase) => setStatus("running", phase), loadProgress,
  );
  if (model?.key !== key) {
    model = null; // free the previous weights before reading new ones
    let loaded: { model: LoadedModel };
    if (s.source === "folder") loaded = await loadFolder([...(input("folder").files ?? [])], loadProgress);
    else {
      const url = input("url").value.trim();
      if (!url) throw new Error("enter a checkpoint folder URL (config.json + weights) or a Hub id (owner/name)");
      loaded = await loadUrl(url, loadProgress);
    }
    model = { key, model: loaded.model };
  }
  const m = model.model;
  const prompts = encoded ?? await readPrompts(m.config, embFile, input("negative-text").files?.[0] ?? null, s.guidance !== 1);
  return { model: m, prompts };
}

async function dropPool(): Promise<void> {
  const p = pool;
  pool = null;
  await p?.pool.close().catch(() => {});
}

/** ["a", "a", "b"] -> "a ×2, b": which adapters the workers got. */
function adapterSummary(adapters: string[]): string {
  const counts = new Map<string, number>();
  for (const a of adapters) counts.set(a, (counts.get(a) ?? 0) + 1);
  return [...counts].map(([a, n]) => (n > 1 ? `${a} ×${n}` : a)).join(", ");
}

function poolKey(m: LoadedModel, devices: number, precision: DType, powerPreference?: GPUPowerPreference): string {
  return `${m.id}|${devices}|${precision}|${powerPreference ?? ""}`;
}

/** A pool of `devices` workers holding `m`'s weights: the current one when it matches, else a new one. */
async function poolFor(devices: number, precision: DType, m: LoadedModel, powerPreference?: GPUPowerPreference): Promise<WorkerPool> {
  const key = poolKey(m, devices, precision, powerPreference);
  if (pool?.key === key) return pool.pool;
  await dropPool();
  setStatus("running", `starting ${devices} device worker${devices > 1 ? "s" : ""} (${precision})`);
  const p = await WorkerPool.create({ devices, precision, powerPreference });
  try {
    setStatus("running", `uploading weights to ${devices} device${devices > 1 ? "s" : ""}`);
    await p.load(m.config, m.weights);
  } catch (e) {
    await p.close().catch(() => {});
    throw e;
  }
  pool = { key, pool: p };
  return p;
}

function generateOptions(s: Settings, m: LoadedModel, signal?: AbortSignal): GenerateOptions {
  return {
    latent: s.latent, sampler: { steps: s.steps, shift: s.shift, guidance: s.guidance, solver: s.solver }, seed: s.seed, mode: s.mode, weights: s.weights, signal, condition: m.condition,
    cfgParallel: s.cfgParallel, cache: s.cache ? { kind: s.cache } : undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// Actions

let busy = false;
/** The Cancel button aborts this: the forward in flight stops at its devices' next layer (WorkerPool.cancel). */
let cancelRun: AbortController | null = null;


async function run(): Promise<void> {
  if (busy) return;
  clearError();
  let s: Settings, plan: ShardPlan;
  try {
    s = readSettings();
    plan = planShards(tokenGridFromLatent(s.latent), s.devices, s.mode, s.weights);
  } catch (e) {
    setStatus("error", "check the settings");
    showError((e as Error).message);
    return;
  }
  busy = true;
  const { signal } = (cancelRun = new AbortController());
  setBusy(true);
  lastRun = null;
  state.compare = null;
  state.latentStats = null;
  state.summary = null;
  state.step = 0;
  state.steps = s.steps;
  $("compare-result").hidden = true;
  renderPlan(plan);
  renderTiming($("timing"), []);
  renderSummary([]);
  const preview = $<HTMLCanvasElement>("preview");
  preview.width = preview.height = 1; // no stale latent from an earlier run
  $("clip-figure").hidden = true;
  setStepProgress(0, s.steps);
  const t0 = performance.now();
  try {
    setStatus("running", s.source === "embedded" ? "preparing the embedded model" : "loading the checkpoint");
    const { model: m, prompts } = await ensureModel(s);
    throwIfCancelled(signal);
    const p = await poolFor(s.devices, s.precision, m, s.powerPreference);
    throwIfCancelled(signal);
    setStatus("running", "encoding the prompt on every device");
    await setPrompts(p, prompts.text, s.guidance !== 1 ? prompts.negativeText : null, prompts.textTokens, prompts.negativeTokens);
    const setupMs = performance.now() - t0;
    // Step 1 waits for every kernel's pipeline to compile (about a minute on SwiftShader in a fresh page; the
    // browser keeps compiled shaders in its GPU cache, so a reload is quicker).
    setStatus("running", `denoising: ${s.steps} steps on ${s.devices} device${s.devices > 1 ? "s" : ""} (${s.mode} mode, ${s.precision}); step 1 also compiles the kernels (slowest in a fresh browser)`);
    const reports: StepReport[] = [];
    const result = await generate(p, m.config, generateOptions(s, m, signal), (r, x) => {
      reports.push(r);
      state.step = r.step + 1;
      if (r.step === 0) setStatus("running", `denoising: ${s.steps} steps on ${s.devices} device${s.devices > 1 ? "s" : ""} (${s.mode} mode, ${s.precision})`);
      setStepProgress(state.step, r.steps);
      renderTiming($("timing"), reports);
      if (s.source === "embedded") drawClip($<HTMLCanvasElement>("preview"), x, s.latent);
      else drawLatent($<HTMLCanvasElement>("preview"), x, m.config.outChannels, s.latent);
    });
    lastRun = { settings: s, model: m, prompts, result };
    state.latentDims = { C: m.config.outChannels, ...result.latentGrid };
    state.latentStats = latentStats(result.latent);
    if (s.source === "embedded") {
      // The embedded model's latent is the clip (pixel space): show its frames and play it.
      drawClip($<HTMLCanvasElement>("preview"), result.latent, result.latentGrid);
      const clip = $<HTMLImageElement>("clip");
      if (clip.src.startsWith("blob:")) URL.revokeObjectURL(clip.src);
      clip.src = await clipGifUrl(result.latent, result.latentGrid);
      const v = result.latentGrid;
      $("clip-caption").textContent = `the clip: ${v.F} frames of ${2 * v.W}x${2 * v.H} shown 4x, looping (the CLI's video.gif); prompt "${input("prompt").value}", seed ${s.seed}`;
      $("clip-figure").hidden = false;
    } else drawLatent($<HTMLCanvasElement>("preview"), result.latent, m.config.outChannels, result.latentGrid);
    offerLatents(result.latent, m.config.outChannels, result.latentGrid); // 16-channel latents: the Video panel decodes them with the chosen VAE
    const ms = result.steps.map((r) => r.ms);
    const summary = {
      ...runSummary(result),
      setupMs,
      adapters: p.adapters().join("; "),
      ...(result.groups ? { cfgGroups: result.groups.map((g) => `${g.branch}: ${g.devices.join(",")}`).join("; ") } : {}),
    };
    state.summary = summary;
    const saved = summary.paddingSavedVsFrameMode;
    if (result.groups) {
      // CFG parallel: each group is sharded on its own; the map shows the first group's split, the legend both.
      renderPlan(result.groups[0].plan);
      $("legend").innerHTML += result.groups.map((g) => `<li>${g.branch === "cond" ? "conditional" : "unconditional"} branch on device${g.devices.length > 1 ? "s" : ""} ${g.devices.join(", ")} (${g.plan.shards.map((sh) => sh.count).join(" + ")} tokens)</li>`).join("");
    }
    const st = state.latentStats;
    renderSummary([
      ["tokens", String(result.plan.tokens), `${result.plan.grid.F}×${result.plan.grid.H}×${result.plan.grid.W} on ${s.devices} device${s.devices > 1 ? "s" : ""}`],
      ["pad tokens", String(result.plan.padTokens), `${result.plan.mode} mode`],
      ["saved vs frame mode", result.plan.mode === "frame" ? "-" : `${saved} tokens`, result.plan.mode === "frame" ? "this is frame mode" : `frame mode pads to ${result.framePlan.computedTokens}`],
      ["time / step", fmtMs(summary.msPerStepAfterFirst), ms.length > 1 ? `after the 1st (${fmtMs(ms[0])})` : "incl. compile"],
      ["total", fmtMs(result.ms), `+${fmtMs(setupMs)} setup`],
      ["latent", `${m.config.outChannels}×${s.latent.F}×${s.latent.H}×${s.latent.W}`, st.finite ? `mean ${st.mean.toFixed(3)}, std ${st.std.toFixed(3)}` : "NaN or Inf in it!"],
      ["adapters", adapterSummary(p.adapters()), s.powerPreference ? `asked for ${s.powerPreference}` : "default preference"],
      ["forwards", result.groups ? "CFG parallel" : result.batch > 1 ? `batch of ${result.batch}` : "one per call", result.groups ? result.groups.map((g) => `${g.branch} on ${g.devices.join(",")}`).join("; ") : "sequential CFG"],
      ["steps computed", `${summary.computedSteps} / ${result.steps.length}`, result.cache ? `${result.cache.skipped} from the ${result.cache.kind} cache` : "no step cache"],
    ]);
    setStatus("done", `${s.steps} steps on ${s.devices} device${s.devices > 1 ? "s" : ""} in ${(result.ms / 1000).toFixed(1)} s`);
  } catch (e) {
    if (e instanceof PoolCancelled) setStatus("cancelled", `cancelled after ${state.step}/${s.steps} steps; the workers are ready for the next run`);
    else {
      await dropPool(); // a pool heals itself, but a fresh one is the simplest state after an error
      setStatus("error", "the run failed");
      showError((e as Error).message);
    }
  } finally {
    cancelRun = null;
    busy = false;
    setBusy(false);
    $("load-progress").hidden = true;
  }
}

async function compare(): Promise<void> {
  const last = lastRun;
  if (busy || !last) return;
  busy = true;
  const { signal } = (cancelRun = new AbortController());
  setBusy(true);
  clearError();
  state.compare = null;
  state.compareStep = 0;
  $("compare-result").hidden = true;
  const s = last.settings;
  let own: WorkerPool | null = null;
  const t0 = performance.now();
  try {
    setStatus("running", "compare: the same run on one device");
    let one: WorkerPool;
    if (pool?.key === poolKey(last.model, 1, s.precision, s.powerPreference)) one = pool.pool;
    else {
      own = one = await WorkerPool.create({ devices: 1, precision: s.precision, powerPreference: s.powerPreference });
      setStatus("running", "compare: uploading weights to one device");
      await one.load(last.model.config, last.model.weights);
    }
    throwIfCancelled(signal);
    await setPrompts(one, last.prompts.text, s.guidance !== 1 ? last.prompts.negativeText : null, last.prompts.textTokens, last.prompts.negativeTokens);
    setStatus("running", `compare: ${s.steps} steps on one device`);
    setStepProgress(0, s.steps, "compare ");
    const ref = await generate(one, last.model.config, { ...generateOptions(s, last.model, signal), weights: undefined, cfgParallel: false }, (r) => {
      state.compareStep = r.step + 1;
      setStepProgress(r.step + 1, r.steps, "compare ");
    });
    const d = compareLatents(last.result.latent, ref.latent);
    state.compare = { maxAbsDiff: d.maxAbsDiff, relL2: d.relL2, steps: s.steps, ms: performance.now() - t0 };
    const tol = TOL.sharded[s.precision];
    const el = $("compare-result");
    el.className = `compare ${d.relL2 <= tol ? "ok" : "bad"}`;
    el.innerHTML = `<b>${s.devices} devices vs one device</b>, same seed and settings: max |Δ| = ${d.maxAbsDiff.toExponential(2)}, ` +
      `relative L2 = ${d.relL2.toExponential(2)} ${d.relL2 <= tol ? "✓" : "✗"} <span class="muted">(expected ≤ ${tol.toExponential(0)} for ${s.precision})</span>`;
    el.hidden = false;
    setStepProgress(s.steps, s.steps);
    const ms = performance.now() - t0;
    if (own) {
      setStatus("running", "compare: releasing the one-device worker");
      await own.close().catch(() => {});
      own = null;
    }
    setStatus("done", `compared with one device in ${(ms / 1000).toFixed(1)} s`);
  } catch (e) {
    if (e instanceof PoolCancelled) setStatus("cancelled", `comparison cancelled after ${state.compareStep}/${s.steps} steps`);
    else {
      setStatus("error", "the comparison failed");
      showError((e as Error).message);
    }
  } finally {
    if (own) await own.close().catch(() => {});
    cancelRun = null;
    busy = false;
    setBusy(false);
  }
}

// ---------------------------------------------------------------------------------------------
// Start-up

/**
 * One worker on a CPU adapter (SwiftShader) or with few CPU threads: workers there share the same cores (2
 * workers took 179 s where 1 took 77 s on a 2-core machine). Says why beside the field; the field overrides.
 */
function applyDefaultWorkers(env: DemoEnv): void {
  if (!env.webgpu) return;
  const choice = defaultDeviceCount(Number(input("workers").value) || 2, { adapter: env.adapter, fallback: env.fallback, cores: navigator.hardwareConcurrency ?? 1 });
  const note = $("workers-note");
  if (choice.why) {
    input("workers").value = String(choice.devices);
    note.textContent = choice.why.replace("--devices N overrides", "set Workers to override");
    note.hidden = false;
    previewPlan();
  }
}

function renderEnv(env: DemoEnv): void {
  const badge = (ok: boolean, text: string) => `<span class="badge ${ok ? "ok" : "bad"}">${text}</span>`;
  $("env").innerHTML = [
    badge(env.webgpu, env.webgpu ? `WebGPU: ${env.adapter}` : "no WebGPU"),
    badge(env.f16, env.f16 ? "shader-f16" : "no shader-f16"),
    badge(env.isolated, env.isolated ? "cross-origin isolated" : "not isolated"),
    `<span class="badge">${navigator.hardwareConcurrency ?? "?"} CPU threads</span>`,
  ].join("");
  $("problems").innerHTML = env.problems.map((p) => `<div class="message">${p}</div>`).join("");
}

async function main(): Promise<void> {
  const solver = select("solver");
  solver.innerHTML = SOLVERS.map((s) => `<option value="${s}"${s === "unipc" ? " selected" : ""}>${s}</option>`).join("");
  setLatentFields(EMBEDDED_LATENT);
  setSamplerFields(EMBEDDED_SAMPLER);
  syncSourceUi();
  mountVideo({ devices: () => Number(input("workers").value) || 1, precision: () => select("precision").value as DType });
  renderTiming($("timing"), []);
  setStepProgress(0, Number(input("steps").value) || 0);

  document.querySelectorAll<HTMLInputElement>("input[name=model]").forEach((r) =>
    r.addEventListener("change", () => {
      syncSourceUi();
      setLatentFields(source() === "embedded" ? EMBEDDED_LATENT : CHECKPOINT_LATENT);
      setSamplerFields(source() === "embedded" ? EMBEDDED_SAMPLER : CHECKPOINT_SAMPLER);
      previewPlan();
    })
  );
  for (const id of ["workers", "shard", "weights", "latent-f", "latent-h", "latent-w"]) $(id).addEventListener("input", previewPlan);
  $("workers").addEventListener("input", () => ($("workers-note").hidden = true)); // the user chose: the default's reason no longer applies
  $("steps").addEventListener("input", () => !busy && setStepProgress(0, Number(input("steps").value) || 0));
  $("run").addEventListener("click", () => void run());
  $("compare").addEventListener("click", () => void compare());
  $("cancel").addEventListener("click", () => {
    if (!cancelRun || cancelRun.signal.aborted) return;
    cancelRun.abort();
    $("phase").textContent = "cancelling: the devices stop at their next layer ...";
  });
  $("clear-cache").addEventListener("click", async () => {
    const gone = await clearModelCache();
    $("phase").textContent = gone ? "cleared the cached downloads" : "nothing was cached";
  });
  globalThis.addEventListener("resize", () => state.shardMap && previewPlanOrLast());

  setStatus("idle", "checking WebGPU ...");
  previewPlan();
  const env = await probeEnv();
  state.env = env;
  renderEnv(env);
  applyDefaultWorkers(env);
  setBusy(false);
  if (env.problems.length) {
    setStatus("error", "this browser cannot run the demo: see the message above");
    state.error = env.problems.join("\n"); // shown in the banner, not twice
  } else setStatus("idle", "Pick settings and press Generate.");
}

function previewPlanOrLast(): void {
  if (lastRun) renderPlan(lastRun.result.plan);
  else previewPlan();
}

// Anything that escapes is shown on the page rather than left in the console.
globalThis.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  setStatus("error", "unexpected error");
  showError(String((e.reason as Error)?.message ?? e.reason));
});

main().catch((e) => {
  setStatus("error", "the page failed to start");
  showError((e as Error).message);
});
