// Launches the system Chromium (never a downloaded one) with WebGPU enabled, for Playwright suites.
import { chromium } from "playwright-core";

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  // WebGPU on a machine without a GPU: Dawn's Vulkan backend over SwiftShader.
  "--enable-features=Vulkan",
  "--use-vulkan=swiftshader",
  "--use-webgpu-adapter=swiftshader",
  "--disable-vulkan-surface",
];

export async function launchChromium() {
  const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
  return await chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/** Starts a Vite server (dev by default) on a free port; returns its base URL and a close function. */
export async function startVite({ preview = false } = {}) {
  const vite = await import("vite");
  if (preview) {
    const server = await vite.preview({ preview: { port: 0, host: "127.0.0.1" }, logLevel: "error" });
    return { url: server.resolvedUrls.local[0], close: () => server.close() };
  }
  // No file watching: a test run must not reload its page when a source file changes under it.
  const server = await vite.createServer({ server: { port: 0, host: "127.0.0.1", hmr: false, watch: null }, logLevel: "error" });
  await server.listen();
  return { url: server.resolvedUrls.local[0], close: () => server.close() };
}
