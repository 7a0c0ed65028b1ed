// The folder resolver (src/io/model_folder.ts) through its platform-neutral adapters: a picked File list
// (as <input webkitdirectory> gives it) and an unlistable folder that must be probed (as over HTTP). The
// weights read through it must equal the fixture's, bit for bit. Both hosts.
import { type FolderSource, fileListFolder, openModelFolder, pickModelFolder, pipelineComponent } from "../../src/io/model_folder.ts";
import { bytesSource, type ByteSource, Checkpoint, encodeSafetensors } from "../../src/io/safetensors.ts";
import { openWanFolder, PRESETS, wanConfigJson } from "../../src/loaders/config.ts";
import { test } from "../../src/selftest/harness.ts";
import { fixtureBytes } from "../../src/selftest/fixtures.ts";
import { assert, expectError, expectSame, fixtureCheckpoint } from "./util.ts";

const enc = new TextEncoder();
const configText = JSON.stringify(wanConfigJson(PRESETS["wan-tiny"]));

function picked(path: string, bytes: Uint8Array): File {
  const f = new File([bytes as BlobPart], path.slice(path.lastIndexOf("/") + 1));
  Object.defineProperty(f, "webkitRelativePath", { value: path });
  return f;
}

/** An in-memory folder that cannot be listed, like a URL base: every file must be probed by name. */
function probedFolder(files: Record<string, Uint8Array>, prefix = "mem"): FolderSource & { opened: string[] } {
  const opened: string[] = [];
  const folder = {
    label: prefix,
    context: " (test folder)",
    opened,
    list: () => Promise.resolve(null),
    open(name: string): Promise<ByteSource | null> {
      opened.push(name);
      const b = files[`${name}`];
      return Promise.resolve(b ? bytesSource(`${prefix}/${name}`, b) : null);
    },
    locate: (name: string) => `${prefix}/${name}`,
    sub: (name: string) => probedFolder(Object.fromEntries(Object.entries(files).filter(([k]) => k.startsWith(`${name}/`)).map(([k, v]) => [k.slice(name.length + 1), v])), `${prefix}/${name}`),
  };
  return folder;
}

/** The wan-tiny weights split over two BF16 shards with an index (as large diffusers checkpoints are stored). */
async function shardedTiny(): Promise<{ shards: Record<string, Uint8Array>; index: Uint8Array; ref: Checkpoint }> {
  const ref = await fixtureCheckpoint("wan-tiny");
  const names = ref.names(), files = ["diffusion_pytorch_model-00001-of-00002.safetensors", "diffusion_pytorch_model-00002-of-00002.safetensors"];
  const parts: Record<string, { dtype: "BF16"; shape: number[]; data: Float32Array }>[] = [{}, {}];
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) {
    const p = i < names.length / 2 ? 0 : 1;
    parts[p][names[i]] = { dtype: "BF16", shape: ref.info(names[i]).shape, data: await ref.readF32(names[i]) };
    weightMap[names[i]] = files[p];
  }
  const shards = Object.fromEntries(files.map((f, p) => [f, encodeSafetensors(parts[p])]));
  const memory = await Checkpoint.open(files.map((f) => bytesSource(f, shards[f])));
  return { shards, index: enc.encode(JSON.stringify({ weight_map: weightMap })), ref: memory };
}

test("model folder: a picked pipeline folder resolves to transformer/, and vae/ through the same rules", async () => {
  const weights = await fixtureBytes("wan-tiny", "model.safetensors");
  const vaeLike = encodeSafetensors({ "decoder.conv_in.weight": { dtype: "F32", shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) } });
  const files = [
    picked("Wan-tiny/model_index.json", enc.encode("{}")),
    picked("Wan-tiny/transformer/config.json", enc.encode(configText)),
    picked("Wan-tiny/transformer/diffusion_pytorch_model.safetensors", weights),
    picked("Wan-tiny/vae/config.json", enc.encode(JSON.stringify({ _class_name: "AutoencoderKLWan", z_dim: 16 }))),
    picked("Wan-tiny/vae/diffusion_pytorch_model.safetensors", vaeLike),
  ];
  const folder = pickModelFolder(files);
  assert(folder.label === "Wan-tiny/transformer", `picked ${folder.label}`);
  const { config, checkpoint } = await openWanFolder(folder);
  assert(config.numLayers === PRESETS["wan-tiny"].numLayers, `config ${JSON.stringify(config)}`);
  const ref = await Checkpoint.open([bytesSource("ref", weights)]);
  for (const n of ref.names()) expectSame(n, await checkpoint.readF32(n), await ref.readF32(n));
  // The pipeline root: pipelineComponent descends; vae/ opens with its own config parser.
  const root = fileListFolder(files, "Wan-tiny/");
  assert((await pipelineComponent(root, "transformer")).label === "Wan-tiny/transformer", "transformer component");
  const vae = await openModelFolder(await pipelineComponent(root, "vae"), (json, where) => ({ json, where }));
  assert(vae.config.where === "Wan-tiny/vae/config.json" && (vae.config.json as { z_dim: number }).z_dim === 16, `vae config ${JSON.stringify(vae.config)}`);
  expectSame("vae tensor", await vae.checkpoint.readF32("decoder.conv_in.weight"), [1, 2, 3, 4, 5, 6]);
  await expectError("root is not a model", () => openWanFolder(root), "Wan-tiny: no config.json", "try Wan-tiny/transformer", "it also has vae");
  await expectError("nothing picked", () => pickModelFolder([]), "no folder picked");
  await expectError("no weights", () => pickModelFolder([files[1]]), "no config.json beside .safetensors", "Wan-tiny/transformer/config.json");
});

