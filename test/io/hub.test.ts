// Hub ids, offline: a local server answers the Hub's paths (<id>/resolve/main/<path>) for a tiny fixture
// repo laid out like Wan-AI/Wan2.1-T2V-1.3B-Diffusers (model_index.json, transformer/ with the wan-tiny
// weights as an index + two BF16 shards, vae/ with the wan-vae-tiny weights); the page's Cache API path
// (src/io/hub_web.ts) runs in both hosts with fetch answered in-process. Checked: the weights read through
// the Deno cache folder (src/io/hub_deno.ts) and the Cache API equal the fixture's bit for bit; each file is downloaded once (a second open makes no request, and
// works with the server gone); progress ends at the file's size; 404, 401, network failure and truncated
// bodies give one-line errors naming the URL and the id and leave nothing in the cache.
import { announcedSize } from "../../src/io/download.ts";
import { hubBaseUrl, parseHubId } from "../../src/io/hub.ts";
import { openModelFolder, pipelineComponent } from "../../src/io/model_folder.ts";
import { bytesSource, Checkpoint, encodeSafetensors } from "../../src/io/safetensors.ts";
import { openWanFolder, PRESETS, wanConfigJson } from "../../src/loaders/config.ts";
import { expectClose, test, TOL } from "../../src/selftest/harness.ts";
import { loadGolden } from "../model/util.ts";
import { fixtureBytes } from "../../src/selftest/fixtures.ts";
import { assert, expectError, expectSame } from "./util.ts";

const deno = { hosts: ["deno" as const] };
const REPO = "shardit-test/Wan-tiny-Diffusers";

