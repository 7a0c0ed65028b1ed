// The one test harness shared by both hosts: test files register cases with `test`, and
// test/run-deno.ts (Deno, lavapipe) and test/browser/main.ts (Chromium, SwiftShader) run the same list.
// Kernel tests are one-liners through `withGpu` (a fresh device per test, everything destroyed after; in a
// browser a fresh Gpu on one shared device, see below) and `expectClose` (relative L2 against a Float64 reference, with a useful failure message).

import { Gpu, type GpuOptions } from "../gpu/device.ts";

export type Host = "deno" | "browser";
/**
 * An adapter feature a test cannot run without (Gpu.features): where the adapter lacks it, the runner
 * counts the test skipped with that reason before running it, so a test of the GPU tier is listed on a CPU
 * adapter rather than absent. `npm run test:gpu` (test/run-gpu.ts) runs the tests that need subgroupMatrix or f16.
 */
export type Need = "subgroupMatrix" | "f16" | "subgroups";
export const NEEDS: readonly Need[] = ["subgroupMatrix", "f16", "subgroups"];
/**
 * "slow": over about a second on a 2-core CPU adapter; `npm run test:fast` leaves these out.
 * "dawn": exercises what differs on Dawn (its addon's quirks, its polling, workers holding Dawn devices):
 * npm test's Dawn pass runs these with the kernel checks (test/run-deno.ts --tier dawn).
 */
export type Tag = "slow" | "dawn";
export interface TestCase {
  name: string;
  fn: () => Promise<void> | void;
  /** Run only on these hosts (default: both). */
  hosts?: Host[];
  /** Per-test timeout in ms (default 120 s: software adapters are slow). */
  timeoutMs?: number;
  /** Adapter features the test needs (see Need). */
  needs?: Need[];
  /** Tiers the test belongs to (see Tag). */
  tags?: Tag[];
  /** The module that registered the test (set by `test`, from the call stack; "" where the stack says nothing). */
  file?: string;
}

/** The URL of the module that called `test` (V8's stack: Deno and Chromium). */
function callerFile(): string {
  const lines = (new Error().stack ?? "").split("\n").slice(1);
  for (const l of lines) {
    const m = /((?:file|https?):\/\/[^\s)]+?):\d+:\d+\)?$/.exec(l.trim());
    if (m && !m[1].includes("/selftest/harness.")) return m[1].replace(/\?.*$/, "");
  }
  return "";
}

const cases: TestCase[] = [];

export function test(name: string, fn: () => Promise<void> | void, opts: Omit<TestCase, "name" | "fn"> = {}): void {
  cases.push({ name, fn, file: callerFile(), ...opts });
}

export function registeredTests(): readonly TestCase[] {
  return cases;
}

const cleanups: (() => Promise<void> | void)[] = [];
/** Runs `fn` once after the last test of a run (whatever the filter): e.g. closing pools that tests share. */
export function afterAll(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}
export function registeredCleanups(): readonly (() => Promise<void> | void)[] {
  return cleanups;
}

/** Thrown to mark a test skipped (e.g. the adapter lacks shader-f16); counted as skipped, never passed. */
export class SkipError extends Error {}
export function skip(reason: string): never {
  throw new SkipError(reason);
}

/**
 * The browser host's one device for tests with default options: SwiftShader compiles each pipeline for
 * seconds (attention for tens of seconds on 2 cores), so tests there get a fresh Gpu over this device
 * (Gpu.sharing: their own buffers, uniform ring and errors, the compiled pipelines shared). Deno, where a
 * device and its compiles are cheap, keeps a fresh device per test.
 */
let browserDevice: Promise<Gpu> | null = null;

/** Whether a test's Gpu runs on the browser's shared device (default options in a browser). */
const onSharedDevice = (opts: GpuOptions) => typeof Deno === "undefined" && Object.keys(opts).length === 0;

async function freshGpu(opts: GpuOptions): Promise<Gpu> {
  if (!onSharedDevice(opts)) return await Gpu.create(opts);
  browserDevice ??= Gpu.create({ label: "test device" });
  const base = await browserDevice.catch((e) => {
    browserDevice = null;
    throw e;
  });
  if (base.lost) {
    browserDevice = null; // a test lost it: the next one starts a new device
    return await freshGpu(opts);
  }
  return base.sharing();
}

afterAll(async () => {
  const base = await browserDevice?.catch(() => null);
  browserDevice = null;
  base?.destroy();
});

/** Runs `fn` with a fresh Gpu (in a browser: on the shared test device) and destroys it afterwards, whatever happens. */
export async function withGpu<T>(fn: (gpu: Gpu) => Promise<T>, opts: GpuOptions = {}): Promise<T> {
  const gpu = await freshGpu(opts);
  try {
    return await fn(gpu);
  } finally {
    if (onSharedDevice(opts)) {
      // On the shared device, let this test's work finish and its errors arrive (an invalid submit is reported
      // a task later) while its Gpu still listens, so that none lands on the next test.
      await gpu.device.queue.onSubmittedWorkDone().catch(() => {});
      await new Promise((r) => setTimeout(r, 0));
    }
    gpu.destroy();
  }
}

