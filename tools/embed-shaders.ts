// Writes src/gpu/shaders.gen.ts from shaders/*.wgsl (`npm run shaders`). The generated module is what a
// single-file bundle (`npm run bundle`, which runs this first) and the npm package (lib/) read; a checkout
// run by Deno reads shaders/ from disk instead (src/gpu/shaders.ts) and Vite serves the module fresh from
// disk (tools/vite-shaders.ts), so a .wgsl edit needs no manual step there.
// `--check` exits non-zero instead of writing when the file is out of date: npm test (test/run-all.mjs) runs it.
import { shaderModuleText } from "./shader-module.ts";

const root = new URL("../", import.meta.url);
export function renderShaderModule(): string {
  const files: Record<string, string> = {};
  for (const e of Deno.readDirSync(new URL("shaders/", root))) {
    if (e.isFile && e.name.endsWith(".wgsl")) files[e.name.slice(0, -5)] = Deno.readTextFileSync(new URL(`shaders/${e.name}`, root));
  }
  return shaderModuleText(files);
}

if (import.meta.main) {
  const target = new URL("src/gpu/shaders.gen.ts", root);
  const text = renderShaderModule();
  let old = "";
  try { old = Deno.readTextFileSync(target); } catch { /* first run */ }
  if (Deno.args.includes("--check")) {
    if (old !== text) { console.error("src/gpu/shaders.gen.ts is stale: run npm run shaders"); Deno.exit(1); }
  } else if (old !== text) {
    Deno.writeTextFileSync(target, text);
    console.log(`wrote src/gpu/shaders.gen.ts`);
  }
}