test("hub: ids, revisions and the resolve URLs", () => {
  const cases: [string, { id: string; revision: string } | null][] = [
    ["Wan-AI/Wan2.1-T2V-1.3B-Diffusers", { id: "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", revision: "main" }],
    ["Wan-AI/Wan2.1-T2V-1.3B-Diffusers@refs/pr/3", { id: "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", revision: "refs/pr/3" }],
    ["a/b", { id: "a/b", revision: "main" }],
    ["Wan2.1-T2V-1.3B-Diffusers", null], // no owner
    ["a/b/transformer", null], // a path, not an id
    ["./a/b", null],
    ["/abs/path", null],
    ["a/..", null],
    ["a--b/c", null],
    ["-a/b", null],
    ["a/b@", null],
    ["https://huggingface.co/a/b", null],
  ];
  for (const [s, want] of cases) {
    const got = parseHubId(s);
    assert(JSON.stringify(got) === JSON.stringify(want), `parseHubId(${JSON.stringify(s)}) = ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
  }
  const url = hubBaseUrl({ id: "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", revision: "main" });
  assert(url === "https://huggingface.co/Wan-AI/Wan2.1-T2V-1.3B-Diffusers/resolve/main/", url);
  assert(hubBaseUrl({ id: "a/b", revision: "refs/pr/3" }, "http://127.0.0.1:9/") === "http://127.0.0.1:9/a/b/resolve/refs%2Fpr%2F3/", "revision is one path segment");
  // x-linked-size (the Hub's LFS size) wins; an encoded body's content-length counts compressed bytes.
  assert(announcedSize(new Headers({ "content-length": "10", "x-linked-size": "12" })) === 12, "x-linked-size");
  assert(announcedSize(new Headers({ "content-length": "10" })) === 10, "content-length");
  assert(announcedSize(new Headers({ "content-length": "10", "content-encoding": "gzip" })) === null, "gzip");
});

test("hub: what a page's text box means (folderFromText): Hub ids, absolute and relative URLs", async () => {
  const { folderFromText } = await import("../../src/io/hub_web.ts");
  const label = (t: string) => folderFromText(t, { endpoint: "https://hub.example" }).label;
  const cases: [string, string][] = [
    ["Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "https://hub.example/Wan-AI/Wan2.1-T2V-1.3B-Diffusers/resolve/main"],
    [" a/b@v1.0 ", "https://hub.example/a/b/resolve/v1.0"],
    ["https://host.example/models/wan/transformer/", "https://host.example/models/wan/transformer"],
    ["http://127.0.0.1:8000/x", "http://127.0.0.1:8000/x"],
  ];
  for (const [text, want] of cases) assert(label(text) === want, `folderFromText(${JSON.stringify(text)}) = ${label(text)}, expected ${want}`);
  if (typeof location !== "undefined") {
    // A page resolves relative URLs against itself; "./a/b" is a path, never a Hub id.
    assert(label("./a/b") === new URL("./a/b/", location.href).href.replace(/\/$/, ""), `relative: ${label("./a/b")}`);
  } else {
    await expectError("relative URL without a page", () => folderFromText("./a/b"), "\"./a/b\" is not a URL or a Hub id");
  }
});

/** The fixture repo's files by path under <id>/resolve/main/, and the reference checkpoints. */
async function fixtureRepo(dtype: "BF16" | "F32" = "BF16") {
  const enc = new TextEncoder();
  const tiny = await Checkpoint.open([bytesSource("wan-tiny", await fixtureBytes("wan-tiny", "model.safetensors"))]);
  const names = tiny.names(), shardNames = ["diffusion_pytorch_model-00001-of-00002.safetensors", "diffusion_pytorch_model-00002-of-00002.safetensors"];
  const parts: Record<string, { dtype: "BF16" | "F32"; shape: number[]; data: Float32Array }>[] = [{}, {}];
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) {
    const p = i < names.length / 2 ? 0 : 1;
    parts[p][names[i]] = { dtype, shape: tiny.info(names[i]).shape, data: await tiny.readF32(names[i]) };
    weightMap[names[i]] = shardNames[p];
  }
  const shards = parts.map((p) => encodeSafetensors(p));
  const vaeWeights = await fixtureBytes("wan-vae-tiny", "diffusion_pytorch_model.safetensors");
  const files = new Map<string, Uint8Array>([
    ["model_index.json", enc.encode(JSON.stringify({ _class_name: "WanPipeline", transformer: ["diffusers", "WanTransformer3DModel"], vae: ["diffusers", "AutoencoderKLWan"] }))],
    ["transformer/config.json", enc.encode(JSON.stringify(wanConfigJson(PRESETS["wan-tiny"])))],
    ["transformer/diffusion_pytorch_model.safetensors.index.json", enc.encode(JSON.stringify({ metadata: {}, weight_map: weightMap }))],
    [`transformer/${shardNames[0]}`, shards[0]],
    [`transformer/${shardNames[1]}`, shards[1]],
    ["vae/config.json", await fixtureBytes("wan-vae-tiny", "config.json")],
    ["vae/diffusion_pytorch_model.safetensors", vaeWeights],
  ]);
  const ref = await Checkpoint.open(shardNames.map((n, p) => bytesSource(n, shards[p])));
  const vaeRef = await Checkpoint.open([bytesSource("vae", vaeWeights)]);
  return { files, ref, vaeRef };
}

type Mode = "ok" | "truncate" | "unauthorized" | "linked-size-lies";

/** Serves `files` under /REPO/resolve/main/ (HEAD and GET); counts GETs per path. */
function hubServer(files: Map<string, Uint8Array>, mode: () => Mode) {
  const gets = new Map<string, number>();
  const ac = new AbortController();
  const prefix = `/${REPO}/resolve/main/`;
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", signal: ac.signal, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    const body = path.startsWith(prefix) ? files.get(path.slice(prefix.length)) : undefined;
    if (req.method === "GET") gets.set(path, (gets.get(path) ?? 0) + 1);
    if (mode() === "unauthorized") {
      return new Response("gated", { status: 401, statusText: "Unauthorized", headers: { "x-error-code": "GatedRepo", "x-error-message": "Access to this repo is restricted." } });
    }
    if (!body) return new Response("Entry not found", { status: 404, statusText: "Not Found" });
    if (mode() === "linked-size-lies") return new Response(body.slice(), { headers: { "x-linked-size": String(body.length + 100) } });
    if (mode() === "truncate" && path.endsWith(".safetensors")) {
      // Announces the whole length, sends half, then ends the stream with an error (a dropped connection).
      const half = body.slice(0, body.length >> 1);
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(half);
          setTimeout(() => c.error(new Error("connection reset")), 10);
        },
      });
      return new Response(stream, { headers: { "content-length": String(body.length) } });
    }
    return new Response(body.slice(), { headers: { "content-length": String(body.length) } });
  });
  return { endpoint: `http://127.0.0.1:${server.addr.port}`, gets, total: () => [...gets.values()].reduce((a, b) => a + b, 0), stop: async () => (ac.abort(), await server.finished) };
}

async function cacheFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) e.isDirectory ? await walk(`${d}/${e.name}`) : out.push(`${d}/${e.name}`.slice(dir.length + 1));
  };
  await walk(dir).catch(() => {});
  return out.sort();
}