/** What a runner knows of the adapter before the tests: its features, for `needs`, and a name for skip reasons. */
export interface AdapterFeatures {
  name: string;
  features: Record<Need, boolean>;
}

/** The test adapter's features (a device opened and closed; in a browser the shared test device). */
export async function probeAdapter(): Promise<AdapterFeatures> {
  return await withGpu((gpu) => {
    const d = gpu.describe();
    const { f16, subgroups, subgroupMatrix } = gpu.features;
    return Promise.resolve({ name: `${d.implementation} on ${d.adapter}`, features: { f16, subgroups, subgroupMatrix } });
  });
}

/** Like withGpu, but skips the test when the adapter has no shader-f16. */
export async function withGpuF16<T>(fn: (gpu: Gpu) => Promise<T>): Promise<T | void> {
  return await withGpu(async (gpu) => {
    if (!gpu.features.f16) skip("adapter has no shader-f16");
    return await fn(gpu);
  });
}

/** Tolerances, named once in src/tolerances.ts (the demo uses them too). */
export { TOL } from "../tolerances.ts";

export function relL2(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (got[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-300);
}

/** Throws unless got ≈ ref within `tol` relative L2; the message gives count, worst index and samples. */
export function expectClose(what: string, got: ArrayLike<number>, ref: ArrayLike<number>, tol: number): void {
  if (got.length !== ref.length) throw new Error(`${what}: got ${got.length} values, reference has ${ref.length}`);
  let nonFinite = 0;
  for (let i = 0; i < got.length; i++) if (!Number.isFinite(got[i])) nonFinite++;
  const err = relL2(got, ref);
  if (nonFinite === 0 && err <= tol) return;
  let worst = 0, worstDiff = -1, bad = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]);
    if (!(d <= tol * (Math.abs(ref[i]) + 1e-3))) bad++;
    if (!(d <= worstDiff) || Number.isNaN(d)) [worst, worstDiff] = [i, Number.isNaN(d) ? Infinity : d];
  }
  const samples = [worst, 0, 1, ref.length - 1]
    .filter((i, k, a) => i < ref.length && a.indexOf(i) === k)
    .map((i) => `[${i}] got ${got[i]} expected ${ref[i]}`)
    .join("; ");
  throw new Error(
    `${what}: relative L2 error ${err.toExponential(3)} > ${tol} (${bad} of ${ref.length} elements off, ${nonFinite} non-finite); worst ${samples}`,
  );
}

/**
 * Throws unless got and want hold the same f32 bit patterns (NaN payloads and the sign of zero included):
 * for results that must not depend on how the work was split. The message gives the count of differing
 * elements, the first one and the largest difference.
 */
export function expectBitwiseEqual(what: string, got: Float32Array, want: Float32Array): void {
  if (got.length !== want.length) throw new Error(`${what}: got ${got.length} values, expected ${want.length}`);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length), b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let differ = 0, first = -1, maxDiff = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    differ++;
    if (first < 0) first = i;
    maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
  }
  if (differ) {
    throw new Error(`${what}: ${differ} of ${got.length} values differ bitwise (first [${first}] got ${got[first]} expected ${want[first]}; largest difference ${maxDiff})`);
  }
}

/** Throws unless `fn` throws (or rejects) with a message matching `pattern`: a wrong error fails too. */
export async function expectThrows(what: string, fn: () => unknown, pattern: RegExp): Promise<void> {
  let message: string | null = null;
  try {
    await fn();
  } catch (e) {
    message = (e as Error)?.message ?? String(e);
  }
  if (message === null) throw new Error(`${what}: expected an error matching ${pattern}, but it succeeded`);
  if (!pattern.test(message)) throw new Error(`${what}: expected an error matching ${pattern}, got "${message}"`);
}

/** Throws unless got and want are structurally equal (compared as JSON: plain values, arrays, objects). */
export function expectEqual<T>(what: string, got: T, want: T): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
}

/** Deterministic values in [-scale, scale) (a 32-bit LCG hash), so failures reproduce. */
export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    let h = s ^ (s >>> 15);
    h = Math.imul(h, 0x2c1b3c6d) >>> 0;
    h ^= h >>> 12;
    out[i] = ((h >>> 0) / 4294967296 * 2 - 1) * scale;
  }
  return out;
}

/** Float64 copy of a Float32Array (references take f64; inputs were rounded to f32 already). */
export function f64(a: ArrayLike<number>): Float64Array {
  return Float64Array.from(a);
}

/** Values rounded through f16 then widened, so an f16 kernel is compared on what it actually received. */
export function roundF16(a: Float32Array): Float32Array {
  return Float32Array.from(new Float16Array(a));
}
