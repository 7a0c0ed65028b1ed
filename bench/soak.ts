// Soak (issue 20): N whole runs in one process, as a server making a pool per request would: each run creates
// a WorkerPool, loads the embedded model, sets the prompt, samples --steps steps at a small latent and closes
// the pool. Correctness first: every run's latent must equal the first run's bit for bit (same seed, same
// devices); then per run its time, RSS, threads and open handles (/proc/self), and the drift over the runs.
// Where the RSS goes: with --v8-flags=--expose-gc each run ends with a full collection, and on glibc the run's
// line adds malloc's bytes in use and held from the system (mallinfo2 through FFI): bytes in use flat while
// held grows is the allocator keeping freed memory (each new worker thread's arena; MALLOC_ARENA_MAX=1 to
// compare), not a leak (bench/results/pool_rss_2026-12-07.log).
// Usage: deno run -A [--v8-flags=--expose-gc] bench/soak.ts [--runs 20] [--steps 50] [--devices 2] [--latent 3,6,10] [--json FILE]
import { EMBEDDED_SAMPLER, embeddedPrompt, generate, loadEmbeddedModel, setPrompts, useWebGpu, WorkerPool } from "../src/deno.ts";

const arg = (name: string, def: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : def;
};
const runs = Number(arg("runs", "20")), steps = Number(arg("steps", "50")), devices = Number(arg("devices", "2"));
const [F, H, W] = arg("latent", "3,6,10").split(",").map(Number);
const jsonPath = arg("json", "");

const MALLINFO2 = { mallinfo2: { parameters: [], result: { struct: Array<"usize">(10).fill("usize") } } } as const;
let libc: Deno.DynamicLibrary<typeof MALLINFO2> | null = null;
try {
  libc = Deno.dlopen("libc.so.6", MALLINFO2);
} catch { /* not glibc */ }
const gc = (globalThis as { gc?: () => void }).gc;

function counts() {
  const status = Deno.readTextFileSync("/proc/self/status");
  // struct mallinfo2: arena, ordblks, smblks, hblks, hblkhd, usmblks, fsmblks, uordblks, fordblks, keepcost
  const m = libc ? new BigUint64Array((libc.symbols.mallinfo2() as Uint8Array).buffer) : null;
  const MB = (b: bigint) => Math.round(Number(b) / 2 ** 20 * 10) / 10;
  return {
    rssMB: Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024),
    threads: [...Deno.readDirSync("/proc/self/task")].length,
    handles: [...Deno.readDirSync("/proc/self/fd")].length,
    ...(m ? { mallocInUseMB: MB(m[7] + m[4]), mallocHeldMB: MB(m[0] + m[4]) } : {}),
  };
}

const backend = await useWebGpu();
const e = await loadEmbeddedModel();
const prompt = embeddedPrompt(e, "a red circle moving left"), empty = embeddedPrompt(e, "");
const sampler = { ...EMBEDDED_SAMPLER, steps };
console.log(`soak: ${runs} runs of ${steps} steps, latent ${F}x${H}x${W}, ${devices} device(s), ${backend.implementation}, ${sampler.solver} guidance ${sampler.guidance}`);
const start = counts();
console.log(`start: RSS ${start.rssMB} MB, ${start.threads} threads, ${start.handles} handles`);
let reference: Float32Array | null = null;
const rows: Record<string, number | boolean>[] = [];
for (let r = 0; r < runs; r++) {
  const t0 = performance.now();
  const pool = await WorkerPool.create({ devices, precision: "f32" });
  let latent: Float32Array;
  try {
    await pool.load(e.config, e.weights);
    await setPrompts(pool, prompt.text, empty.text, prompt.tokens, empty.tokens);
    const res = await generate(pool, e.config, { latent: { F, H, W }, sampler, seed: 0, mode: "sequence", condition: e.condition });
    latent = res.latent;
  } finally {
    await pool.close();
  }
  const ms = performance.now() - t0;
  if (gc) {
    for (let k = 0; k < 3; k++) {
      gc();
      await new Promise((r) => setTimeout(r, 30));
    }
  }
  const same = reference === null || (latent.length === reference.length && latent.every((v, i) => Object.is(v, reference![i])));
  reference ??= latent;
  const c = counts();
  rows.push({ run: r + 1, ms: Math.round(ms), same, ...c });
  const malloc = c.mallocInUseMB === undefined ? "" : `, malloc ${c.mallocInUseMB} MB in use / ${c.mallocHeldMB} MB held`;
  console.log(`run ${String(r + 1).padStart(2)}/${runs}: ${same ? "same latent as run 1" : "LATENT DIFFERS from run 1"}, ${(ms / 1000).toFixed(1)} s, RSS ${c.rssMB} MB${malloc}, ${c.threads} threads, ${c.handles} handles`);
}
const first = rows[0], last = rows[rows.length - 1];
const allSame = rows.every((x) => x.same);
console.log(`correctness: ${allSame ? `all ${runs} runs gave run 1's latent bit for bit` : "FAILED: some runs differ"}`);
const mallocDrift = first.mallocInUseMB === undefined ? "" : `, malloc in use ${first.mallocInUseMB} -> ${last.mallocInUseMB} MB, held ${first.mallocHeldMB} -> ${last.mallocHeldMB} MB`;
console.log(`drift run 1 -> ${runs}: RSS ${first.rssMB} -> ${last.rssMB} MB${mallocDrift}, threads ${first.threads} -> ${last.threads}, handles ${first.handles} -> ${last.handles}${gc ? " (after a full collection each run)" : ""}`);
if (jsonPath) Deno.writeTextFileSync(jsonPath, JSON.stringify({ runs, steps, devices, latent: [F, H, W], webgpu: backend.implementation, start, rows }, null, 2) + "\n");
Deno.exit(allSame ? 0 : 1);