test("hub: --model <id> downloads transformer/ (index + shards) and vae/ once into the cache folder, then works offline", async () => {
  const { modelFolderFromArg } = await import("../../src/io/hub_deno.ts");
  const { files, ref, vaeRef } = await fixtureRepo();
  const cacheDir = await Deno.makeTempDir({ prefix: "shardit-hub-" });
  const server = hubServer(files, () => "ok");
  try {
    const finals = new Map<string, [number, number]>();
    const progress = (label: string, done: number, total: number) => finals.set(label, [done, total]);
    const folder = await modelFolderFromArg(REPO, "transformer", { endpoint: server.endpoint, cacheDir, progress });
    assert(folder.label === `${server.endpoint}/${REPO}/resolve/main/transformer`, `folder ${folder.label}`);
    const { config, checkpoint } = await openWanFolder(folder);
    assert(config.numLayers === PRESETS["wan-tiny"].numLayers, "config");
    for (const n of ref.names()) expectSame(n, await checkpoint.readF32(n), await ref.readF32(n));
    checkpoint.close();
    // Progress ends at each file's size.
    for (const [path, body] of files) {
      if (!path.startsWith("transformer/")) continue;
      const last = finals.get(`downloading ${path.slice("transformer/".length)}`);
      assert(last && last[0] === body.length && last[1] === body.length, `progress of ${path}: ${JSON.stringify(last)}, size ${body.length}`);
    }
    // The VAE folder of the same repo, through the same resolver (its config is the VAE's business: raw JSON here).
    const vae = await openModelFolder(await modelFolderFromArg(REPO, "vae", { endpoint: server.endpoint, cacheDir }), (json) => json as { _class_name: string });
    assert(vae.config._class_name === "AutoencoderKLWan", `vae config ${JSON.stringify(vae.config)}`);
    for (const n of vaeRef.names()) expectSame(`vae ${n}`, await vae.checkpoint.readF32(n), await vaeRef.readF32(n));
    vae.checkpoint.close();
    // Every file was fetched exactly once; the index's absence elsewhere was remembered, no partials remain.
    for (const [path, count] of server.gets) assert(count === 1, `${path} fetched ${count} times`);
    const cached = await cacheFiles(cacheDir);
    assert(!cached.some((f) => f.includes(".partial")), `partial files left: ${cached}`);
    assert(cached.includes(`127.0.0.1_${server.endpoint.split(":").pop()}/${REPO}/resolve/main/transformer/diffusion_pytorch_model-00002-of-00002.safetensors`), `cache layout: ${cached.join(", ")}`);
    // Offline: the server is gone, the cache answers everything.
    await server.stop();
    const again = await openWanFolder(await modelFolderFromArg(REPO, "transformer", { endpoint: server.endpoint, cacheDir }));
    for (const n of ref.names()) expectSame(`offline ${n}`, await again.checkpoint.readF32(n), await ref.readF32(n));
    again.checkpoint.close();
  } finally {
    await server.stop().catch(() => {});
    await Deno.remove(cacheDir, { recursive: true });
  }
}, deno);

