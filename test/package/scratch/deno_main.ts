// A Deno script using shardit as a user would: by package name, from node_modules (the packed package,
// test/package/run-package.mjs). Forward of a golden fixture over 2 devices, then the denoising loop with
// a progress callback and an AbortSignal that cancels it after the first step. Prints one JSON line.
// Usage (in the scratch project): deno run -A deno_main.ts FIXTURE_DIR
import { createPool, forward, generate, PoolCancelled, setPrompts, shardPlan, TOL } from "shardit";
import { Checkpoint, denoFileSource, loadModel, readInputsFile } from "shardit/deno";

const fixture = Deno.args[0];
const model = await loadModel(fixture);
const inputs = await readInputsFile(`${fixture}/io.safetensors`, model.config);
const expected = await (await Checkpoint.open([await denoFileSource(`${fixture}/io.safetensors`)])).readF32("expected");
const relL2 = (a: Float32Array, b: Float32Array) => {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) [num, den] = [num + (a[i] - b[i]) ** 2, den + b[i] ** 2];
  return Math.sqrt(num / den);
};

const report: Record<string, unknown> = { model: model.name, tol: TOL.model.f32 };
const pool = await createPool({ devices: 2 });
try {
  await pool.load(model.config, model.weights);
  const r = await forward(pool, inputs, { mode: "sequence" });
  report.forward = { relL2: relL2(r.out, expected), values: r.out.length, shards: r.plan.shards.map((s) => [s.start, s.end]) };
  report.plan = shardPlan({ F: 3, H: 6, W: 10 }, 2, { mode: "frame" }).padTokens;

  // The same model drives the denoising loop, the fixture's text as prompt and negative prompt.
  await setPrompts(pool, inputs.text, inputs.text, inputs.textTokens);
  const abort = new AbortController();
  const steps: number[] = [];
  try {
    await generate(pool, model.config, { latent: { F: 1, H: 4, W: 6 }, sampler: { steps: 3, shift: 5, guidance: 5, solver: "unipc" }, seed: 1, mode: "sequence", signal: abort.signal }, (step) => {
      steps.push(step.step);
      if (step.step === 0) abort.abort();
    });
    report.generate = "finished without being cancelled";
  } catch (err) {
    report.generate = err instanceof PoolCancelled ? `PoolCancelled: ${err.message}` : `${(err as Error).name}: ${(err as Error).message}`;
  }
  report.steps = steps;
} finally {
  await pool.close();
}
console.log(JSON.stringify(report));
