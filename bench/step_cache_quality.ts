// What step caching costs in accuracy on the synthetic wan-small pipeline (src/loaders/synthetic_model.ts:
// wan-small's dims, the fixtures' weight rule, untrained): the final latent of each cache at its default
// threshold against the uncached run, as relative L2, with the steps each computed. Quality measured, not
// asserted: an untrained model's trajectory is no proxy for a trained one's (the embedded model's eval,
// tools/embedded-eval.ts --cache, is the other measure).
//
//   node bin/deno.cjs run -A bench/step_cache_quality.ts [--steps 50] [--solver unipc] [--guidance 5] [--shift 5]
//       [--latent 5,14,18] [--caches teacache,magcache,fbcache,teacache:0.2] [--devices 1] [--json out.json]
import { syntheticModel, SYNTHETIC_LATENT } from "../src/loaders/synthetic_model.ts";
import { generate, setPrompts } from "../src/pipeline/generate.ts";
import { parseCacheSpec } from "../src/pipeline/step_cache.ts";
import { WorkerPool } from "../src/parallel/pool.ts";
import { relL2 } from "../src/selftest/harness.ts";
import { type Solver, SOLVERS } from "../src/sampler/flow_match.ts";
import { benchArgs, printTable, writeJson } from "./common.ts";

const args = benchArgs("bench/step_cache_quality.ts", ["steps", "solver", "guidance", "shift", "latent", "caches", "devices", "json", "seed"], []);
const steps = Number(args.get("steps") ?? 50);
const solver = (args.get("solver") ?? "unipc") as Solver;
if (!SOLVERS.includes(solver)) throw new Error(`--solver must be one of ${SOLVERS.join("|")}, got ${solver}`);
const guidance = Number(args.get("guidance") ?? 5), shift = Number(args.get("shift") ?? 5), seed = Number(args.get("seed") ?? 0);
const [F, H, W] = (args.get("latent") ?? `${SYNTHETIC_LATENT.F},${SYNTHETIC_LATENT.H},${SYNTHETIC_LATENT.W}`).split(",").map(Number);
const caches = (args.get("caches") ?? "teacache,magcache").split(",");
const devices = Number(args.get("devices") ?? 1);

function distanceRange(d: number[]): string {
  const v = d.filter(Number.isFinite).sort((a, b) => a - b);
  return v.length ? `${v[0].toFixed(4)} / ${v[v.length >> 1].toFixed(4)} / ${v[v.length - 1].toFixed(4)}` : "-";
}

const m = syntheticModel();
const pool = await WorkerPool.create({ devices, precision: "f32" });
const rows: Record<string, unknown>[] = [];
try {
  await pool.load(m.config, m.weights);
  await setPrompts(pool, m.text, m.negativeText, m.textTokens);
  const sampler = { steps, solver, guidance, shift };
  const opts = { latent: { F, H, W }, sampler, seed, mode: "sequence" as const };
  const t0 = performance.now();
  const off = await generate(pool, m.config, opts);
  rows.push({ cache: "off", computed: steps, skipped: 0, relL2VsUncached: 0, ms: Math.round(performance.now() - t0) });
  for (const spec of caches) {
    const t = performance.now();
    const r = await generate(pool, m.config, { ...opts, cache: parseCacheSpec(spec) });
    rows.push({
      cache: `${r.cache!.kind} ${r.cache!.threshold}`,
      computed: r.cache!.computed,
      skipped: r.cache!.skipped,
      relL2VsUncached: Number(relL2(r.latent, off.latent).toExponential(3)),
      ms: Math.round(performance.now() - t),
      computedSteps: r.cache!.compute.flatMap((c, i) => (c ? [i] : [])).join(","),
      // FBCache decides at run time: block 0's relative L1 distance per step (min / median / max over the steps
      // that had one to compare with), against the threshold
      ...(r.cache!.distances ? { distance: distanceRange(r.cache!.distances) } : {}),
      calibration: r.cache!.calibration,
    });
  }
} finally {
  await pool.close();
}
console.log(`synthetic wan-small (d ${m.config.dim}, ${m.config.numLayers} layers, untrained), latent ${F}x${H}x${W}, ${solver} ${steps} steps, guidance ${guidance}, shift ${shift}, seed ${seed}, ${devices} device(s), f32:`);
printTable(rows, ["cache", "computed", "skipped", "relL2VsUncached", "distance", "ms"]); // distance: FBCache rows only
const json = args.get("json");
if (json) writeJson(json, { latent: { F, H, W }, sampler: { steps, solver, guidance, shift, seed }, devices, rows });
