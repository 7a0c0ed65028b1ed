// Vite serves the demo (demo/index.html) and the browser test page (test/browser/index.html).
// Cross-origin isolation (COOP same-origin + COEP require-corp) on both the dev server and preview,
// because SharedArrayBuffer (the sharded gather) exists only in isolated pages. Workers are ES modules.
// The root URL / redirects to the demo (/demo/), on the dev server and on `vite preview` alike.
// Shaders: src/gpu/shaders.gen.ts is served from shaders/*.wgsl on disk (tools/vite-shaders.ts), so a .wgsl
// edit reloads the page with the new text and `vite build` bundles the current text.
import { type Connect, defineConfig, type Plugin } from "vite";
import { fileURLToPath } from "node:url";
import { shadersFromDisk } from "./tools/vite-shaders.ts";

const isolation = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

/** `/` -> 302 /demo/ (a redirect, not a rewrite: the demo's relative URLs resolve against /demo/). */
const rootToDemo: Connect.NextHandleFunction = (req, res, next) => {
  if (req.url !== "/" && !req.url?.startsWith("/?")) return next();
  res.statusCode = 302;
  res.setHeader("Location", `/demo/${req.url.slice(1)}`);
  for (const [k, v] of Object.entries(isolation)) res.setHeader(k, v);
  res.end();
};
const demoAtRoot: Plugin = {
  name: "shardit-demo-at-root",
  configureServer: (server) => void server.middlewares.use(rootToDemo),
  configurePreviewServer: (server) => void server.middlewares.use(rootToDemo),
};

/**
 * `vite build` (the demo): src/index.ts's selftest() imports the kernel checks on use, and their fixtures.ts
 * names test/fixtures/ by a `new URL(template, import.meta.url)` that Vite turns into a glob, emitting ~14 MB
 * of fixtures even though the demo never calls selftest() and the code is shaken out. The built demo gets an
 * empty module in its place (the dev server and the browser test page keep the real one).
 */
const demoWithoutSelftest: Plugin = {
  name: "shardit-demo-without-selftest",
  apply: "build",
  enforce: "pre",
  resolveId: (id, importer) => (id === "./selftest/kernels/index.ts" && importer?.endsWith("/src/index.ts") ? "\0shardit-no-selftest" : null),
  load: (id) => (id === "\0shardit-no-selftest" ? "export {};" : null),
};

export default defineConfig({
  plugins: [demoAtRoot, demoWithoutSelftest, shadersFromDisk(fileURLToPath(new URL(".", import.meta.url)))],
  server: { headers: isolation, host: "127.0.0.1" },
  preview: { headers: isolation, host: "127.0.0.1" },
  worker: { format: "es" },
  // Pre-bundle up front: a dependency discovered mid-run makes the dev server reload the page.
  optimizeDeps: { entries: ["test/browser/index.html", "demo/index.html"], include: ["wgsl-preprocessor/wgsl-preprocessor.js", "gifenc/dist/gifenc.esm.js", "upng-js", "omggif", "webm-muxer"] },
  // `npm run build` ships the demo only: the browser test page (served by the dev server in
  // test/run-browser.mjs) pulled README.md, ARCHITECTURE.md, package-lock.json and ~14 MB of fixtures into dist/.
  build: {
    target: "es2022",
    rollupOptions: { input: { demo: "demo/index.html" } },
  },
});
