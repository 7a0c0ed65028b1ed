// --devices when not given: `preferred`, or one device on a CPU adapter or a host with few cores
// (device_count.ts), with the reason (the command prints it beside its run's header line).
import { currentWebGpu } from "../platform/webgpu_deno.ts";
import { defaultDeviceCount, deviceCountFacts } from "./device_count.ts";
import { int, type Parsed } from "./args.ts";

export async function devicesFlag(p: Parsed, preferred: number): Promise<{ devices: number; why?: string }> {
  if (p.flags.has("devices")) return { devices: int(p, "devices", preferred) };
  // --weights w1,...,wN without --devices: N devices (the speeds name them).
  const w = p.flags.get("weights");
  if (typeof w === "string" && w.split(",").length > 1) return { devices: w.split(",").length };
  if (preferred <= 1) return { devices: preferred };
  const gpu = currentWebGpu()?.gpu ?? globalThis.navigator?.gpu;
  const adapter = await gpu?.requestAdapter().catch(() => null);
  if (!adapter) return { devices: preferred }; // the pool says loudly that there is no adapter
  return defaultDeviceCount(preferred, deviceCountFacts(adapter));
}
