// Shared helpers of the Deno benches (bench/*.ts): environment line, GPU timing, a printed table, JSON.
// Timing is wall clock around gpu.sync(): after warm-up, `iters` calls are recorded and submitted, then
// one sync; that batch is repeated and the best batch mean is reported (the others are kept too).
// Importing this module picks the WebGPU implementation for the whole bench (and its pool's workers):
// `--webgpu auto|dawn|deno` (taken out of the arguments here), else $SHARDIT_WEBGPU, else auto.
import type { Gpu } from "../src/gpu/device.ts";
import { allowFlags, parseArgs } from "../src/cli/args.ts";
import { takeWebGpuFlag, useWebGpu, type WebGpuBackend, webGpuChoice } from "../src/platform/webgpu_deno.ts";

const webgpuFlag = takeWebGpuFlag(Deno.args);
/** The implementation this bench runs on (set before any bench code creates a device). */
export const webgpu: WebGpuBackend = await useWebGpu(webGpuChoice(webgpuFlag.webgpu));
if (webgpu.note) console.log(`webgpu: auto uses Deno's WebGPU (${webgpu.note})`);

export interface BenchEnv {
  adapter: string;
  vendor: string;
  architecture: string;
  deno: string;
  v8: string;
  date: string;
  f16: boolean;
  /** "dawn" or "deno" (wgpu) */
  webgpu: string;
  subgroups: boolean;
  subgroupMatrix: boolean;
  /** e.g. "f16->f32 16x16x16" per adapter config */
  matrixConfigs: string[];
}

export function benchEnv(gpu: Gpu): BenchEnv {
  const d = gpu.describe();
  return {
    adapter: String(d.adapter),
    vendor: String(d.vendor ?? ""),
    architecture: String(d.architecture ?? ""),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    date: new Date().toISOString(),
    f16: gpu.features.f16,
    webgpu: gpu.implementation,
    subgroups: gpu.features.subgroups,
    subgroupMatrix: gpu.features.subgroupMatrix,
    matrixConfigs: gpu.features.subgroupMatrixConfigs.map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`),
  };
}

export function printEnv(env: BenchEnv): void {
  console.log(`adapter: ${env.adapter} (${env.vendor} ${env.architecture}) via ${env.webgpu}, shader-f16: ${env.f16}, subgroups: ${env.subgroups}, subgroup matrix: ${env.subgroupMatrix}${env.matrixConfigs.length ? ` [${env.matrixConfigs.join(", ")}]` : ""}; deno ${env.deno}; ${env.date}`);
}

export interface Timing {
  /** Best batch mean, ms per call. */
  ms: number;
  /** Mean ms per call of every batch. */
  batches: number[];
  iters: number;
}

/**
 * Times `fn` (which records GPU work on `gpu`): `warmup` calls and a sync, then `repeats` batches of
 * `iters` calls each followed by one sync. Returns the best batch's ms per call.
 */
export async function timeGpu(gpu: Gpu, fn: () => void, iters = 10, opts: { warmup?: number; repeats?: number } = {}): Promise<Timing> {
  const warmup = opts.warmup ?? 2, repeats = opts.repeats ?? 3;
  for (let i = 0; i < warmup; i++) fn();
  await gpu.sync();
  const batches: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) fn();
    await gpu.sync();
    batches.push((performance.now() - t0) / iters);
  }
  return { ms: Math.min(...batches), batches, iters };
}

/** Prints rows as an aligned table (columns from the first row's keys unless given). */
export function printTable(rows: Record<string, unknown>[], columns?: string[]): void {
  if (rows.length === 0) return;
  const cols = columns ?? Object.keys(rows[0]);
  const cell = (v: unknown) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v ?? ""));
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  console.log(cols.map((c, i) => c.padEnd(widths[i])).join("  "));
  for (const r of rows) console.log(cols.map((c, i) => cell(r[c]).padEnd(widths[i])).join("  "));
}

/** Prints one row as `key value` pairs on a line (for progress while a long bench runs). */
export function printRow(row: Record<string, unknown>): void {
  console.log(Object.entries(row).map(([k, v]) => `${k} ${typeof v === "number" && !Number.isInteger(v) ? v.toPrecision(4) : v}`).join("  "));
}

export function writeJson(path: string, value: unknown): void {
  Deno.writeTextFileSync(path, JSON.stringify(value, null, 2) + "\n");
  console.log(`wrote ${path}`);
}

/** `--name value` / boolean flags, as the CLI parses them; unknown flags (not in `allowed`) are errors. */
export function benchArgs(
  command: string,
  allowed: readonly string[],
  booleans: readonly string[] = [],
): { get(name: string): string | undefined; has(name: string): boolean } {
  const parsed = parseArgs(webgpuFlag.rest, booleans);
  allowFlags(parsed, command, allowed);
  const flags = parsed.flags;
  return {
    get: (n) => {
      const v = flags.get(n);
      return typeof v === "string" ? v : undefined;
    },
    has: (n) => flags.has(n),
  };
}

/**
 * A kernel override's bench flag (--gemm, --conv, ...): `--<flag> V` sets $<envName> to V before any kernel runs
 * (this process's workers read the same environment); the value in effect (flag or inherited environment) is
 * checked by `parse` at once, so a bad one fails (its one line, exit 2) before the bench loads anything. Returns it ("default" when unset).
 */
export function overrideFlag(args: { get(name: string): string | undefined }, flag: string, envName: string, parse: (v: string | undefined) => unknown): string {
  const v = args.get(flag);
  if (v !== undefined) Deno.env.set(envName, v);
  const effective = Deno.env.get(envName);
  try {
    parse(effective);
  } catch (e) {
    console.error((e as Error).message); // one line, no stack: a bad value is the user's, not a bug
    Deno.exit(2);
  }
  return effective?.trim() || "default";
}

/**
 * Read-merge-write of bench/results/latest.json (the figures a program reads: card, date, commit, torch's
 * and ours). `update` adds this bench's keys to `latest` and to `torch` (torch's figures of the same call);
 * every other key is kept, so several benches of one GPU call fill one file. The card and date come from
 * this run, the commit from $SHARDIT_COMMIT (the GPU host has no git).
 */
export function updateLatest(
  path: string,
  env: BenchEnv,
  update: (latest: Record<string, unknown>, torch: Record<string, unknown>) => void,
): void {
  let latest: Record<string, unknown> = {};
  try {
    latest = JSON.parse(Deno.readTextFileSync(path));
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw new Error(`--latest ${path}: ${(e as Error).message}`);
  }
  const torch = { ...(latest.torch as Record<string, unknown> ?? {}) };
  update(latest, torch);
  if (Object.keys(torch).length) latest.torch = torch;
  latest.card ??= env.adapter;
  latest.date = env.date;
  const commit = Deno.env.get("SHARDIT_COMMIT");
  if (commit) latest.commit = commit;
  writeJson(path, latest);
}

/** A nested record of `latest` (e.g. latest.gemm_tflops.f16), copied so the caller may add keys. */
export function latestRecord<T>(parent: Record<string, unknown>, key: string): Record<string, T> {
  return { ...(parent[key] as Record<string, T> ?? {}) };
}
