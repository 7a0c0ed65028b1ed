// Scores the embedded model with shardit itself (WebGPU, here lavapipe on the CPU): generates each prompt
// of the grammar (or --prompts "a,b") for each seed at the embedded defaults (or --steps/--guidance/--shift/
// --solver) and checks the clip with src/pipeline/clip_analysis.ts: colour, direction, travel >= 8 px.
// Prints one line per clip and a JSON summary at the end. Slow on a CPU (seconds per clip).
//   node bin/deno.cjs run -A tools/embedded-eval.ts [--seeds 0,1] [--prompts all|"a red circle moving left,..."] [--devices 1]
//       [--cache teacache[:T]|magcache[:T]|fbcache[:T]] [--batch auto|on|off] [--together N]
// --cache: step caching (src/pipeline/step_cache.ts), its computed and skipped steps in the summary (FBCache: the
// last call's, and block 0's distance per step of every call; with --together N the N clips decide together).
// --together N: N clips (prompt x seed) per generate call, as items of one batch (GenerateOptions.items: each
// clip's own prompt and seed, the same noise as alone; batched forwards equal single ones within f32
// tolerance): far fewer dispatches on a CPU adapter.
import { allowFlags, int, num, oneOf, parseArgs, str } from "../src/cli/args.ts";
import { EMBEDDED_LATENT, EMBEDDED_SAMPLER, EMBEDDED_VIDEO, embeddedPrompt, loadEmbeddedModel } from "../src/loaders/embedded.ts";
import { depthToSpace } from "../src/model/pixels.ts";
import { WorkerPool } from "../src/parallel/pool.ts";
import { generate, setPrompts } from "../src/pipeline/generate.ts";
import { analyzeClip, clipMatchesPrompt } from "../src/pipeline/clip_analysis.ts";
import { SOLVERS } from "../src/sampler/flow_match.ts";
import { parseCacheSpec } from "../src/pipeline/step_cache.ts";

export const COLORS = ["red", "green", "blue", "yellow", "white"];
export const SHAPES = ["circle", "square", "triangle"];
export const DIRECTIONS = ["left", "right", "up", "down"];
/** The 60 prompts, colour slowest (tools/train/data.py all_prompts). */
export const ALL_PROMPTS = COLORS.flatMap((c) => SHAPES.flatMap((s) => DIRECTIONS.map((d) => `a ${c} ${s} moving ${d}`)));

if (import.meta.main) {
  const p = parseArgs(Deno.args);
  allowFlags(p, "embedded-eval", ["seeds", "prompts", "devices", "steps", "guidance", "shift", "solver", "cache", "batch", "together"]);
  const together = int(p, "together", 1);
  const cache = p.flags.has("cache") ? parseCacheSpec(str(p, "cache")) : undefined;
  const batch = oneOf(p, "batch", ["auto", "on", "off"] as const, "auto");
  const seeds = str(p, "seeds", "0").split(",").map(Number);
  const promptsArg = str(p, "prompts", "all");
  const prompts = promptsArg === "all" ? ALL_PROMPTS : promptsArg.split(",").map((s) => s.trim());
  const sampler = {
    steps: int(p, "steps", EMBEDDED_SAMPLER.steps),
    guidance: num(p, "guidance", EMBEDDED_SAMPLER.guidance),
    shift: num(p, "shift", EMBEDDED_SAMPLER.shift),
    solver: oneOf(p, "solver", SOLVERS, EMBEDDED_SAMPLER.solver),
  };
  const model = await loadEmbeddedModel();
  const pool = await WorkerPool.create({ devices: int(p, "devices", 1), precision: "f32" });
  const rows: { prompt: string; seed: number; ok: boolean; color: string; direction: string; travel: number }[] = [];
  let computed = sampler.steps; // steps that ran the blocks (TeaCache's and MagCache's plan is the same for every clip)
  const fbDistances: number[][] = []; // FBCache: per generate call, block 0's distance per step (decided at run time)
  try {
    await pool.load(model.config, model.weights);
    const empty = embeddedPrompt(model, "");
    const clips = prompts.flatMap((prompt) => seeds.map((seed) => ({ prompt, seed })));
    for (let c0 = 0; together > 1 && c0 < clips.length; c0 += together) {
      const group = clips.slice(c0, c0 + together);
      await pool.setText("negative", empty.text, empty.tokens);
      const keys = new Map<string, string>();
      for (const { prompt } of group) {
        if (keys.has(prompt)) continue;
        const key = `p${keys.size}`, text = embeddedPrompt(model, prompt);
        await pool.setText(key, text.text, text.tokens);
        keys.set(prompt, key);
      }
      const items = group.map(({ prompt, seed }) => ({ seed, textKey: keys.get(prompt)! }));
      const r = await generate(pool, model.config, { latent: EMBEDDED_LATENT, sampler, seed: items[0].seed, mode: "sequence", condition: model.condition, cache, batch: batch === "auto" ? "auto" : batch === "on", items });
      computed = r.cache ? r.cache.computed : sampler.steps;
      if (r.cache?.distances) fbDistances.push(r.cache.distances.map((x) => Number(x.toFixed(4))));
      group.forEach(({ prompt, seed }, k) => {
        const a = analyzeClip(depthToSpace(r.latents[k], r.latentGrid), EMBEDDED_VIDEO);
        const m = clipMatchesPrompt(a, prompt, EMBEDDED_VIDEO.W);
        rows.push({ prompt, seed, ok: m.ok, color: a.color, direction: a.direction, travel: Number(a.travel.toFixed(2)) });
        console.log(`${m.ok ? "ok  " : "FAIL"} seed ${seed} "${prompt}": ${m.why}`);
      });
    }
    for (const prompt of together > 1 ? [] : prompts) {
      const text = embeddedPrompt(model, prompt);
      await setPrompts(pool, text.text, sampler.guidance !== 1 ? empty.text : null, text.tokens, empty.tokens);
      for (const seed of seeds) {
        const r = await generate(pool, model.config, { latent: EMBEDDED_LATENT, sampler, seed, mode: "sequence", condition: model.condition, cache, batch: batch === "auto" ? "auto" : batch === "on" });
        computed = r.cache ? r.cache.computed : sampler.steps;
        if (r.cache?.distances) fbDistances.push(r.cache.distances.map((x) => Number(x.toFixed(4))));
        const a = analyzeClip(depthToSpace(r.latent, r.latentGrid), EMBEDDED_VIDEO);
        const m = clipMatchesPrompt(a, prompt, EMBEDDED_VIDEO.W);
        rows.push({ prompt, seed, ok: m.ok, color: a.color, direction: a.direction, travel: Number(a.travel.toFixed(2)) });
        console.log(`${m.ok ? "ok  " : "FAIL"} seed ${seed} "${prompt}": ${m.why}`);
      }
    }
  } finally {
    await pool.close();
  }
  const n = rows.length, ok = rows.filter((r) => r.ok).length;
  const colourOk = rows.filter((r) => r.color === r.prompt.split(" ")[1]).length;
  const directionOk = rows.filter((r) => r.direction === r.prompt.split(" ")[4]).length;
  const fb = fbDistances.length ? { fbcacheDistances: fbDistances } : {}; // one row per generate call: FBCache's steps can differ between calls
  console.log(JSON.stringify({ sampler, cache: cache ?? "off", computedSteps: computed, skippedSteps: sampler.steps - computed, seeds, clips: n, matched: ok, colourRight: colourOk, directionRight: directionOk, ...fb }));
}
