// Is this adapter a slow fallback? Deno's WebGPU (wgpu) falls back to its OpenGL backend when no Vulkan
// driver is installed (on Linux: no mesa-vulkan-drivers, or no NVIDIA Vulkan ICD). It works, but every
// pipeline then goes WGSL -> GLSL -> the GL driver's compiler, and the first run of a model spends minutes
// compiling shaders, which looks like a hang. We say so once, with the fix.
//
// How to tell: Deno's GPUAdapterInfo has no backend field (vendor "65541", device "0" and the description
// "llvmpipe (LLVM 15.0.6, 256 bits)" are the same under Vulkan's lavapipe and GL's llvmpipe), but the GL
// backend cannot query subgroup sizes and reports wgpu's placeholder bounds 4..128, where Vulkan reports
// the device's (8..8 on lavapipe, 32..32 on NVIDIA); and GL reports maxBindingsPerBindGroup as u32::MAX and
// exposes the GLES texture formats (ETC2). Both were measured on this machine's llvmpipe with
// DENO_WEBGPU_BACKEND=gl against the default (test/io/adapter_check.test.ts keeps those samples).

/** What the check reads: GPUAdapterInfo's fields (Deno adds subgroup sizes), the feature names, one limit. */
export interface AdapterFacts {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  features: readonly string[];
  maxBindingsPerBindGroup?: number;
}

/** wgpu's MINIMUM_SUBGROUP_MIN_SIZE / MAXIMUM_SUBGROUP_MAX_SIZE: what a backend that cannot query them reports. */
const PLACEHOLDER_SUBGROUPS = [4, 128];
const U32_MAX = 4294967295;

export const VULKAN_FIX = "sudo apt install mesa-vulkan-drivers (Vulkan for Intel, AMD and the CPU; for an NVIDIA GPU, its driver's Vulkan ICD), then check with vulkaninfo --summary";

export function adapterFacts(adapter: GPUAdapter): AdapterFacts {
  const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  return {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
    features: [...adapter.features],
    maxBindingsPerBindGroup: adapter.limits.maxBindingsPerBindGroup,
  };
}

/** One line saying the adapter is wgpu's OpenGL fallback and how to fix it, or null when it is not. */
export function slowAdapterWarning(f: AdapterFacts): string | null {
  const placeholderSubgroups = f.subgroupMinSize === PLACEHOLDER_SUBGROUPS[0] && f.subgroupMaxSize === PLACEHOLDER_SUBGROUPS[1];
  const glLimits = f.maxBindingsPerBindGroup === U32_MAX || f.features.includes("texture-compression-etc2");
  if (!(placeholderSubgroups && glLimits)) return null;
  const name = f.description || [f.vendor, f.architecture, f.device].filter(Boolean).join(" ") || "unknown adapter";
  const cpu = /llvmpipe|softpipe|swiftshader/i.test(name) ? ", the CPU rasterizer" : "";
  return `WebGPU is running on wgpu's OpenGL fallback (${name}${cpu}) because no Vulkan driver was found: the first run compiles every shader through GL and can take minutes. Fix: ${VULKAN_FIX}`;
}

let warned = false;

/** Prints slowAdapterWarning for `gpu`'s default adapter to stderr, once per process; never throws. */
export async function warnIfSlowAdapter(gpu: GPU | undefined = globalThis.navigator?.gpu, print: (line: string) => void = (l) => console.error(`shardit: ${l}`)): Promise<void> {
  if (warned || !gpu) return;
  warned = true;
  try {
    const adapter = await gpu.requestAdapter();
    const line = adapter ? slowAdapterWarning(adapterFacts(adapter)) : null;
    if (line) print(line);
  } catch {
    // No adapter: the device layer reports that, loudly, when the workers start.
  }
}
