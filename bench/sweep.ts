// The sweep harness: one process on the GPU host compiles N variants of a kernel, checks each against a
// Float64 sample, then times each by GPU timestamps, and logs every row as it goes (a killed run keeps
// what it measured). Generic: a variant is a name, the Dawn toggles its device needs and a setup(gpu) that
// builds its case (pipelines from defines or overrides, buffers) and returns run() (records one call),
// check() (compares one call's output with a Float64 reference) and the call's FLOPs. The GEMM and
// conv sweeps are bench/sweep_gemm.ts; attention can hand its own variants to sweep().
//
// Devices: variants are grouped by toggle set; each group gets its own Dawn instance and device, created
// with allow_unsafe_apis, vulkan_enable_f16_on_nvidia, the group's toggles (e.g. disable_robustness,
// disable_workgroup_init) and timestamp_quantization disabled (else timestamps are coarsened), with
// per-dispatch timestamp queries (Gpu profile mode). A variant whose setup, compile or check fails is
// logged with its error and the sweep goes on (a lost device is re-created for the rest of the group).
//
// Timing: `warmup` calls (at least warmMs of them, one sync each: clocks ramp up under load), then `repeats` batches of `iters` calls, each batch one sync. gpuMs =
// the timestamped GPU time of the timed calls / their number (all dispatches of a call summed); wallMs =
// the best batch's wall clock per call.
import { Gpu } from "../src/gpu/device.ts";
import { installDawnPolling } from "../src/platform/dawn_polling.ts";

export interface SweepCase {
  /** Records one call's dispatches on the variant's Gpu. */
  run(): void;
  /** After one run() and a sync: relative L2 error of a sample against a Float64 reference, and its tolerance. */
  check(): Promise<{ relErr: number; tol: number }>;
  /** FLOPs of one call (for TFLOP/s). */
  flops: number;
  /** Frees what setup made (called after timing, also after a failure when possible). */
  dispose?(): void;
}

export interface SweepVariant {
  /** Unique within its group and toggle set. */
  name: string;
  /** What rows are compared within (e.g. the shape): the log gives each row's ratio to the group's best. */
  group: string;
  /** Dawn toggles enabled on this variant's device, beyond the defaults. */
  toggles?: string[];
  /** Free-form fields copied into the row (tile, defines...). */
  info?: Record<string, unknown>;
  setup(gpu: Gpu): Promise<SweepCase> | SweepCase;
}

export interface SweepRow {
  name: string;
  group: string;
  toggles: string[];
  ok: boolean;
  relErr: number | null;
  tol: number | null;
  gpuMs: number | null;
  wallMs: number | null;
  tflops: number | null;
  batches: number[];
  error: string | null;
  info?: Record<string, unknown>;
}

export interface SweepOptions {
  title: string;
  iters?: number;
  warmup?: number;
  repeats?: number;
  /** Minimum milliseconds of warm-up calls per variant (GPU clocks ramp up under load; default 200). */
  warmMs?: number;
  /** A text log appended to line by line. */
  log?: string;
  /** A JSON file rewritten after every row. */
  json?: string;
  /** Dawn backend (default vulkan; "null" only compiles, nothing is timed). */
  backend?: string;
  /** Extra fields written into the JSON's header. */
  meta?: Record<string, unknown>;
}

const DEFAULT_TOGGLES = ["allow_unsafe_apis", "vulkan_enable_f16_on_nvidia"];

type NodeRequire = (id: string) => unknown;

/** The dawn.node addon's `create` (the project's node_modules, or $SHARDIT_DAWN_NODE). */
async function dawnCreate(): Promise<(flags: string[]) => GPU> {
  const arch = Deno.build.arch === "x86_64" ? "x64" : "arm64";
  const candidates = [Deno.env.get("SHARDIT_DAWN_NODE"), `${Deno.cwd()}/node_modules/webgpu/dist/${Deno.build.os}-${arch}/dawn.node`].filter((p): p is string => !!p);
  const path = candidates.find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (!path) throw new Error(`sweep: dawn.node not found (looked at ${candidates.join(", ")}; npm install, or .gpu/setup.sh on the GPU host)`);
  // node:module through a variable, as src/platform/webgpu_deno.ts does (no @types/node for deno check).
  const nodeModule = "node:module";
  const { createRequire } = await import(nodeModule) as { createRequire(from: string): NodeRequire };
  const require = createRequire(import.meta.url);
  return (require(path) as { create(flags: string[]): GPU }).create;
}

/** Dawn instances made here, held to the end of the process (dawn.node has segfaulted once one was collected). */
const keptInstances: GPU[] = [];

/** A Gpu on a fresh Dawn instance with these toggles (timestamp_quantization off, timestamps per dispatch). */
export async function sweepGpu(toggles: string[], backend = "vulkan", label = "sweep"): Promise<Gpu> {
  const create = await dawnCreate();
  const gpu = create([`enable-dawn-features=${[...DEFAULT_TOGGLES, ...toggles].join(",")}`, "disable-dawn-features=timestamp_quantization", `backend=${backend}`]);
  keptInstances.push(gpu);
  return await Gpu.create({ gpu, implementation: "dawn", quirks: { noSharedWrites: true }, profile: true, label: `${label}${toggles.length ? ` [${toggles.join(",")}]` : ""}` });
}

