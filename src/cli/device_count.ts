// How many device workers to start when --devices is not given. Workers on one CPU adapter (llvmpipe,
// lavapipe, SwiftShader) share the same cores, so more of them only add exchange and scheduling: on a
// 2-core machine one worker was faster than 2 or 4, in Deno and in a browser tab (issue 19; bench/
// RESULTS.md "Behind the defaults"). Pure (no Deno): the demo uses it too.

/** What the choice reads from the adapter and the host. */
export interface DeviceCountFacts {
  /** GPUAdapterInfo.description, else vendor/architecture/device joined. */
  adapter: string;
  /** GPUAdapterInfo.isFallbackAdapter (true on llvmpipe in Dawn and in Deno's wgpu, and on SwiftShader). */
  fallback: boolean;
  /** navigator.hardwareConcurrency (logical cores). */
  cores: number;
}

/** Fewer logical cores than this gives one device: each worker keeps a core busy polling and encoding. */
export const MIN_CORES_FOR_SEVERAL = 4;

export function isCpuAdapter(f: Pick<DeviceCountFacts, "adapter" | "fallback">): boolean {
  return f.fallback || /llvmpipe|lavapipe|softpipe|swiftshader|\bwarp\b|software/i.test(f.adapter);
}

/** `preferred` devices, or one with the reason when the adapter is a CPU or the host has few cores. */
export function defaultDeviceCount(preferred: number, f: DeviceCountFacts): { devices: number; why?: string } {
  if (preferred <= 1) return { devices: preferred };
  if (isCpuAdapter(f)) {
    return { devices: 1, why: `1 device, not ${preferred}: the adapter (${f.adapter}) is a CPU, and workers on it share its ${f.cores} cores (--devices N overrides)` };
  }
  if (f.cores < MIN_CORES_FOR_SEVERAL) {
    return { devices: 1, why: `1 device, not ${preferred}: this host has ${f.cores} logical cores, and each worker needs one (--devices N overrides)` };
  }
  return { devices: preferred };
}

/** The facts of `adapter` (in Deno or a page) and this host. */
export function deviceCountFacts(adapter: GPUAdapter, cores = globalThis.navigator?.hardwareConcurrency ?? 1): DeviceCountFacts {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const name = info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(" ") || "unknown adapter";
  const fallback = info.isFallbackAdapter ?? (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  return { adapter: name, fallback, cores };
}