test("hub: 404, 401, network failure and truncated downloads are one-line errors and leave nothing cached", async () => {
  const { modelFolderFromArg } = await import("../../src/io/hub_deno.ts");
  const { files, ref } = await fixtureRepo();
  const cacheDir = await Deno.makeTempDir({ prefix: "shardit-hub-" });
  let mode: Mode = "ok";
  const server = hubServer(files, () => mode);
  const open = async (id: string) => (await openWanFolder(await modelFolderFromArg(id, "transformer", { endpoint: server.endpoint, cacheDir }))).checkpoint;
  try {
    await expectError("unknown id", () => open("shardit-test/no-such-repo"), `${server.endpoint}/shardit-test/no-such-repo/resolve/main/transformer/config.json`, "HTTP 404", "Hub id shardit-test/no-such-repo", "not a local folder");
    await expectError("not an id", () => modelFolderFromArg("no-such-folder", "transformer", { cacheDir }), "no-such-folder: no such folder, and not a Hub id");
    mode = "unauthorized";
    await expectError("gated", () => open(REPO), `${REPO}/resolve/main/transformer/config.json: HTTP 401 Unauthorized (GatedRepo: Access to this repo is restricted.)`, `Hub id ${REPO}`, "check the id", "HF_TOKEN");
    mode = "truncate";
    const cut = await expectError("truncated", () => open(REPO), `${REPO}/resolve/main/transformer/diffusion_pytorch_model-00001-of-00002.safetensors`, "broke off after", `Hub id ${REPO}`, "nothing was cached");
    assert(!cut.includes("\n"), "one line");
    mode = "linked-size-lies";
    await expectError("short body", () => open(REPO), "diffusion_pytorch_model-00001-of-00002.safetensors: truncated download", "announced", `Hub id ${REPO}`);
    const left = (await cacheFiles(cacheDir)).filter((f) => f.endsWith(".safetensors") || f.includes(".partial"));
    assert(left.length === 0, `a failed download left ${left.join(", ")}`);
    // The same cache then completes the download from a healthy server: partial bodies were never mistaken for files.
    mode = "ok";
    const ck = await open(REPO);
    for (const n of ref.names()) expectSame(n, await ck.readF32(n), await ref.readF32(n));
    ck.close();
    await server.stop();
    // Nothing listening: a network failure, said as such.
    await expectError("network", () => modelFolderFromArg("shardit-test/other", "transformer", { endpoint: server.endpoint, cacheDir }), "network failure", "Hub id shardit-test/other");
  } finally {
    await server.stop().catch(() => {});
    await Deno.remove(cacheDir, { recursive: true });
  }
}, deno);

/** Answers fetches under `endpoint` from `files` as the Hub would (404 for anything else); other URLs pass through. */
async function withFakeHub<T>(files: Map<string, Uint8Array>, endpoint: string, fn: (gets: Map<string, number>, cut: Set<string>) => Promise<T>): Promise<T> {
  const realFetch = globalThis.fetch;
  const gets = new Map<string, number>();
  const cut = new Set<string>(); // paths whose body breaks off halfway (a dropped connection)
  const prefix = `${endpoint}/${REPO}/resolve/main/`;
  globalThis.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(`${endpoint}/`)) return realFetch(input, init);
    gets.set(url, (gets.get(url) ?? 0) + 1);
    const body = url.startsWith(prefix) ? files.get(url.slice(prefix.length)) : undefined;
    if (!body) return Promise.resolve(new Response("Entry not found", { status: 404, statusText: "Not Found" }));
    if (cut.has(url.slice(prefix.length))) {
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(body.slice(0, body.length >> 1));
          c.error(new TypeError("network error"));
        },
      });
      return Promise.resolve(new Response(stream, { headers: { "content-length": String(body.length) } }));
    }
    return Promise.resolve(new Response(body.slice(), { headers: { "content-length": String(body.length) } }));
  };
  try {
    return await fn(gets, cut);
  } finally {
    globalThis.fetch = realFetch;
  }
}

