// The child process of test/parallel/pool_leak.test.ts's memory check (run with --v8-flags=--expose-gc and
// MALLOC_ARENA_MAX=1): N cycles of create a one-device pool, load the embedded model's weights (2.25 MB, shared
// with the worker), close; after each cycle, a full garbage collection, then one JSON line of what the process
// holds: RSS, glibc malloc's bytes in use and held (mallinfo2, through FFI), V8's heap and external bytes,
// threads and handles (/proc/self). Usage: deno run -A --v8-flags=--expose-gc pool_leak_child.ts N [webgpu]
import { loadEmbeddedModel } from "../../src/loaders/embedded.ts";
import { WorkerPool } from "../../src/parallel/pool.ts";

const cycles = Number(Deno.args[0] ?? 20), webgpu = Deno.args[1] || undefined;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --v8-flags=--expose-gc");
const MB = (b: number | bigint) => Math.round(Number(b) / 2 ** 20 * 10) / 10;
const MALLINFO2 = { mallinfo2: { parameters: [], result: { struct: Array<"usize">(10).fill("usize") } } } as const;
let libc: Deno.DynamicLibrary<typeof MALLINFO2> | null = null;
try {
  libc = Deno.dlopen("libc.so.6", MALLINFO2);
} catch { /* not glibc: no malloc figures (null) */ }

function sample() {
  // struct mallinfo2: arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost
  const m = libc ? new BigUint64Array((libc.symbols.mallinfo2() as Uint8Array).buffer) : null;
  const status = Deno.readTextFileSync("/proc/self/status");
  const v8 = Deno.memoryUsage();
  return {
    rssMB: MB(Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024),
    mallocInUseMB: m ? MB(m[7] + m[4]) : null,
    mallocHeldMB: m ? MB(m[0] + m[4]) : null,
    heapMB: MB(v8.heapUsed),
    externalMB: MB(v8.external),
    threads: [...Deno.readDirSync("/proc/self/task")].length,
    handles: [...Deno.readDirSync("/proc/self/fd")].length,
  };
}

const e = await loadEmbeddedModel();
const kept: WorkerPool[] = [];
for (let i = 0; i < cycles; i++) {
  const pool = await WorkerPool.create({ devices: 1, precision: "f32", webgpu });
  await pool.load(e.config, e.weights);
  await pool.close();
  if (Deno.env.get("SHARDIT_LEAK_CALIBRATE")) kept.push(pool); // calibration: a pool kept after close (its weights) must fail the parent test
  for (let k = 0; k < 3; k++) {
    gc();
    await new Promise((r) => setTimeout(r, 30)); // an ended worker thread's own exit; finalizers
  }
  console.log(JSON.stringify({ cycle: i + 1, ...sample() }));
}
WorkerPool.endIdleWorkers();
Deno.exit(0);
