// Worker pools shared by the tests, one per (device count, precision): starting N workers, creating N
// devices and compiling every pipeline on each (seconds per pipeline on a software adapter) is most of a
// sharded test's time, so tests load their weights into a pool that stays up instead of building one each.
// A test that fails inside a pool drops it (the next test starts a fresh one: no state leaks from a failure);
// the pools close after the last test (afterAll).
import type { DType } from "../../src/gpu/tensor.ts";
import { WorkerPool } from "../../src/parallel/pool.ts";
import { afterAll } from "../harness.ts";

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
