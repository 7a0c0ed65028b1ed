// The host <-> GPU copies of the K/V exchange, each path timed alone, to find where the pool's ~300 ms
// per layer per device (f32, 32,760 tokens, bench/RESULTS.md) goes and which path is fastest.
// One "block" is one device's K or V share at N = 2: 16,380 tokens x 1536 x 4 bytes = 100.6 MB (--mb).
// Every path is checked first: the bytes that arrive equal the bytes sent (a pattern, compared in full).
// bench/torch_copy.py times torch's D2H / H2D copies of the same bytes on the same card (pageable and
// pinned), the hardware's reference.
//
// usage: deno run -A bench/exchange.ts [--mb 100.6] [--repeats 5] [--json out.json]
import { Gpu } from "../src/gpu/device.ts";
import { benchArgs, benchEnv, printEnv, printTable, writeJson } from "./common.ts";

const args = benchArgs("exchange", ["mb", "repeats", "json"]);
const bytes = Math.round((Number(args.get("mb") ?? 100.6) * 1e6) / 4096) * 4096;
const repeats = Number(args.get("repeats") ?? 5);

const gpu = await Gpu.create({ label: "bench" });
const env = benchEnv(gpu);
printEnv(env);
const dev = gpu.device;
const storage = dev.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
const readStaging = dev.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
const writeStaging = dev.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_WRITE | GPUBufferUsage.COPY_SRC });
const shared = new Uint8Array(new SharedArrayBuffer(bytes)); // the exchange slot
const plain = new Uint8Array(bytes);
const pattern = (seed: number, dst: Uint8Array) => {
  const w = new Uint32Array(dst.buffer, dst.byteOffset, dst.byteLength / 4);
  for (let i = 0; i < w.length; i++) w[i] = (i * 2654435761 + seed) >>> 0;
};
const done = () => dev.queue.onSubmittedWorkDone();

/** Reads `storage` back through the MAP_READ staging buffer into `dst` (the pool's readInto path). */
async function readMapped(dst: Uint8Array, chunk = bytes): Promise<void> {
  const enc = dev.createCommandEncoder();
  enc.copyBufferToBuffer(storage, 0, readStaging, 0, bytes);
  dev.queue.submit([enc.finish()]);
  for (let at = 0; at < bytes; at += chunk) {
    const n = Math.min(chunk, bytes - at);
    await readStaging.mapAsync(GPUMapMode.READ, at, n);
    dst.set(new Uint8Array(readStaging.getMappedRange(at, n)), at);
    readStaging.unmap();
  }
}

/** queue.writeBuffer of `src` into `storage`, in chunks of `chunk` bytes. */
async function writeQueue(src: Uint8Array, chunk = bytes): Promise<void> {
  for (let at = 0; at < bytes; at += chunk) dev.queue.writeBuffer(storage, at, src.subarray(at, Math.min(bytes, at + chunk)));
  await done();
}

/** mapAsync(WRITE) of a reused staging buffer, one CPU copy into it, then a GPU copy to `storage`. */
async function writeMapped(src: Uint8Array): Promise<void> {
  await writeStaging.mapAsync(GPUMapMode.WRITE);
  new Uint8Array(writeStaging.getMappedRange()).set(src);
  writeStaging.unmap();
  const enc = dev.createCommandEncoder();
  enc.copyBufferToBuffer(writeStaging, 0, storage, 0, bytes);
  dev.queue.submit([enc.finish()]);
  await done();
}

async function check(name: string, write: (src: Uint8Array) => Promise<void>, read: (dst: Uint8Array) => Promise<void>, src: Uint8Array, dst: Uint8Array, seed: number) {
  pattern(seed, src);
  dst.fill(0);
  await write(src);
  await read(dst);
  for (let i = 0; i < bytes; i++) if (src[i] !== dst[i]) throw new Error(`${name}: byte ${i} is ${dst[i]}, sent ${src[i]}`);
}

async function time(fn: () => Promise<void>): Promise<{ ms: number; all: number[] }> {
  await fn(); // warm-up
  const all: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await fn();
    all.push(performance.now() - t0);
  }
  return { ms: Math.min(...all), all };
}

const paths: [string, () => Promise<void>, (src: Uint8Array, dst: Uint8Array, seed: number) => Promise<void>][] = [
  ["read: mapAsync staging -> SharedArrayBuffer (pool)", () => readMapped(shared), (s, d, k) => check("read shared", (x) => writeQueue(x), readMapped, s, d, k)],
  ["read: mapAsync staging -> ArrayBuffer", () => readMapped(plain), (s, d, k) => check("read plain", (x) => writeQueue(x), readMapped, s, d, k)],
  ["read: mapAsync in 8 MiB pieces -> SharedArrayBuffer", () => readMapped(shared, 8 << 20), (s, d, k) => check("read pieces", (x) => writeQueue(x), (y) => readMapped(y, 8 << 20), s, d, k)],
  ["write: writeBuffer from SharedArrayBuffer (pool)", () => writeQueue(shared), (s, d, k) => check("write shared", (x) => writeQueue(x), readMapped, s, d, k)],
  ["write: writeBuffer from ArrayBuffer", () => writeQueue(plain), (s, d, k) => check("write plain", (x) => writeQueue(x), readMapped, s, d, k)],
  ["write: writeBuffer in 8 MiB pieces from SharedArrayBuffer", () => writeQueue(shared, 8 << 20), (s, d, k) => check("write pieces", (x) => writeQueue(x, 8 << 20), readMapped, s, d, k)],
  ["write: mapAsync(WRITE) staging from SharedArrayBuffer", () => writeMapped(shared), (s, d, k) => check("write mapped", writeMapped, readMapped, s, d, k)],
];

const rows: Record<string, unknown>[] = [];
{
  const t = await time(async () => plain.set(shared));
  rows.push({ path: "CPU: SharedArrayBuffer -> ArrayBuffer set()", MB: bytes / 1e6, ms: t.ms, "GB/s": bytes / 1e6 / t.ms, all: t.all.map((x) => x.toFixed(1)).join(" ") });
}
let seed = 1;
for (const [name, run, verify] of paths) {
  const src = name.includes("from ArrayBuffer") || name.endsWith("-> ArrayBuffer") ? plain : shared;
  // Verify with distinct source and destination arrays so a path that moves nothing cannot pass.
  await verify(src, src === plain ? new Uint8Array(bytes) : new Uint8Array(new SharedArrayBuffer(bytes)), seed++);
  const t = await time(run);
  rows.push({ path: name, MB: bytes / 1e6, ms: t.ms, "GB/s": bytes / 1e6 / t.ms, all: t.all.map((x) => x.toFixed(1)).join(" ") });
}
printTable(rows);
const json = args.get("json");
if (json) writeJson(json, { env, bytes, repeats, rows });
gpu.destroy();
