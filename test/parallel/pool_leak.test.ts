// WorkerPool.close() returns what create() took (issue 20, finding 6: each create/close left ~20 threads,
// 12 file handles and 30 MB with Dawn, so a server making a pool per request ran out). 20 cycles of a
// one-device pool in this process; the thread and handle counts from /proc/self after the last cycle
// must equal those after the first (the first loads what every later pool shares: code, the adapter).
// Linux only (/proc). On this project's CPU CI adapter (Deno's wgpu) it passes before and after; the
// leak was measured with Dawn, where a worker that loads dawn.node leaves 2 descriptors behind
// (measured in a bare worker: 5 workers, 22 -> 34 descriptors) and the Vulkan driver's threads with it.
import { WorkerPool } from "../../src/parallel/pool.ts";
import { skip, test } from "../../src/selftest/harness.ts";

function counts(): { threads: number; handles: number; rssMB: number } {
  const status = Deno.readTextFileSync("/proc/self/status");
  return {
    threads: [...Deno.readDirSync("/proc/self/task")].length,
    handles: [...Deno.readDirSync("/proc/self/fd")].length,
    rssMB: Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024),
  };
}

test("pool: 20 create/close cycles in one process leave the thread and handle counts flat", async () => {
  if (Deno.build.os !== "linux") skip("reads /proc/self");
  const seen: ReturnType<typeof counts>[] = [];
  for (let i = 0; i < 20; i++) {
    const pool = await WorkerPool.create({ devices: 1, precision: "f32" });
    await pool.close();
    await new Promise((r) => setTimeout(r, 50)); // the worker thread's own exit
    seen.push(counts());
  }
  const first = seen[0], last = seen[seen.length - 1];
  console.log(`  after cycle 1: ${JSON.stringify(first)}; after cycle 20: ${JSON.stringify(last)}`);
  // A thread or handle of the runtime may come and go (timers, the module cache): allow 1 of each.
  if (last.threads > first.threads + 1 || last.handles > first.handles + 1) {
    throw new Error(`20 pools: threads ${first.threads} -> ${last.threads}, handles ${first.handles} -> ${last.handles} (RSS ${first.rssMB} -> ${last.rssMB} MB): close() leaks`);
  }
}, { hosts: ["deno"], tags: ["slow"] });
