// Deno-only: checkpoint folders on disk (one file, index + shards, malformed folders), file sources,
// and urlSource's Range path against local HTTP servers (one honouring Range, one ignoring it).
import { bytesSource, Checkpoint, encodeSafetensors, urlSource } from "../../src/io/safetensors.ts";
import { openWanFolder, PRESETS, wanConfigJson } from "../../src/loaders/config.ts";
import { loadWanWeights } from "../../src/loaders/checkpoint.ts";
import { syntheticWeights } from "../../src/loaders/synthetic.ts";
import { test } from "../../src/selftest/harness.ts";
import { fixtureBytes } from "../../src/selftest/fixtures.ts";
import { assert, expectError, expectSame, fixtureCheckpoint } from "./util.ts";

const deno = { hosts: ["deno" as const] };

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "shardit-io-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

test("fs_deno: denoFileSource reads like memory", () =>
  withTempDir(async (dir) => {
    const { denoFileSource } = await import("../../src/io/fs_deno.ts");
    const bytes = await fixtureBytes("wan-small", "model.safetensors");
    await Deno.writeFile(`${dir}/m.safetensors`, bytes);
    const src = await denoFileSource(`${dir}/m.safetensors`);
    try {
      const ck = await Checkpoint.open([src]);
      const ref = await Checkpoint.open([bytesSource("mem", bytes)]);
      // Concurrent reads share one handle: they must not interleave seeks.
      const all = await ck.readAllF32(undefined, undefined, 8);
      for (const n of ref.names()) expectSame(n, all.get(n)!, await ref.readF32(n));
      await expectError("read past end", () => src.read(bytes.length - 2, 4), "m.safetensors", "outside");
    } finally {
      src.close?.();
    }
    await expectError("missing file", () => denoFileSource(`${dir}/nope.safetensors`), "nope.safetensors");
  }), deno);

