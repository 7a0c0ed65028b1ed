// What this browser offers the demo, checked once at start-up: WebGPU (an adapter), shader-f16, and
// cross-origin isolation (SharedArrayBuffer, which the sharded gather needs). Never throws: each
// missing piece becomes a message for the page.

export interface DemoEnv {
  webgpu: boolean;
  adapter: string;
  /** GPUAdapterInfo.isFallbackAdapter (SwiftShader, a CPU): the default worker count is then 1. */
  fallback: boolean;
  f16: boolean;
  isolated: boolean;
  /** One line per blocking problem (the demo cannot run at all while any is present). */
  problems: string[];
}

export async function probeEnv(): Promise<DemoEnv> {
  const problems: string[] = [];
  const isolated = self.crossOriginIsolated === true && typeof SharedArrayBuffer !== "undefined";
  if (!isolated) {
    problems.push(
      "This page is not cross-origin isolated, so SharedArrayBuffer is missing and the devices cannot share tokens. " +
        "Serve it with the headers Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp (npm run dev / npm run preview do).",
    );
  }
  let webgpu = false, adapter = "", f16 = false, fallback = false;
  if (!("gpu" in navigator) || !navigator.gpu) {
    problems.push("WebGPU is not available in this browser (navigator.gpu is missing). Use a recent Chrome or Edge, or Firefox/Safari with WebGPU enabled, over https or localhost.");
  } else {
    try {
      const a = await navigator.gpu.requestAdapter();
      if (!a) problems.push("WebGPU is present but no GPU adapter was found (requestAdapter returned null): the GPU may be blocklisted or disabled.");
      else {
        webgpu = true;
        f16 = a.features.has("shader-f16");
        const info = a.info;
        adapter = [info?.vendor, info?.architecture, info?.description].filter((s) => s).join(" ") || "unknown adapter";
        fallback = (info as GPUAdapterInfo & { isFallbackAdapter?: boolean })?.isFallbackAdapter ?? (a as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
      }
    } catch (e) {
      problems.push(`WebGPU requestAdapter failed: ${(e as Error).message}`);
    }
  }
  return { webgpu, adapter, fallback, f16, isolated, problems };
}
