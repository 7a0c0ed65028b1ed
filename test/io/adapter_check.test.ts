// The slow-adapter check (src/gpu/adapter_check.ts) on adapter descriptions captured from real runs: wgpu's
// OpenGL fallback must be named, with the fix; Vulkan adapters (lavapipe, the H200) must pass silently.
// The samples are pure CPU, both hosts (listed with the io tests); the CLI check runs in Deno.
import { type AdapterFacts, adapterFacts, slowAdapterWarning } from "../../src/gpu/adapter_check.ts";
import { test } from "../../src/selftest/harness.ts";
import { assert } from "./util.ts";

// Deno 2.9.6 on this machine's llvmpipe, default backend (Vulkan, lavapipe): adapter.info, features, limits.
const LAVAPIPE_VULKAN: AdapterFacts = {
  vendor: "65541", architecture: "", device: "0", description: "llvmpipe (LLVM 15.0.6, 256 bits)",
  subgroupMinSize: 8, subgroupMaxSize: 8, maxBindingsPerBindGroup: 1024,
  features: ["bgra8unorm-storage","clip-distances","depth-clip-control","depth32float-stencil8","dual-source-blending","float32-blendable","float32-filterable","immediates","indirect-first-instance","primitive-index","rg11b10ufloat-renderable","shader-f16","texture-compression-bc","texture-compression-bc-sliced-3d","timestamp-query"],
};
// The same machine with DENO_WEBGPU_BACKEND=gl (what wgpu falls back to without a Vulkan driver).
const LLVMPIPE_GL: AdapterFacts = {
  vendor: "65541", architecture: "", device: "0", description: "llvmpipe (LLVM 15.0.6, 256 bits)",
  subgroupMinSize: 4, subgroupMaxSize: 128, maxBindingsPerBindGroup: 4294967295,
  features: ["clip-distances","depth-clip-control","depth32float-stencil8","dual-source-blending","immediates","indirect-first-instance","primitive-index","texture-compression-astc","texture-compression-astc-sliced-3d","texture-compression-bc","texture-compression-bc-sliced-3d","texture-compression-etc2","timestamp-query"],
};
// The H200 host (vendor, description from bench/results/exchange_h200.json; subgroup size 32 and the
// features from shared/gpu/README.md).
const H200_VULKAN: AdapterFacts = {
  vendor: "4318", architecture: "", device: "", description: "NVIDIA H200",
  subgroupMinSize: 32, subgroupMaxSize: 32, maxBindingsPerBindGroup: 1000, // wgpu's Vulkan default; not recorded there
  features: ["shader-f16", "subgroups", "timestamp-query"],
};

test("adapter check: wgpu's OpenGL fallback is named with the fix; Vulkan adapters pass", () => {
  const gl = slowAdapterWarning(LLVMPIPE_GL);
  assert(gl !== null, "the GL fallback was not detected");
  for (const part of ["OpenGL", "llvmpipe (LLVM 15.0.6, 256 bits)", "the CPU rasterizer", "minutes", "apt install mesa-vulkan-drivers"]) {
    assert(gl.includes(part), `warning lacks "${part}": ${gl}`);
  }
  assert(!gl.includes("\n"), "one line");
  assert(slowAdapterWarning(LAVAPIPE_VULKAN) === null, "lavapipe (Vulkan) flagged as slow");
  assert(slowAdapterWarning(H200_VULKAN) === null, "the H200 (Vulkan) flagged as slow");
  // Either GL-only limit corroborates the placeholder subgroup sizes; neither alone decides.
  assert(slowAdapterWarning({ ...LLVMPIPE_GL, maxBindingsPerBindGroup: 1024 }) !== null, "GL without the u32::MAX limit (ETC2 still there)");
  assert(slowAdapterWarning({ ...LLVMPIPE_GL, features: LAVAPIPE_VULKAN.features }) !== null, "GL without ETC2 (the u32::MAX limit still there)");
  assert(slowAdapterWarning({ ...LLVMPIPE_GL, features: LAVAPIPE_VULKAN.features, maxBindingsPerBindGroup: 1024 }) === null, "placeholder subgroup sizes alone");
  assert(slowAdapterWarning({ ...LLVMPIPE_GL, subgroupMinSize: undefined, subgroupMaxSize: undefined }) === null, "no subgroup sizes (a browser)");
  const gpu = slowAdapterWarning({ ...LLVMPIPE_GL, description: "NVIDIA GeForce RTX 3060/PCIe/SSE2" });
  assert(gpu !== null && !gpu.includes("CPU rasterizer") && gpu.includes("NVIDIA GeForce RTX 3060"), `a real GPU on GL: ${gpu}`);
});

test("adapter check: the CLI says it once on a real GL adapter (DENO_WEBGPU_BACKEND=gl) and not on Vulkan", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const run = async (env: Record<string, string>) => {
    const r = await new Deno.Command("node", {
      args: [`${root}bin/shardit.cjs`, "selftest", "--webgpu", "deno", "--filter", "no test has this name"],
      env, cwd: root, stdout: "piped", stderr: "piped",
    }).output();
    if (r.code !== 0) throw new Error(`selftest exited ${r.code}: ${new TextDecoder().decode(r.stderr)}`);
    return new TextDecoder().decode(r.stderr).split("\n").filter((l) => l.includes("OpenGL fallback"));
  };
  const gl = await run({ DENO_WEBGPU_BACKEND: "gl" });
  assert(gl.length === 1 && gl[0].includes("apt install mesa-vulkan-drivers"), `GL: ${gl.length} warnings: ${gl.join(" | ")}`);
  // Without the override the default backend runs: Vulkan where a driver is installed (silent), else GL.
  const adapter = await navigator.gpu.requestAdapter();
  const defaultIsGl = adapter !== null && slowAdapterWarning(adapterFacts(adapter)) !== null;
  const plain = await run({});
  assert(plain.length === (defaultIsGl ? 1 : 0), `default backend (${defaultIsGl ? "GL" : "Vulkan"} here): ${plain.length} warnings: ${plain.join(" | ")}`);
}, { hosts: ["deno"], timeoutMs: 60_000 });
