// The stale-shader trap, closed: a .wgsl edit reaches the next run without `npm run shaders`. Each case works
// on a scratch copy of the checkout's shader pieces (shaders/*.wgsl with add.wgsl edited, the committed
// src/gpu/shaders.gen.ts left as it was), never on the checkout itself, and runs the real code in a child
// Deno: src/gpu/shaders.ts imported from a checkout, the same module bundled by `deno bundle` and run from a
// checkout's root (the GPU host's way), and the Vite plugin's module (tools/vite-shaders.ts).
import { test } from "../../src/selftest/harness.ts";

const root = new URL("../../", import.meta.url);
const MARKER = "// edited after the last npm run shaders";

/** A scratch checkout: shaders/ (add.wgsl edited), src/gpu/shaders.ts + the committed shaders.gen.ts, tools/. */
function scratchCheckout(): string {
  const dir = Deno.makeTempDirSync({ prefix: "shardit-shaders-" });
  for (const sub of ["shaders", "src/gpu", "src/types", "tools"]) Deno.mkdirSync(`${dir}/${sub}`, { recursive: true });
  for (const e of Deno.readDirSync(new URL("shaders/", root))) {
    if (e.name.endsWith(".wgsl")) Deno.copyFileSync(new URL(`shaders/${e.name}`, root), `${dir}/shaders/${e.name}`);
  }
  Deno.writeTextFileSync(`${dir}/shaders/add.wgsl`, `${MARKER}\n${Deno.readTextFileSync(`${dir}/shaders/add.wgsl`)}`);
  for (const f of ["src/gpu/shaders.ts", "src/gpu/shaders.gen.ts", "src/types/wgsl-preprocessor.d.ts", "tools/vite-shaders.ts", "tools/shader-module.ts", "deno.json", "package.json"]) {
    Deno.copyFileSync(new URL(f, root), `${dir}/${f}`);
  }
  Deno.symlinkSync(new URL("node_modules", root).pathname, `${dir}/node_modules`);
  if (Deno.readTextFileSync(`${dir}/src/gpu/shaders.gen.ts`).includes(MARKER)) throw new Error("precondition: the generated module already has the edit");
  return dir;
}

async function deno(cwd: string, ...args: string[]): Promise<string> {
  const r = await new Deno.Command(Deno.execPath(), { args, cwd, stdout: "piped", stderr: "piped" }).output();
  const out = new TextDecoder().decode(r.stdout), err = new TextDecoder().decode(r.stderr);
  if (r.code !== 0) throw new Error(`deno ${args.join(" ")} exited ${r.code}: ${err.slice(-600)}`);
  return out;
}

// The child prints whether the compiled text of `add` (includes and prelude expanded) carries the edit (its
// first argument: not a literal of the probe, so that a bundle holds the marker only if it embeds the edit).
const PROBE = `import { preprocessShader, shaderSource, shaderOrigin } from "./src/gpu/shaders.ts";
const text = preprocessShader(shaderSource("add"), {});
console.log(JSON.stringify({ edited: text.includes(Deno.args[0]), origin: shaderOrigin }));`;

function expectEdited(what: string, out: string): void {
  const r = JSON.parse(out.trim().split("\n").pop()!);
  if (!r.edited) throw new Error(`${what}: the compiled add shader lacks the .wgsl edit (sources from ${r.origin})`);
}

/** Runs `fn` on a fresh scratch checkout, removed afterwards whatever happens. */
async function inScratch(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = scratchCheckout();
  try {
    await fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

test("shaders: a .wgsl edit shows in the next Deno run from a checkout, without npm run shaders", () => inScratch(async (dir) => {
  Deno.writeTextFileSync(`${dir}/probe.ts`, PROBE);
  expectEdited("deno run probe.ts", await deno(dir, "run", "-A", "probe.ts", MARKER));
}), { hosts: ["deno"] });

test("shaders: a deno bundle run from a checkout's root reads that checkout's .wgsl files", () => inScratch(async (dir) => {
  Deno.writeTextFileSync(`${dir}/probe.ts`, PROBE);
  Deno.mkdirSync(`${dir}/.gpu`);
  await deno(dir, "bundle", "--quiet", "probe.ts", "-o", ".gpu/probe.js");
  // The bundle carries the stale generated text; run from the checkout's root it must still see the edit.
  if (Deno.readTextFileSync(`${dir}/.gpu/probe.js`).includes(MARKER)) throw new Error("precondition: the bundle already embeds the edit");
  expectEdited("deno run .gpu/probe.js", await deno(dir, "run", "-A", ".gpu/probe.js", MARKER));
}), { hosts: ["deno"] });

test("shaders: Vite's module src/gpu/shaders.gen.ts is served from shaders/ on disk (tools/vite-shaders.ts)", () => inScratch(async (dir) => {
  Deno.writeTextFileSync(`${dir}/vite_probe.ts`, `import { shadersFromDisk } from "./tools/vite-shaders.ts";
const plugin = shadersFromDisk(Deno.cwd());
const text = (plugin.load as (id: string) => string | null)(Deno.cwd() + "/src/gpu/shaders.gen.ts?import");
console.log(JSON.stringify({ edited: text?.includes(${JSON.stringify(MARKER)}) ?? false, origin: "vite plugin" }));`);
  expectEdited("vite plugin load", await deno(dir, "run", "-A", "vite_probe.ts"));
}), { hosts: ["deno"] });
