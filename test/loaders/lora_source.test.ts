// Where --lora finds its file (src/loaders/lora_source.ts): a local path first (Deno), then an http(s) URL
// (the folder above it through the platform's cache, the file by name), then a Hub file
// owner/name[@revision]/path; anything else is one line saying which forms are accepted. A fake platform
// records what was asked, so no network is touched.
import type { HubRepo } from "../../src/io/hub.ts";
import type { FolderSource } from "../../src/io/model_folder.ts";
import { bytesSource } from "../../src/io/safetensors.ts";
import { loraBytes, type LoraPlatform, parseHubFile } from "../../src/loaders/lora_source.ts";
import { expectEqual, expectThrows, test } from "../../src/selftest/harness.ts";

function fakeFolder(where: string, asked: string[], present: Set<string>): FolderSource {
  return {
    label: where,
    context: ` (${where})`,
    list: () => Promise.resolve(null),
    open: (name) => {
      asked.push(`${where}|${name}`);
      return Promise.resolve(present.has(`${where}|${name}`) ? bytesSource(`${where}${name}`, new Uint8Array(8)) : null);
    },
    locate: (name) => `${where}${name}`,
    sub: (name) => fakeFolder(`${where}${name}/`, asked, present),
  };
}

function fakePlatform(present: string[], local: string[] = []): { platform: LoraPlatform; asked: string[] } {
  const asked: string[] = [];
  const set = new Set(present);
  return {
    asked,
    platform: {
      urlFolder: (base) => fakeFolder(`url:${base}`, asked, set),
      hubFolder: (repo: HubRepo) => fakeFolder(`hub:${repo.id}@${repo.revision}/`, asked, set),
      localFile: (path) => Promise.resolve(local.includes(path) ? bytesSource(path, new Uint8Array(8)) : null),
    },
  };
}

test("lora source: local path, URL, Hub file (with revision and subfolders), and the errors", async () => {
  let f = fakePlatform([], ["my.safetensors"]);
  expectEqual("local", (await loraBytes("my.safetensors", f.platform)).name, "my.safetensors");
  expectEqual("local asks no folder", f.asked, []);

  f = fakePlatform(["url:https://host/a/b/|x y.safetensors"]);
  expectEqual("url", (await loraBytes("https://host/a/b/x%20y.safetensors", f.platform)).name, "url:https://host/a/b/x y.safetensors");

  f = fakePlatform(["hub:lightx2v/Wan2.1-Distill-Loras@main/|wan2.1_t2v_14b_lora_rank64_lightx2v_4step.safetensors"]);
  await loraBytes("lightx2v/Wan2.1-Distill-Loras/wan2.1_t2v_14b_lora_rank64_lightx2v_4step.safetensors", f.platform);
  f = fakePlatform(["hub:Kijai/WanVideo_comfy@abc123/Lightx2v/|lora.safetensors"]);
  await loraBytes("Kijai/WanVideo_comfy@abc123/Lightx2v/lora.safetensors", f.platform);
  expectEqual("hub with revision and folder", f.asked, ["hub:Kijai/WanVideo_comfy@abc123/Lightx2v/|lora.safetensors"]);

  await expectThrows("404", () => loraBytes("owner/repo/missing.safetensors", fakePlatform([]).platform), /hub:owner\/repo@main\/missing\.safetensors: not found \(HTTP 404\) \(hub:owner\/repo@main\/\): check the LoRA Hub file owner\/repo\/missing\.safetensors/);
  await expectThrows("neither", () => loraBytes("nothing.safetensors", fakePlatform([]).platform), /^--lora nothing\.safetensors: no such file, and not an http\(s\) URL or a Hub file \(owner\/name\[@revision\]\/path\/file\.safetensors\)$/);
  expectEqual("not a hub file: no .safetensors", parseHubFile("owner/name/file.bin"), null);
  expectEqual("not a hub file: '..'", parseHubFile("owner/name/../x.safetensors"), null);
});
