// --gpus placement: explicit ids pin devices round-robin, auto spreads over the host's GPUs (none when it
// has fewer than two), and ids that are not GPUs of the host are refused when the host's list is known.
// The host is made up here (a sysfs-like folder, literal GPU lists), so every expectation is written out.
import { listGpuPciIds, placeDevices } from "../../src/platform/deno_gpus.ts";
import { expectEqual, expectThrows, test } from "../../src/selftest/harness.ts";

test("gpus: PCI display devices are listed from sysfs as DRI_PRIME ids", () => {
  const root = Deno.makeTempDirSync({ prefix: "shardit-sysfs-" });
  try {
    const device = (name: string, cls?: string) => {
      Deno.mkdirSync(`${root}/${name}`);
      if (cls !== undefined) Deno.writeTextFileSync(`${root}/${name}/class`, cls + "\n");
    };
    device("0000:65:00.0", "0x030200"); // 3D controller (a data-centre GPU)
    device("0000:00:1f.3", "0x040300"); // audio: not a GPU
    device("0000:00:02.0", "0x030000"); // VGA controller
    device("0000:00:14.0"); // no class file: skipped
    expectEqual("listed GPUs", listGpuPciIds(root), ["pci-0000_00_02_0", "pci-0000_65_00_0"]);
    expectEqual("an unreadable root", listGpuPciIds(`${root}/missing`), []);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
}, { hosts: ["deno"] });

test("gpus: --gpus placement of devices on PCI ids", async () => {
  const two = ["pci-0000_00_06_0", "pci-0000_00_07_0"], one = ["pci-0000_00_06_0"];
  const none = [undefined, undefined, undefined];
  expectEqual("no --gpus", placeDevices(undefined, 3, two), none);
  expectEqual("auto over two GPUs", placeDevices("auto", 3, two), ["pci-0000_00_06_0", "pci-0000_00_07_0", "pci-0000_00_06_0"]);
  expectEqual("auto over one GPU", placeDevices("auto", 3, one), none);
  expectEqual("auto on a host with no GPU list", placeDevices("auto", 2, []), [undefined, undefined]);
  expectEqual("explicit ids, round-robin", placeDevices("pci-0000_00_07_0, pci-0000_00_06_0", 3, two), ["pci-0000_00_07_0", "pci-0000_00_06_0", "pci-0000_00_07_0"]);
  expectEqual("explicit ids where the host's list is unknown", placeDevices("pci-0000_00_09_0", 2, []), ["pci-0000_00_09_0", "pci-0000_00_09_0"]);
  await expectThrows("an empty list", () => placeDevices(" , ", 2, two), /^--gpus: no ids in " , "$/);
  await expectThrows("an unknown id", () => placeDevices("pci-0000_00_06_0,pci-0000_ff_1f_7", 2, two),
    /^--gpus: pci-0000_ff_1f_7 is not a GPU of this host \(found: pci-0000_00_06_0, pci-0000_00_07_0\)$/);
}, { hosts: ["deno"] });
