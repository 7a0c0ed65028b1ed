// Worker pools shared by the tests, one per (device count, precision): starting N workers, creating N
// devices and compiling every pipeline on each (seconds per pipeline on a software adapter) is most of a
// sharded test's time, so tests load their weights into a pool that stays up instead of building one each.
// A test that fails inside a pool drops it (the next test starts a fresh one: no state leaks from a failure);
// the pools close after the last test (afterAll).
import type { DType } from "../../src/shape.ts";
import { PoolCancelled, WorkerPool } from "../../src/parallel/pool.ts";
import { afterAll } from "../../src/selftest/harness.ts";

/** Software adapters compile every pipeline on every device (SwiftShader: seconds each): be generous. */
export const SHARDED_TIMEOUT_MS = 900_000;

const pools = new Map<string, Promise<WorkerPool>>();

function create(devices: number, precision: DType): Promise<WorkerPool> {
  // The barrier timeout is a backstop for silent stalls (a crash is reported at once); a first forward on a
  // software adapter compiles every pipeline on every device before layer 0's exchange, which took over 20 s
  // with 5 SwiftShader devices on 2 cores.
  return WorkerPool.create({ devices, precision, barrierTimeoutMs: SHARDED_TIMEOUT_MS });
}

/**
 * Runs `fn` with the shared pool of `devices` workers in `precision` (created on first use). The caller
 * loads its weights and texts itself (`pool.load` replaces what an earlier test left).
 */
export async function withSharedPool<T>(devices: number, fn: (pool: WorkerPool) => Promise<T>, precision: DType = "f32"): Promise<T> {
  const key = `${devices} ${precision}`;
  let p = pools.get(key);
  if (!p) {
    p = create(devices, precision);
    pools.set(key, p);
    p.catch(() => pools.get(key) === p && pools.delete(key));
  }
  const pool = await p;
  try {
    return await fn(pool);
  } catch (e) {
    if (pools.get(key) === p) pools.delete(key);
    await pool.close().catch(() => {}); // whatever state the failure left, the next test starts clean
    throw e;
  }
}

afterAll(async () => {
  const open = [...pools.values()];
  pools.clear();
  for (const p of open) await (await p.catch(() => null))?.close();
});

/**
 * The cancel check of a forward and a decode alike: starts `call`, cancels it as soon as it is in flight,
 * expects PoolCancelled with the reason, and returns what the next `call` gives, after checking that every
 * device holds as many GPU buffers as after `before` (the cancelled run gave its scratch back).
 */
export async function cancelInFlight<R extends { stats: { liveBuffers: number }[] }>(pool: WorkerPool, call: () => Promise<R>, before: R): Promise<R> {
  const run = call();
  while (!pool.cancel("cancelled by the test")) await new Promise((r) => setTimeout(r, 0)); // as soon as it is in flight
  let error: unknown = null;
  try {
    await run;
  } catch (e) {
    error = e;
  }
  if (!(error instanceof PoolCancelled) || !/cancelled by the test/.test(error.message)) {
    throw new Error(`expected PoolCancelled, got ${error ? `${(error as Error).name}: ${(error as Error).message}` : "success"}`);
  }
  const after = await call();
  const held = (r: R) => r.stats.map((s) => s.liveBuffers).join(",");
  if (held(after) !== held(before)) throw new Error(`GPU buffers held per device: ${held(before)} before the cancelled run, ${held(after)} after`);
  return after;
}

/**
 * The crash check of a forward, a decode and a generate alike: crashes worker `device` 20 ms into `run` (started
 * by the caller) and expects the run to fail with that device's own error, not another device's "run aborted"
 * (the cause travels in the run's control words). Returns the milliseconds from the call to the failure.
 */
export async function expectOwnCrash(pool: WorkerPool, device: number, run: Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  setTimeout(() => pool.crash(device, "simulated device failure"), 20);
  let message = "";
  try {
    await run;
  } catch (e) {
    message = (e as Error).message;
  }
  if (!new RegExp(`^device ${device}\\b`).test(message) || !/simulated device failure/.test(message) || /run aborted/.test(message)) {
    throw new Error(`expected device ${device}'s own error, got "${message || "success"}"`);
  }
  return performance.now() - t0;
}
