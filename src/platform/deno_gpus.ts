// Placement of device workers on physical GPUs (Deno on Linux): Mesa's device-select Vulkan layer
// gives a process the GPU whose PCI id is in DRI_PRIME at its first requestAdapter, so each worker
// sets DRI_PRIME before creating its device. In a browser, power preference is the only lever.
// Deno only (Deno.readDirSync over /sys): kept out of the platform-neutral parallel layer; only Deno
// entry points (CLI, benches, tests) import it. The pool passes each worker its DRI_PRIME value.

import { Gpu } from "../gpu/device.ts";
import { createDawnInstance, currentWebGpu } from "./webgpu_deno.ts";

/**
 * Display-class PCI devices (class 0x03xxxx) as DRI_PRIME ids, e.g. "pci-0000_00_06_0", sorted; none where
 * `root` (sysfs' PCI device folder; a test passes a folder of its own) cannot be read.
 */
export function listGpuPciIds(root = "/sys/bus/pci/devices"): string[] {
  const ids: string[] = [];
  let entries: Iterable<{ name: string }>;
  try {
    entries = Deno.readDirSync(root);
  } catch {
    return ids;
  }
  for (const e of entries) {
    try {
      const cls = Deno.readTextFileSync(`${root}/${e.name}/class`).trim();
      if (cls.startsWith("0x03")) ids.push("pci-" + e.name.replace(/[:.]/g, "_"));
    } catch { /* unreadable entry: skip */ }
  }
  return ids.sort();
}

/**
 * Resolves --gpus into one DRI_PRIME value (or none) per device: "auto" spreads devices round-robin
 * over the host's GPUs (`hostGpus`, default this machine's) when it has more than one; a list pins device i
 * to list[i % list.length].
 */
export function placeDevices(spec: string | undefined, devices: number, hostGpus?: readonly string[]): (string | undefined)[] {
  if (!spec) return new Array(devices).fill(undefined);
  const host = hostGpus ?? listGpuPciIds();
  const ids = spec === "auto" ? host : spec.split(",").map((s) => s.trim()).filter(Boolean);
  if (spec !== "auto" && ids.length === 0) throw new Error(`--gpus: no ids in "${spec}"`);
  // Mesa's layer silently falls back to the default GPU for an unknown id: refuse it here instead.
  const unknown = spec === "auto" || host.length === 0 ? [] : ids.filter((id) => !host.includes(id));
  if (unknown.length) throw new Error(`--gpus: ${unknown.join(", ")} is not a GPU of this host (found: ${host.join(", ")})`);
  if (spec === "auto" && ids.length < 2) return new Array(devices).fill(undefined);
  return Array.from({ length: devices }, (_, d) => ids[d % ids.length]);
}

/**
 * Places this process (a device worker) on the GPU with PCI id `id`: Mesa's device-select layer reads
 * DRI_PRIME at the first requestAdapter, so call this before it.
 */
export function useDriPrime(id: string): void {
  Deno.env.set("DRI_PRIME", id);
}

/**
 * One Gpu per entry of `ids` (placeDevices' values) in this thread, for a layer split that runs in one thread (the
 * umT5 encoder; the DiT's devices are a pool's workers instead). An entry with a PCI id gets a Dawn instance of its
 * own, created and asked for its device while DRI_PRIME names that GPU (Mesa's device-select layer puts it first
 * when the instance enumerates its adapters; Dawn takes the first), then DRI_PRIME is put back; an undefined entry
 * gets the process's WebGPU. Placing needs Dawn (Deno's own WebGPU has one instance per thread): otherwise one
 * line. Each placed instance stays until the process ends (dawn.node frees nothing before).
 */
const placedInstances: GPU[] = [];

export async function createPlacedGpus(ids: readonly (string | undefined)[], label: string): Promise<Gpu[]> {
  const impl = currentWebGpu()?.implementation;
  if (ids.some((id) => id !== undefined) && impl !== "dawn") {
    throw new Error(`--gpus: placing ${label}'s ${ids.length} devices on different GPUs needs Dawn (--webgpu dawn); this process uses ${impl ?? "no WebGPU chosen yet"}`);
  }
  const gpus: Gpu[] = [];
  try {
    for (const [i, id] of ids.entries()) {
      const name = `${label} device ${i}${id ? ` (${id})` : ""}`;
      if (id === undefined) {
        gpus.push(await Gpu.create({ label: name }));
        continue;
      }
      const before = Deno.env.get("DRI_PRIME");
      useDriPrime(id);
      try {
        const gpu = await createDawnInstance();
        placedInstances.push(gpu); // referenced for the process's life: a collected instance under live devices crashes dawn.node
        gpus.push(await Gpu.create({ label: name, gpu, implementation: "dawn", quirks: { noSharedWrites: true } }));
      } finally {
        if (before === undefined) Deno.env.delete("DRI_PRIME");
        else Deno.env.set("DRI_PRIME", before);
      }
    }
  } catch (e) {
    for (const g of gpus) g.destroy();
    throw e;
  }
  return gpus;
}
