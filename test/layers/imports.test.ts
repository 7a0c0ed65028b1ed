// The import arrows of src/ run one way (ARCHITECTURE.md "Who imports whom"): this reads every module's
// static imports (type-only ones too: a type cycle is still two modules that cannot be read apart) and fails
// on an import cycle or on an import that goes up a layer, naming the files.
import { expectEqual, test } from "../../src/selftest/harness.ts";

const root = new URL("../../", import.meta.url);

/** Which src/ folders (or files) a module under `from` must not import, and why. */
export const FORBIDDEN: { from: string; not: string[]; why: string }[] = [
  { from: "src/shape.ts", not: ["src/"], why: "the shape vocabulary imports nothing" },
  { from: "src/gpu/", not: ["src/ops/", "src/model/", "src/vae/", "src/loaders/", "src/io/", "src/sampler/", "src/parallel/", "src/pipeline/", "src/cli/", "src/selftest/"], why: "the runtime is the bottom layer" },
  { from: "src/ops/", not: ["src/model/", "src/vae/", "src/loaders/", "src/io/", "src/sampler/", "src/parallel/", "src/pipeline/", "src/cli/", "src/selftest/"], why: "kernels sit on the runtime only" },
  { from: "src/model/", not: ["src/io/", "src/sampler/", "src/loaders/", "src/parallel/", "src/vae/", "src/pipeline/", "src/cli/", "src/platform/", "src/selftest/"], why: "the model is math over ops: loading is src/loaders, parallelism reaches it through SelfAttention and ShardView" },
  { from: "src/vae/", not: ["src/sampler/", "src/parallel/", "src/pipeline/", "src/cli/", "src/platform/", "src/selftest/", "src/model/"], why: "the VAE decoder is math over ops" },
  { from: "src/io/", not: ["src/gpu/", "src/ops/", "src/model/", "src/vae/", "src/loaders/", "src/sampler/", "src/parallel/", "src/pipeline/", "src/cli/"], why: "bytes and files, no GPU runtime (shapes come from src/shape.ts)" },
  { from: "src/parallel/plan.ts", not: ["src/gpu/", "src/ops/", "src/model/"], why: "shard plans are pure" },
  { from: "src/parallel/vae_plan.ts", not: ["src/gpu/", "src/ops/", "src/model/"], why: "band plans are pure" },
  { from: "src/sampler/", not: ["src/gpu/", "src/ops/", "src/model/", "src/loaders/", "src/parallel/", "src/pipeline/", "src/cli/"], why: "the sampler is arithmetic on arrays" },
  { from: "src/loaders/", not: ["src/parallel/", "src/pipeline/", "src/cli/"], why: "loaders build the model's inputs, below the parallel layer" },
  { from: "src/parallel/", not: ["src/pipeline/", "src/cli/"], why: "parallel is a layer over the model, under the pipeline" },
  { from: "src/pipeline/", not: ["src/cli/"], why: "the CLI is the top" },
];

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']/g;

/** Every src/ module (path relative to the root) and the src/ modules it imports statically. */
export function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const e of Deno.readDirSync(new URL(dir, root))) {
      const path = `${dir}${e.name}`;
      if (e.isDirectory) walk(`${path}/`);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) {
        const text = Deno.readTextFileSync(new URL(path, root));
        const deps = [...text.matchAll(IMPORT)].map((m) => new URL(m[1], new URL(path, root)).href.slice(root.href.length));
        graph.set(path, [...new Set(deps)].sort());
      }
    }
  };
  walk("src/");
  return graph;
}

/** The import cycles of `graph` (strongly connected components of more than one module, or a self-import). */
export function importCycles(graph: Map<string, string[]>): string[][] {
  let counter = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), stack: string[] = [], onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

/** "a imports b: why" for every import FORBIDDEN names. */
export function upwardImports(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  for (const [from, deps] of graph) {
    for (const rule of FORBIDDEN) {
      if (!(from === rule.from || (rule.from.endsWith("/") && from.startsWith(rule.from)))) continue;
      for (const dep of deps) {
        if (rule.not.some((n) => dep === n || (n.endsWith("/") && dep.startsWith(n))) && !(rule.from.endsWith("/") && dep.startsWith(rule.from))) {
          found.push(`${from} imports ${dep} (${rule.why})`);
        }
      }
    }
  }
  return found;
}

test("imports: no cycle among src/ modules", () => {
  expectEqual("import cycles", importCycles(importGraph()).map((c) => c.join(" <-> ")), []);
}, { hosts: ["deno"] });

test("imports: no upward import (src/model free of io, sampler, loaders and parallel; io and parallel/plan free of the GPU runtime)", () => {
  expectEqual("upward imports", upwardImports(importGraph()), []);
}, { hosts: ["deno"] });

test("imports: the checker finds a planted cycle and a planted upward import", () => {
  const graph = new Map([["src/model/a.ts", ["src/model/b.ts", "src/io/x.ts"]], ["src/model/b.ts", ["src/model/a.ts"]], ["src/io/x.ts", []]]);
  expectEqual("planted cycle", importCycles(graph), [["src/model/a.ts", "src/model/b.ts"]]);
  expectEqual("planted upward import", upwardImports(graph).map((s) => s.split(" (")[0]), ["src/model/a.ts imports src/io/x.ts"]);
}, { hosts: ["deno"] });

test("imports: the demo reaches src/ only through the package entry point (src/index.ts)", () => {
  const found: string[] = [];
  for (const e of Deno.readDirSync(new URL("demo/", root))) {
    if (!e.isFile || !e.name.endsWith(".ts")) continue;
    const text = Deno.readTextFileSync(new URL(`demo/${e.name}`, root));
    for (const m of text.matchAll(IMPORT)) if (m[1].startsWith("../src/") && m[1] !== "../src/index.ts") found.push(`demo/${e.name} imports ${m[1]}`);
  }
  expectEqual("demo imports past src/index.ts", found, []);
}, { hosts: ["deno"] });
