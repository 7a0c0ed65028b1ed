// Shader sources (embedded from shaders/*.wgsl by tools/embed-shaders.ts, so Deno, Vite, workers and
// single-file bundles all see the same text) and their variants through wgsl-preprocessor.
// In a .wgsl file, `${name}` is a compile-time define: `#if ${f16}` selects a branch, and any other
// `${name}` is replaced by the value (tile sizes, head dim). The `T` alias is f16 or f32 by `f16`.
//
// A line `// @prelude` is replaced by PRELUDE (the element type T by ${f16}, and workgroup_index for a
// 1-D dispatch spread over x and y), so that every shader does not repeat them. A shader may still write
// the same lines itself instead: the directive is opt-in.

// @ts-types="../types/wgsl-preprocessor.d.ts"
import { wgsl } from "wgsl-preprocessor/wgsl-preprocessor.js";
import { SHADERS } from "./shaders.gen.ts";

/**
 * What `// @prelude` expands to: `enable f16` and T = f16 when ${f16} is set, else T = f32; and the
 * linear workgroup id of a dispatch that grid1d (src/ops/grid.ts) spread over x and y (x < 65535).
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
  const src = SHADERS[op];
  if (src === undefined) throw new Error(`no shader named ${op} (known: ${Object.keys(SHADERS).join(", ")})`);
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