test("fs_deno: model folders (one file; index + shards) and malformed folders", () =>
  withTempDir(async (dir) => {
    const { openCheckpointDir, denoFolder } = await import("../../src/io/fs_deno.ts");
    const openModelDir = (d: string) => openWanFolder(denoFolder(d));
    const cfg = PRESETS["wan-tiny"];
    const ref = await fixtureCheckpoint("wan-tiny");
    const cfgText = JSON.stringify(wanConfigJson(cfg));
    // One file.
    await Deno.mkdir(`${dir}/one`);
    await Deno.writeTextFile(`${dir}/one/config.json`, cfgText);
    await Deno.writeFile(`${dir}/one/diffusion_pytorch_model.safetensors`, await fixtureBytes("wan-tiny", "model.safetensors"));
    const one = await openModelDir(`${dir}/one`);
    const w = await loadWanWeights(one.checkpoint, one.config);
    one.checkpoint.close();
    expectSame("one-file patch embedding", w.patchEmbedding.weight, syntheticWeights(cfg).patchEmbedding.weight);
    // Index + two shards, in BF16.
    await Deno.mkdir(`${dir}/sharded`);
    await Deno.writeTextFile(`${dir}/sharded/config.json`, cfgText);
    const names = ref.names(), files = ["m-00001-of-00002.safetensors", "m-00002-of-00002.safetensors"];
    const parts: Record<string, { dtype: "BF16"; shape: number[]; data: Float32Array }>[] = [{}, {}];
    const weightMap: Record<string, string> = {};
    for (let i = 0; i < names.length; i++) {
      parts[i < names.length / 2 ? 0 : 1][names[i]] = { dtype: "BF16", shape: ref.info(names[i]).shape, data: await ref.readF32(names[i]) };
      weightMap[names[i]] = files[i < names.length / 2 ? 0 : 1];
    }
    for (let p = 0; p < 2; p++) await Deno.writeFile(`${dir}/sharded/${files[p]}`, encodeSafetensors(parts[p]));
    await Deno.writeTextFile(`${dir}/sharded/m.safetensors.index.json`, JSON.stringify({ weight_map: weightMap }));
    const sh = await openCheckpointDir(`${dir}/sharded`);
    assert(sh.names().length === names.length && sh.files.length === 2, `sharded: ${sh.names().length} tensors in ${sh.files.length} files`);
    const mem = await Checkpoint.open(parts.map((p, i) => bytesSource(files[i], encodeSafetensors(p))));
    for (const n of names) expectSame(n, await sh.readF32(n), await mem.readF32(n));
    sh.close();
    // A shard named by the index is missing.
    await Deno.remove(`${dir}/sharded/${files[1]}`);
    await expectError("missing shard", () => openCheckpointDir(`${dir}/sharded`), `${dir}/sharded`, files[1]);
    // Two .safetensors without an index; none at all; no config.json.
    await Deno.mkdir(`${dir}/two`);
    for (const f of ["a.safetensors", "b.safetensors"]) await Deno.writeFile(`${dir}/two/${f}`, encodeSafetensors({}));
    await expectError("two files", () => openCheckpointDir(`${dir}/two`), `${dir}/two`, "exactly one", "a.safetensors, b.safetensors");
    await Deno.mkdir(`${dir}/empty`);
    await expectError("empty folder", () => openCheckpointDir(`${dir}/empty`), `${dir}/empty`, "no files");
    await expectError("no config", () => openModelDir(`${dir}/two`), `${dir}/two`, "config.json");
    // A diffusers pipeline folder: the error points into transformer/.
    await Deno.mkdir(`${dir}/pipeline/transformer`, { recursive: true });
    await Deno.writeTextFile(`${dir}/pipeline/transformer/config.json`, cfgText);
    await expectError("pipeline root", () => openModelDir(`${dir}/pipeline`), `${dir}/pipeline: no config.json`, `try ${dir}/pipeline/transformer`);
    // `--model` on the pipeline root takes its transformer/ (and vae/ for the VAE); a file is refused.
    const { modelFolderFromArg } = await import("../../src/io/hub_deno.ts");
    const component = await modelFolderFromArg(`${dir}/pipeline`, "transformer");
    assert(component.label === `${dir}/pipeline/transformer`, `--model pipeline root -> ${component.label}`);
    assert((await modelFolderFromArg(`${dir}/one`, "transformer")).label === `${dir}/one`, "a transformer folder is used as it is");
    await expectError("a file", () => modelFolderFromArg(`${dir}/one/config.json`, "transformer"), `${dir}/one/config.json: is a file`);
    // A config that is not the transformer's fails before any weights are opened.
    await Deno.writeTextFile(`${dir}/two/config.json`, JSON.stringify({ _class_name: "AutoencoderKLWan" }));
    await expectError("wrong config", () => openModelDir(`${dir}/two`), `${dir}/two/config.json`, "AutoencoderKLWan");
    await expectError("no folder", () => openCheckpointDir(`${dir}/absent`), `${dir}/absent`);
  }), deno);

test("fs_deno: urlSource uses Range requests, and falls back when the server ignores them", async () => {
  const bytes = await fixtureBytes("wan-tiny", "model.safetensors");
  const ref = await Checkpoint.open([bytesSource("mem", bytes)]);
  for (const honour of [true, false]) {
    let ranged = 0, full = 0;
    const ac = new AbortController();
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", signal: ac.signal, onListen() {} }, (req) => {
      const headers = { "accept-ranges": "bytes", "content-length": String(bytes.length) };
      if (req.method === "HEAD") return new Response(null, { headers });
      const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.get("range") ?? "");
      if (m && honour) {
        ranged++;
        const [a, b] = [Number(m[1]), Number(m[2])];
        return new Response(bytes.slice(a, b + 1), { status: 206, headers: { "content-range": `bytes ${a}-${b}/${bytes.length}` } });
      }
      full++;
      return new Response(bytes.slice(), { headers });
    });
    try {
      const src = await urlSource(`http://127.0.0.1:${server.addr.port}/model.safetensors`);
      assert(src.size === bytes.length, `size ${src.size}`);
      const ck = await Checkpoint.open([src]);
      for (const n of ref.names()) expectSame(n, await ck.readF32(n), await ref.readF32(n));
      if (honour) assert(ranged > 2 && full === 0, `honouring server: ${ranged} ranged, ${full} full requests`);
      else assert(full === 1, `ignoring server: ${full} full downloads, expected 1`);
    } finally {
      ac.abort();
      await server.finished;
    }
  }
}, deno);
