// Shader sources and their variants through wgsl-preprocessor. Where the text comes from (shaderTable):
//   - Deno in a checkout (test:deno, test:gpu, selftest, the benches, their workers): shaders/*.wgsl read
//     from disk at the first compile, so a .wgsl edit shows in the next run with no `npm run shaders`;
//   - Vite (dev server, `vite build`): src/gpu/shaders.gen.ts served fresh from shaders/ by the plugin in
//     tools/vite-shaders.ts (a .wgsl edit reloads the page);
//   - a single-file bundle (`npm run bundle`, deno bundle -> .gpu/x.js) run from a checkout's root: that
//     checkout's shaders/ too; elsewhere, and in the npm package (lib/), the generated module
//     src/gpu/shaders.gen.ts (`npm run shaders` writes it, `npm run bundle` first, npm test checks it is current).
// In a .wgsl file, `${name}` is a compile-time define: `#if ${f16}` selects a branch, and any other
// `${name}` is replaced by the value (tile sizes, head dim). The `T` alias is f16 or f32 by `f16`.
//
// A line `// @prelude` is replaced by PRELUDE (the element type T by ${f16}, and workgroup_index for a
// 1-D dispatch spread over x and y), so that every shader does not repeat them. A shader may still write
// the same lines itself instead: the directive is opt-in.

// @ts-types="../types/wgsl-preprocessor.d.ts"
import { wgsl } from "wgsl-preprocessor/wgsl-preprocessor.js";
import { SHADERS as EMBEDDED } from "./shaders.gen.ts";

/** The part of Deno's API the disk read uses (this module is platform neutral: Deno may be absent). */
interface DenoFs {
  readDirSync(path: URL): Iterable<{ name: string; isFile: boolean }>;
  readTextFileSync(path: URL): string;
  statSync(path: URL): unknown;
  cwd(): string;
}

/** Whether `url` exists on disk. */
function exists(deno: DenoFs, url: URL): boolean {
  try {
    deno.statSync(url);
    return true;
  } catch {
    return false;
  }
}

/**
 * The checkout whose shaders/ to read, or null: this module's own (run as src/gpu/shaders.ts), else, for
 * a bundle run from a checkout's root (the GPU host's tree), the working directory's.
 */
function checkoutRoot(deno: DenoFs): URL | null {
  const isCheckout = (root: URL) => exists(deno, new URL("shaders/", root)) && exists(deno, new URL("src/gpu/shaders.gen.ts", root));
  if (import.meta.url.startsWith("file:") && import.meta.url.endsWith("/src/gpu/shaders.ts")) {
    const root = new URL("../../", import.meta.url);
    if (isCheckout(root)) return root;
  }
  let cwd: URL;
  try {
    cwd = new URL(`file://${deno.cwd().replace(/\/+$/, "")}/`);
  } catch {
    return null;
  }
  return isCheckout(cwd) ? cwd : null;
}

/** shaders/*.wgsl of `root`, by name without ".wgsl". */
export function readShaderDir(deno: DenoFs, root: URL): Record<string, string> {
  const files: Record<string, string> = {};
  for (const e of deno.readDirSync(new URL("shaders/", root))) {
    if (e.isFile && e.name.endsWith(".wgsl")) files[e.name.slice(0, -5)] = deno.readTextFileSync(new URL(`shaders/${e.name}`, root));
  }
  return files;
}

let table: Record<string, string> | null = null;
/** Where the sources came from: "disk <path>" or "embedded" (src/gpu/shaders.gen.ts). */
export let shaderOrigin = "embedded";

/** The shader sources, read once per process (see the top of this file for where from). */
function shaderTable(): Record<string, string> {
  if (table) return table;
  const deno = (globalThis as { Deno?: DenoFs }).Deno;
  let root: URL | null = null;
  try {
    root = deno ? checkoutRoot(deno) : null;
    if (deno && root) {
      table = readShaderDir(deno, root);
      shaderOrigin = `disk ${new URL("shaders/", root).pathname}`;
      return table;
    }
  } catch (e) {
    // e.g. no read permission: say so once, since the embedded copy may be older than the .wgsl files.
    console.warn(`shaders: could not read ${root ? new URL("shaders/", root).pathname : "shaders/"} (${(e as Error).message}): using src/gpu/shaders.gen.ts, which may be older (npm run shaders)`);
  }
  table = EMBEDDED;
  return table;
}

/**
 * What `// @prelude` expands to: `enable f16` and T = f16 when ${f16} is set, else T = f32; and the
 * linear workgroup id of a dispatch that workgroups1d (src/ops/workgroups.ts) spread over x and y (x < 65535).
 */
const PRELUDE = `#if \${f16}
enable f16;
alias T = f16;
#else
alias T = f32;
#endif

fn workgroup_index(wg: vec3<u32>) -> u32 { return wg.x + wg.y * 65535u; }`;

/** Replaces the `// @prelude` line (one per shader) by PRELUDE. */
function expandPrelude(source: string): string {
  return source.replace(/^\/\/ @prelude[ \t]*$/m, PRELUDE);
}

const INCLUDE = /^[ \t]*\/\/ @include[ \t]+(\w+):(\w+)[ \t]*$/gm;
const SECTION = /^\/\/ @section[ \t]+(\w+)[ \t]*$/;

/**
 * Section `section` of include file `file`: the lines after its `// @section section` line up to the next
 * `// @section` line or the end, without leading and trailing blank lines. An include file starts with
 * its contract (what its includer must define, what each section defines); sections include nothing.
 */
function includeSection(file: string, section: string): string {
  const lines = shaderSource(file).split("\n");
  const start = lines.findIndex((l) => SECTION.exec(l)?.[1] === section);
  if (start < 0) throw new Error(`shader include ${file}:${section}: ${file}.wgsl has no line "// @section ${section}"`);
  let end = start + 1;
  while (end < lines.length && !SECTION.test(lines[end])) end++;
  const text = lines.slice(start + 1, end).join("\n").replace(/^\s*\n/, "").trimEnd();
  if (new RegExp(INCLUDE.source, "m").test(text)) throw new Error(`shader include ${file}:${section} includes another: includes do not nest`);
  return text;
}

/** Replaces every `// @include file:section` line by that section. */
function expandIncludes(source: string): string {
  return source.replace(INCLUDE, (_line, file: string, section: string) => includeSection(file, section));
}

export function shaderSource(op: string): string {
  const shaders = shaderTable();
  const src = shaders[op];
  if (src === undefined) throw new Error(`no shader named ${op} (known: ${Object.keys(shaders).join(", ")})`);
  return src;
}

export function preprocessShader(source: string, defines: Record<string, string | number | boolean>): string {
  const parts = expandPrelude(expandIncludes(source)).split(/\$\{(\w+)\}/);
  const strings: string[] = [];
  const values: unknown[] = [];
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 0) strings.push(parts[i]);
    else {
      const name = parts[i];
      if (name === "f16" && !(name in defines)) values.push(false);
      else if (!(name in defines)) throw new Error(`shader define \${${name}} has no value (given: ${Object.keys(defines).join(", ") || "none"})`);
      else values.push(defines[name]);
    }
  }
  const raw = Object.assign([...strings], { raw: strings }) as unknown as TemplateStringsArray;
  return wgsl(raw, ...values);
}
