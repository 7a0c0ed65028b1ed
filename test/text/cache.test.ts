// The embedding caches' bound (issue 21): the CLI's disk cache and the library's memory cache keep the most
// recently used prompts and drop the least recently used past their bound. The disk test is Deno only.
import { memoryEmbeddingCache } from "../../src/loaders/umt5_pipeline.ts";
import { test } from "../../src/selftest/harness.ts";
import { assert } from "../io/util.ts";

const DENO = { hosts: ["deno" as const] };
const rows = (n: number, v: number) => new Float32Array(n).fill(v);
const files = (dir: string) => Array.from(Deno.readDirSync(dir), (e) => e.name).sort().join(",");

test("embedding cache: on disk, the least recently used file goes past maxEntries or maxBytes; a get counts as a use", async () => {
  // Imported here: src/cli is Deno code, and this file is in the browser's bundle too (suites.ts).
  const { diskEmbeddingCache } = await import("../../src/cli/encode.ts");
  const dir = Deno.makeTempDirSync({ prefix: "shardit-embcache-" });
  try {
    const byCount = diskEmbeddingCache(`${dir}/n`, { maxBytes: 1 << 20, maxEntries: 2 });
    await byCount.put("a", rows(4, 1));
    await byCount.put("b", rows(4, 2));
    assert((await byCount.get("a"))?.[0] === 1, "a is cached"); // a is now more recent than b
    await byCount.put("c", rows(4, 3));
    assert(files(`${dir}/n`) === "a.f32,c.f32", `count bound: b (least recently used) goes, found ${files(`${dir}/n`)}`);
    assert(await byCount.get("b") === null && (await byCount.get("c"))?.[3] === 3, "b is gone, c reads back");

    // 3 files of 16 bytes over a 40-byte bound: the oldest goes; a file alone over the bound stays.
    const byBytes = diskEmbeddingCache(`${dir}/b`, { maxBytes: 40, maxEntries: 100 });
    await byBytes.put("x", rows(4, 1));
    await byBytes.put("y", rows(4, 2));
    assert(files(`${dir}/b`) === "x.f32,y.f32", `32 bytes fit in 40, found ${files(`${dir}/b`)}`);
    await byBytes.put("z", rows(4, 3));
    assert(files(`${dir}/b`) === "y.f32,z.f32", `byte bound: x goes, found ${files(`${dir}/b`)}`);
    await byBytes.put("big", rows(64, 4));
    assert(files(`${dir}/b`) === "big.f32", `a 256-byte file alone stays, the rest goes: found ${files(`${dir}/b`)}`);
    assert((await byBytes.get("big"))?.length === 64, "big reads back whole");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}, DENO);

test("embedding cache: in memory, at most maxEntries prompts, the least recently used dropped first", async () => {
  const cache = memoryEmbeddingCache(2);
  const r = rows(3, 7);
  await cache.put("a", r);
  r.fill(0); // the cache keeps its own copy
  await cache.put("b", rows(3, 8));
  assert((await cache.get("a"))?.[0] === 7, "a is cached (a copy)");
  await cache.put("c", rows(3, 9));
  assert(await cache.get("b") === null, "b, the least recently used, is dropped");
  assert((await cache.get("a"))?.[0] === 7 && (await cache.get("c"))?.[0] === 9, "a and c stay");
});
