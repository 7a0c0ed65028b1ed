// --gpus placement: explicit ids pin devices round-robin, auto spreads over the host's GPUs (none when it
// has fewer than two), and ids that are not GPUs of this host are refused when the host's list is known.
import { listGpuPciIds, placeDevices } from "../../src/parallel/gpus.ts";
import { test } from "../harness.ts";

test("gpus: --gpus placement of devices on PCI ids", () => {
  const host = listGpuPciIds();
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(placeDevices(undefined, 3), [undefined, undefined, undefined])) throw new Error("no --gpus must leave placement to the runtime");
  const auto = placeDevices("auto", 3);
  const expectAuto = host.length < 2 ? [undefined, undefined, undefined] : [0, 1, 2].map((d) => host[d % host.length]);
  if (!same(auto, expectAuto)) throw new Error(`auto on host ${host}: got ${auto}`);
  const ids = host.length ? [host[0], host[host.length - 1]] : ["pci-0000_00_06_0", "pci-0000_00_07_0"];
  if (!same(placeDevices(ids.join(","), 3), [ids[0], ids[1], ids[0]])) throw new Error("explicit ids must be used round-robin");
  let message = "";
  try {
    placeDevices(" , ", 2);
  } catch (e) {
    message = (e as Error).message;
  }
  if (!/no ids/.test(message)) throw new Error(`an empty --gpus list must be an error, got "${message}"`);
  if (host.length) {
    try {
      placeDevices("pci-0000_ff_1f_7", 1);
      throw new Error("an unknown id was accepted");
    } catch (e) {
      if (!/not a GPU of this host/.test((e as Error).message)) throw e;
    }
  }
}, { hosts: ["deno"] });