test("model folder: index + BF16 shards from a File list, and a shard the index names is missing", async () => {
  const { shards, index, ref } = await shardedTiny();
  const files = [
    picked("t/config.json", enc.encode(configText)),
    picked("t/diffusion_pytorch_model.safetensors.index.json", index),
    ...Object.entries(shards).map(([n, b]) => picked(`t/${n}`, b)),
  ];
  const { checkpoint, files: opened } = await openWanFolder(pickModelFolder(files));
  assert(opened.length === 3 && opened[0] === "diffusion_pytorch_model.safetensors.index.json", `opened ${opened}`);
  for (const n of ref.names()) expectSame(n, await checkpoint.readF32(n), await ref.readF32(n));
  await expectError("missing shard", () => openWanFolder(pickModelFolder(files.slice(0, 3))), "t: index diffusion_pytorch_model.safetensors.index.json names", "00002-of-00002");
});

test("model folder: an unlistable folder (HTTP) is probed: index first, then the single-file names", async () => {
  const { shards, index, ref } = await shardedTiny();
  const sharded = probedFolder({ "config.json": enc.encode(configText), "diffusion_pytorch_model.safetensors.index.json": index, ...shards });
  const a = await openWanFolder(sharded);
  for (const n of ref.names()) expectSame(n, await a.checkpoint.readF32(n), await ref.readF32(n));
  const weights = await fixtureBytes("wan-tiny", "model.safetensors");
  const single = probedFolder({ "config.json": enc.encode(configText), "model.safetensors": weights });
  const b = await openWanFolder(single);
  assert(b.files.join() === "model.safetensors", `files ${b.files}`);
  // Both index names and diffusers' single file were probed (absent) before our own name.
  assert(single.opened.includes("diffusion_pytorch_model.safetensors.index.json") && single.opened.includes("diffusion_pytorch_model.safetensors"), `probed ${single.opened}`);
  // The weight file found by probing is the one read (opened once: a download is not repeated).
  assert(single.opened.filter((n) => n === "model.safetensors").length === 1, `model.safetensors opened ${single.opened.filter((n) => n === "model.safetensors").length} times`);
  const noShard = probedFolder({ "config.json": enc.encode(configText), "diffusion_pytorch_model.safetensors.index.json": index });
  await expectError("shard 404", () => openWanFolder(noShard), "mem/diffusion_pytorch_model-00001-of-00002.safetensors: not found", "index diffusion_pytorch_model.safetensors.index.json names it", "(test folder)");
  await expectError("no weights", () => openWanFolder(probedFolder({ "config.json": enc.encode(configText) })), "mem: no diffusion_pytorch_model.safetensors.index.json", "(test folder)");
  await expectError("no config", () => openWanFolder(probedFolder({})), "mem: no config.json", "(test folder)");
  const pipeline = probedFolder({ "transformer/config.json": enc.encode(configText), "transformer/model.safetensors": weights });
  assert((await pipelineComponent(pipeline, "transformer")).label === "mem/transformer", "probed transformer component");
  assert((await pipelineComponent(single, "transformer")).label === "mem", "a plain folder is its own component");
  await expectError("bad index", () => openWanFolder(probedFolder({ "config.json": enc.encode(configText), "model.safetensors.index.json": enc.encode('{"weight_map": {"a": "../x.safetensors"}}') })), "weight_map names \"../x.safetensors\"");
});