/** Runs every variant (grouped by toggle set, in order of first appearance) and returns their rows. */
export async function sweep(variants: SweepVariant[], opts: SweepOptions): Promise<SweepRow[]> {
  const names = new Set<string>();
  for (const v of variants) {
    const id = `${v.group} ${v.name} [${[...(v.toggles ?? [])].sort().join(",")}]`;
    if (names.has(id)) throw new Error(`sweep ${opts.title}: variant ${id} appears twice`);
    names.add(id);
  }
  installDawnPolling();
  const iters = opts.iters ?? 10, warmup = opts.warmup ?? 2, repeats = opts.repeats ?? 3, warmMs = opts.warmMs ?? 200;
  const backend = opts.backend ?? Deno.env.get("SHARDIT_SWEEP_BACKEND") ?? "vulkan";
  if (opts.log) Deno.writeTextFileSync(opts.log, "", { append: true });
  const log = (line: string) => {
    console.log(line);
    if (opts.log) Deno.writeTextFileSync(opts.log, line + "\n", { append: true });
  };
  const rows: SweepRow[] = [];
  let adapter: Record<string, unknown> = {};
  const save = () => {
    if (opts.json) Deno.writeTextFileSync(opts.json, JSON.stringify({ title: opts.title, date: new Date().toISOString(), adapter, iters, warmup, repeats, ...opts.meta, rows }, null, 1) + "\n");
  };
  log(`sweep ${opts.title}: ${variants.length} variants, backend ${backend}, ${warmup} warm-up calls, ${repeats} batches of ${iters}; ${new Date().toISOString()}`);

  const groups = new Map<string, SweepVariant[]>();
  for (const v of variants) {
    const key = [...(v.toggles ?? [])].sort().join(",");
    groups.set(key, [...(groups.get(key) ?? []), v]);
  }
  for (const [key, group] of groups) {
    const toggles = key ? key.split(",") : [];
    let gpu: Gpu | null = null;
    for (const v of group) {
      const row: SweepRow = { name: v.name, group: v.group, toggles, ok: false, relErr: null, tol: null, gpuMs: null, wallMs: null, tflops: null, batches: [], error: null, info: v.info };
      let c: SweepCase | null = null;
      try {
        if (!gpu || gpu.lost) {
          gpu?.destroy();
          gpu = await sweepGpu(toggles, backend);
          adapter = gpu.describe();
          log(`device: ${JSON.stringify(adapter)} toggles [${toggles.join(",")}]`);
        }
        c = await v.setup(gpu);
        c.run();
        await gpu.sync();
        const { relErr, tol } = await c.check();
        row.relErr = relErr;
        row.tol = tol;
        row.ok = relErr <= tol;
        if (!row.ok) throw new Error(`check failed: relErr ${relErr.toExponential(2)} > ${tol}`);
        if (backend !== "null") {
          // GPU clocks ramp up under load: at least `warmMs` of this variant's calls before timing.
          for (let i = 0, t1 = performance.now(); i < warmup || performance.now() - t1 < warmMs; i++) {
            c.run();
            await gpu.sync();
          }
          gpu.opTimes.clear();
          for (let r = 0; r < repeats; r++) {
            const t0 = performance.now();
            for (let i = 0; i < iters; i++) c.run();
            await gpu.sync();
            row.batches.push((performance.now() - t0) / iters);
          }
          const stamped = [...gpu.opTimes.values()].reduce((a, o) => a + o.ms, 0);
          row.gpuMs = gpu.opTimes.size ? stamped / (repeats * iters) : null;
          row.wallMs = Math.min(...row.batches);
          row.tflops = c.flops / ((row.gpuMs ?? row.wallMs) * 1e-3) / 1e12;
        }
      } catch (e) {
        row.error = String((e as Error).message ?? e).split("\n").slice(0, 3).join(" | ");
      }
      try {
        c?.dispose?.();
      } catch { /* the device may be gone */ }
      rows.push(row);
      const f = (v: number | null, d = 3) => (v === null ? "-" : v.toFixed(d));
      log(`${row.ok ? "ok  " : "FAIL"} ${v.group} ${v.name} [${toggles.join(",")}] relErr ${row.relErr === null ? "-" : row.relErr.toExponential(2)} gpu ${f(row.gpuMs)} ms wall ${f(row.wallMs)} ms ${f(row.tflops, 1)} TFLOP/s${row.error ? ` error: ${row.error}` : ""}`);
      save();
    }
    gpu?.destroy();
  }

  // Per group: the rows by speed, each with its ratio to the group's best.
  const byGroup = new Map<string, SweepRow[]>();
  for (const r of rows) byGroup.set(r.group, [...(byGroup.get(r.group) ?? []), r]);
  log(`sweep ${opts.title}: summary (ok rows by GPU time; ratio = best / this)`);
  for (const [g, rs] of byGroup) {
    const ok = rs.filter((r) => r.ok && r.gpuMs !== null).sort((a, b) => a.gpuMs! - b.gpuMs!);
    for (const r of ok) log(`  ${g} ${r.name} [${r.toggles.join(",")}] ${r.gpuMs!.toFixed(3)} ms ${r.tflops!.toFixed(1)} TFLOP/s ratio ${(ok[0].gpuMs! / r.gpuMs!).toFixed(2)}`);
    const bad = rs.filter((r) => !r.ok);
    if (bad.length) log(`  ${g}: ${bad.length} failed: ${bad.map((r) => r.name).join(", ")}`);
  }
  save();
  return rows;
}
