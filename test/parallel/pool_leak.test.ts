// WorkerPool.close() returns what create() took (issue 20, finding 6: each create/close left ~20 threads,
// 12 file handles and 30 MB with Dawn, so a server making a pool per request ran out). 20 cycles of a
// one-device pool in this process, for each WebGPU implementation; the thread and handle counts from
// /proc/self after the last cycle must equal those after the fifth (the first cycles load what every later
// pool shares: code, the adapter, a runtime thread), within a small slack. Dawn runs on its null backend here (no GPU needed): a
// worker that loaded dawn.node leaves 2 descriptors behind when it ends (Deno runs no Node-API cleanup per
// worker), so before the pool kept Dawn's workers for the next pool the handles grew 2 a cycle (22 -> 36 in 6).
// With Dawn on Mesa 25's lavapipe (npm test's dawn suite: SHARDIT_WEBGPU=dawn VK_DRIVER_FILES=...) the first
// part showed the leak: threads 22 -> 109, handles 31 -> 85 over 18 cycles before, 18 -> 18 and 32 -> 32 after.
import { IDLE_WORKER_MS, WorkerPool } from "../../src/parallel/pool.ts";
import { skip, test } from "../../src/selftest/harness.ts";

function counts(): { threads: number; handles: number; rssMB: number } {
  const status = Deno.readTextFileSync("/proc/self/status");
  return {
    threads: [...Deno.readDirSync("/proc/self/task")].length,
    handles: [...Deno.readDirSync("/proc/self/fd")].length,
    rssMB: Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024),
  };
}

async function cycles(what: string, webgpu?: "dawn") {
  const seen: ReturnType<typeof counts>[] = [];
  for (let i = 0; i < 20; i++) {
    const pool = await WorkerPool.create({ devices: 1, precision: "f32", webgpu });
    await pool.close();
    await new Promise((r) => setTimeout(r, 50)); // an ended worker thread's own exit
    seen.push(counts());
  }
  WorkerPool.endIdleWorkers();
  const first = seen[4], last = seen[seen.length - 1];
  console.log(`  ${what}: after cycle 5 ${JSON.stringify(first)}; after cycle 20 ${JSON.stringify(last)}`);
  // The runtime starts a thread or a descriptor now and then (timers, the module cache): allow 2 threads and
  // 4 handles over 15 cycles; a leak of one worker's per cycle is 30 or more.
  if (last.threads > first.threads + 2 || last.handles > first.handles + 4) {
    throw new Error(`${what}, 20 pools: threads ${first.threads} -> ${last.threads}, handles ${first.handles} -> ${last.handles} (RSS ${first.rssMB} -> ${last.rssMB} MB): close() leaks`);
  }
}

test("pool: 20 create/close cycles in one process leave the thread and handle counts flat (this adapter, and Dawn)", async () => {
  if (Deno.build.os !== "linux") skip("reads /proc/self");
  await cycles("default WebGPU");
  const before = Deno.env.get("SHARDIT_DAWN_BACKEND");
  Deno.env.set("SHARDIT_DAWN_BACKEND", "null");
  try {
    await cycles("Dawn (null backend)", "dawn");
  } catch (e) {
    if (/webgpu package's addon was not found|could not load|no WebGPU adapter/i.test((e as Error).message)) skip(`Dawn: ${(e as Error).message}`);
    throw e;
  } finally {
    if (before === undefined) Deno.env.delete("SHARDIT_DAWN_BACKEND");
    else Deno.env.set("SHARDIT_DAWN_BACKEND", before);
    WorkerPool.endIdleWorkers();
    await new Promise((r) => setTimeout(r, Math.min(IDLE_WORKER_MS, 200)));
  }
}, { hosts: ["deno"], tags: ["slow", "dawn"] });
