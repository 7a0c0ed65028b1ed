// The host <-> GPU copies of the self-attention exchange (the rows n), each path timed alone, to find
// where the pool's ~300 ms per layer per device (f32, 32,760 tokens, bench/RESULTS.md) goes and which path
// is fastest. One "block" is one device's share of n (as of K or V before) at N = 2: 16,380 tokens x 1536 x 4 bytes = 100.6 MB (--mb).
// Every path is checked first: the bytes that arrive equal the bytes sent (a pattern, compared in full).
// bench/torch_copy.py times torch's D2H / H2D copies of the same bytes on the same card (pageable and
// pinned), the hardware's reference.
//
// usage: deno run -A bench/exchange.ts [--mb 100.6] [--repeats 5] [--att-tokens 16384] [--write-mapped] [--json out.json]
import { Gpu } from "../src/gpu/device.ts";
import { attention } from "../src/ops/attention.ts";
import { benchArgs, benchEnv, printEnv, printTable, writeJson } from "./common.ts";

const args = benchArgs("exchange", ["mb", "repeats", "json", "att-tokens", "write-mapped"], ["write-mapped"]);
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

/** [name, the timed run, its check (write then read back with distinct arrays, compared in full)] */
type Path = [string, () => Promise<void>, (src: Uint8Array, dst: Uint8Array, seed: number) => Promise<void>];
const paths: Path[] = [
  ["read: mapAsync staging -> SharedArrayBuffer (pool)", () => readMapped(shared), (s, d, k) => check("read shared", (x) => writeQueue(x), readMapped, s, d, k)],
  ["read: mapAsync staging -> ArrayBuffer", () => readMapped(plain), (s, d, k) => check("read plain", (x) => writeQueue(x), readMapped, s, d, k)],
  ["read: mapAsync in 8 MiB pieces -> SharedArrayBuffer", () => readMapped(shared, 8 << 20), (s, d, k) => check("read pieces", (x) => writeQueue(x), (y) => readMapped(y, 8 << 20), s, d, k)],
  ["write: writeBuffer from SharedArrayBuffer (pool)", () => writeQueue(shared), (s, d, k) => check("write shared", (x) => writeQueue(x), readMapped, s, d, k)],
  ["write: writeBuffer from ArrayBuffer", () => writeQueue(plain), (s, d, k) => check("write plain", (x) => writeQueue(x), readMapped, s, d, k)],
  ["write: writeBuffer in 8 MiB pieces from SharedArrayBuffer", () => writeQueue(shared, 8 << 20), (s, d, k) => check("write pieces", (x) => writeQueue(x, 8 << 20), readMapped, s, d, k)],
  // --write-mapped: mapAsync(WRITE) of a reused staging buffer (4.9 s for 100.6 MB on an H200: never use it).
  ...(args.has("write-mapped") ? [["write: mapAsync(WRITE) staging from SharedArrayBuffer", () => writeMapped(shared), (s: Uint8Array, d: Uint8Array, k: number) => check("write mapped", writeMapped, readMapped, s, d, k)] as Path] : []),
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
// Where a readback's time goes, and whether mapAsync waits for work submitted after the copy: the copy is
// submitted, then attention over --att-tokens tokens (12 x 128; 16,384: ~90 ms on an H100-class GPU) is submitted,
// then mapAsync. If mapAsync resolves well before the attention ends, the CPU copy out of the mapping can
// overlap GPU work submitted after the readback; if it waits for everything, it cannot.
const phases: Record<string, unknown>[] = [];
{
  const L = Number(args.get("att-tokens") ?? 16384), N = 12, D = 128;
  const q = gpu.empty([L, N, D], "f32"), o = gpu.empty([L, N, D], "f32");
  const attend = () => attention(gpu, q, q, q, o);
  attend();
  await gpu.sync();
  let t0 = performance.now();
  attend();
  await gpu.sync();
  const attentionMs = performance.now() - t0;
  for (const withWork of [false, true]) {
    for (let r = 0; r < repeats; r++) {
      t0 = performance.now();
      const enc = dev.createCommandEncoder();
      enc.copyBufferToBuffer(storage, 0, readStaging, 0, bytes);
      dev.queue.submit([enc.finish()]);
      if (withWork) {
        attend();
        gpu.flush();
      }
      const submitted = performance.now();
      await readStaging.mapAsync(GPUMapMode.READ, 0, bytes);
      const mapped = performance.now();
      const range = new Uint8Array(readStaging.getMappedRange(0, bytes));
      const gotRange = performance.now();
      shared.set(range);
      const copied = performance.now();
      readStaging.unmap();
      const unmapped = performance.now();
      await gpu.sync();
      if (r === repeats - 1 || !withWork) {
        phases.push({
          "work after the copy": withWork ? `attention ${attentionMs.toFixed(1)} ms` : "none",
          submitMs: submitted - t0,
          mapAsyncMs: mapped - submitted,
          getMappedRangeMs: gotRange - mapped,
          copyMs: copied - gotRange,
          unmapMs: unmapped - copied,
          totalMs: unmapped - t0,
        });
      }
      if (!withWork) break;
    }
  }
  gpu.freeTensor(q);
  gpu.freeTensor(o);
}

printTable(rows);
printTable(phases);
const json = args.get("json");
if (json) writeJson(json, { env, bytes, repeats, rows, phases });
gpu.destroy();
