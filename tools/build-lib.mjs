#!/usr/bin/env node
// Builds the package's JavaScript: every src/**/*.ts -> lib/**/*.js, one file per module, same folders
// (so relative URLs such as the pool's worker and Dawn's addon path keep their depth), types stripped by
// oxc (rolldown's transformSync), relative ".ts" specifiers rewritten to ".js". `npm pack` runs it
// (prepack): Deno refuses to strip types under node_modules, and bundlers should not have to, so the
// package ships JavaScript; its types are the TypeScript sources (package.json "types" conditions).
// Usage: node tools/build-lib.mjs [--out DIR]
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { transformSync } from "rolldown/experimental";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const out = args.includes("--out") ? args[args.indexOf("--out") + 1] : join(root, "lib");
const src = join(root, "src");

function* tsFiles(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) yield p;
  }
}

// `new URL("./worker.ts", import.meta.url)` and import("./x.ts"): module URLs the import rewrite does not see.
const RELATIVE_TS_URL = /((?:new URL|import)\(\s*["'`])(\.{1,2}\/[^"'`]*?)\.ts(["'`])/g;

rmSync(out, { recursive: true, force: true });
let count = 0;
const errors = [];
for (const file of tsFiles(src)) {
  const rel = relative(src, file);
  const r = transformSync(file, readFileSync(file, "utf8"), {
    lang: "ts",
    sourceType: "module",
    typescript: { rewriteImportExtensions: "rewrite", onlyRemoveTypeImports: false },
  });
  if (r.errors?.length) errors.push(`${rel}: ${r.errors.map((e) => e.message).join("; ")}`);
  const js = r.code.replace(RELATIVE_TS_URL, "$1$2.js$3");
  const dest = join(out, rel.replace(/\.ts$/, ".js"));
  mkdirSync(dirname(dest), { recursive: true });
  writeFileSync(dest, js);
  count++;
}
if (errors.length) {
  console.error(`build-lib: ${errors.length} file(s) failed to transform:\n${errors.join("\n")}`);
  process.exit(1);
}
console.log(`build-lib: ${count} modules -> ${relative(root, out) || "."}`);
