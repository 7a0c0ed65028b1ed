// Vite serves the demo (demo/index.html) and the browser test page (test/browser/index.html).
// Cross-origin isolation (COOP same-origin + COEP require-corp) on both the dev server and preview,
// because SharedArrayBuffer (the sharded gather) exists only in isolated pages. Workers are ES modules.
import { defineConfig } from "vite";

const isolation = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

export default defineConfig({
  server: { headers: isolation, host: "127.0.0.1" },
  preview: { headers: isolation, host: "127.0.0.1" },
  worker: { format: "es" },
  // Pre-bundle up front: a dependency discovered mid-run makes the dev server reload the page.
  optimizeDeps: { entries: ["test/browser/index.html", "demo/index.html"], include: ["wgsl-preprocessor/wgsl-preprocessor.js", "gifenc/dist/gifenc.esm.js", "upng-js", "omggif"] },
  build: {
    target: "es2022",
    rollupOptions: { input: { demo: "demo/index.html", tests: "test/browser/index.html" } },
  },
});
