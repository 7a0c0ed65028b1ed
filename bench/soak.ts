// Soak (issue 20): N whole runs in one process, as a server making a pool per request would: each run creates
// a WorkerPool, loads the embedded model, sets the prompt, samples --steps steps at a small latent and closes
// the pool. Correctness first: every run's latent must equal the first run's bit for bit (same seed, same
// devices); then per run its time, RSS, threads and open handles (/proc/self), and the drift over the runs.
// Usage: deno run -A bench/soak.ts [--runs 20] [--steps 50] [--devices 2] [--latent 3,6,10] [--json FILE]
import { EMBEDDED_SAMPLER, embeddedPrompt, generate, loadEmbeddedModel, setPrompts, useWebGpu, WorkerPool } from "../src/deno.ts";

const arg = (name: string, def: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : def;
};
const runs = Number(arg("runs", "20")), steps = Number(arg("steps", "50")), devices = Number(arg("devices", "2"));
const [F, H, W] = arg("latent", "3,6,10").split(",").map(Number);
const jsonPath = arg("json", "");

function counts() {
  const status = Deno.readTextFileSync("/proc/self/status");
  return {
    rssMB: Math.round(Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024),
    threads: [...Deno.readDirSync("/proc/self/task")].length,
    handles: [...Deno.readDirSync("/proc/self/fd")].length,
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
  const same = reference === null || (latent.length === reference.length && latent.every((v, i) => Object.is(v, reference![i])));
  reference ??= latent;
  const c = counts();
  rows.push({ run: r + 1, ms: Math.round(ms), same, ...c });
  console.log(`run ${String(r + 1).padStart(2)}/${runs}: ${same ? "same latent as run 1" : "LATENT DIFFERS from run 1"}, ${(ms / 1000).toFixed(1)} s, RSS ${c.rssMB} MB, ${c.threads} threads, ${c.handles} handles`);
}
const first = rows[0], last = rows[rows.length - 1];
const allSame = rows.every((x) => x.same);
console.log(`correctness: ${allSame ? `all ${runs} runs gave run 1's latent bit for bit` : "FAILED: some runs differ"}`);
console.log(`drift run 1 -> ${runs}: RSS ${first.rssMB} -> ${last.rssMB} MB, threads ${first.threads} -> ${last.threads}, handles ${first.handles} -> ${last.handles}`);
if (jsonPath) Deno.writeTextFileSync(jsonPath, JSON.stringify({ runs, steps, devices, latent: [F, H, W], webgpu: backend.implementation, start, rows }, null, 2) + "\n");
Deno.exit(allSame ? 0 : 1);