test("hub: the page's Cache API folder (hub_web.ts) downloads once and serves later opens from the cache", async () => {
  const { hubFolder, clearModelCache } = await import("../../src/io/hub_web.ts");
  if (typeof caches === "undefined") throw new Error("no Cache API in this host");
  const { files, ref } = await fixtureRepo();
  const endpoint = "https://hub.shardit.invalid";
  const cacheName = `shardit-test-${crypto.randomUUID()}`;
  try {
    await withFakeHub(files, endpoint, async (gets, cut) => {
      const repo = parseHubId(REPO)!;
      const seen: string[] = [];
      const root = hubFolder(repo, { endpoint, cacheName, progress: (l, d, t) => d === t && seen.push(l) });
      const folder = await pipelineComponent(root, "transformer");
      assert(folder.label === `${endpoint}/${REPO}/resolve/main/transformer`, folder.label);
      const a = await openWanFolder(folder);
      for (const n of ref.names()) expectSame(n, await a.checkpoint.readF32(n), await ref.readF32(n));
      assert(seen.includes("downloading diffusion_pytorch_model-00001-of-00002.safetensors"), `progress: ${seen}`);
      const total = () => [...gets.values()].reduce((x, y) => x + y, 0);
      const before = total();
      const b = await openWanFolder(await pipelineComponent(hubFolder(repo, { endpoint, cacheName }), "transformer"));
      for (const n of ref.names()) expectSame(`cached ${n}`, await b.checkpoint.readF32(n), await ref.readF32(n));
      assert(total() === before, `the second open made ${total() - before} requests`);
      for (const [url, count] of gets) assert(count === 1, `${url} fetched ${count} times`);
      await expectError("404 in the page", async () => await openWanFolder(await pipelineComponent(hubFolder(parseHubId("shardit-test/missing")!, { endpoint, cacheName }), "transformer")), "shardit-test/missing/resolve/main: no config.json", "Hub id shardit-test/missing");
      // A body that breaks off: one line naming the URL and the id, and nothing put in the cache.
      const shard = "transformer/diffusion_pytorch_model-00002-of-00002.safetensors";
      cut.add(shard);
      const fresh = `${cacheName}-cut`;
      try {
        await expectError("cut off in the page", async () => await openWanFolder(await pipelineComponent(hubFolder(repo, { endpoint, cacheName: fresh }), "transformer")), `${REPO}/resolve/main/${shard}: download broke off after`, `Hub id ${REPO}`);
        assert(!(await (await caches.open(fresh)).match(`${endpoint}/${REPO}/resolve/main/${shard}`)), "a cut-off body was cached");
      } finally {
        await clearModelCache(fresh);
      }
    });
  } finally {
    await clearModelCache(cacheName);
  }
});

test("hub: `shardit forward --model <id>` (HF_ENDPOINT, SHARDIT_CACHE) == diffusers on wan-tiny, with a download progress bar", async () => {
  const { files } = await fixtureRepo("F32");
  const server = hubServer(files, () => "ok");
  const dir = await Deno.makeTempDir({ prefix: "shardit-hub-cli-" });
  const root = new URL("../../", import.meta.url).pathname;
  try {
    const env = { HF_ENDPOINT: server.endpoint, SHARDIT_CACHE: `${dir}/cache` };
    const run = (out: string) =>
      new Deno.Command("node", {
        args: [`${root}bin/shardit.cjs`, "forward", "--model", REPO, "--input", `${root}test/fixtures/wan-tiny/io.safetensors`, "--out", out],
        env, cwd: dir, stdout: "piped", stderr: "piped",
      }).output();
    const r = await run(`${dir}/out.safetensors`);
    const stderr = new TextDecoder().decode(r.stderr);
    if (r.code !== 0) throw new Error(`exit ${r.code}: ${stderr}`);
    assert(/downloading diffusion_pytorch_model-00002-of-00002\.safetensors.*100%/.test(stderr), `no download progress in stderr: ${stderr.slice(0, 400)}`);
    const { denoFileSource } = await import("../../src/io/fs_deno.ts");
    const out = await (await Checkpoint.open([await denoFileSource(`${dir}/out.safetensors`)])).readF32("output");
    expectClose("forward via Hub id", out, (await loadGolden("wan-tiny")).expected, TOL.model.f32);
    // A second run downloads nothing.
    const before = server.total();
    const again = await run(`${dir}/out2.safetensors`);
    if (again.code !== 0) throw new Error(`second run: exit ${again.code}: ${new TextDecoder().decode(again.stderr)}`);
    assert(server.total() === before, `the second run made ${server.total() - before} requests`);
  } finally {
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  }
}, { tags: ["slow"], hosts: ["deno"], timeoutMs: 120_000 });
