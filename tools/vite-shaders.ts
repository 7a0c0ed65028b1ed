// Vite plugin: src/gpu/shaders.gen.ts is served from shaders/*.wgsl on disk (dev server and `vite build`),
// never from the committed file, and an edit, addition or removal of a .wgsl file under shaders/ invalidates
// it and reloads the page. So the demo and the browser tests see a .wgsl edit with no `npm run shaders`.
// Node APIs only (vite.config.ts loads it; test/gpu/shaders.test.ts runs its shadersFromDisk in Deno).
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Plugin, ViteDevServer } from "vite";
import { shaderModuleText } from "./shader-module.ts";

export const SERVED_HEADER = "Served by tools/vite-shaders.ts from shaders/*.wgsl on disk (the committed copy is for bundles and lib/).";

/** shaders/*.wgsl under `root`, by name without ".wgsl". */
function readShaders(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir)) if (name.endsWith(".wgsl")) files[name.slice(0, -5)] = readFileSync(join(dir, name), "utf8");
  return files;
}

export function shadersFromDisk(root: string): Plugin {
  const gen = resolve(root, "src/gpu/shaders.gen.ts");
  const dir = resolve(root, "shaders");
  return {
    name: "shardit-shaders-from-disk",
    enforce: "pre",
    load(id: string) {
      if (resolve(id.split("?")[0]) !== gen) return null;
      return shaderModuleText(readShaders(dir), SERVED_HEADER);
    },
    configureServer(server: ViteDevServer) {
      server.watcher.add(dir);
      const onWgsl = (file: string) => {
        if (!file.endsWith(".wgsl") || !resolve(file).startsWith(dir)) return;
        for (const m of server.moduleGraph.getModulesByFile(gen) ?? []) server.moduleGraph.invalidateModule(m);
        server.ws.send({ type: "full-reload" });
      };
      for (const event of ["change", "add", "unlink"]) server.watcher.on(event, onWgsl);
    },
  };
}
