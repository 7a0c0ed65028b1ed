// Probe: where Dawn's wall clock goes while the GPU works (bench/RESULTS.md, "Attention on Dawn": on Dawn the
// wall clock of long waits is 2-4x the GPU time; on wgpu it is not). One ALU-bound kernel (--loop iterations
// per invocation), --dispatches dispatches in one submit, timed four ways:
//   wait      submit, then await onSubmittedWorkDone (what Gpu.sync does)
//   sleep     submit, sleep --sleep-ms with a timer first, then await onSubmittedWorkDone
//   scopes    as wait, with a validation error scope pushed/popped around every dispatch (as Gpu.dispatch does)
//   gpu       the kernel's own time by timestamp queries (where the adapter has them)
//   deno run -A bench/variants/dawn_wait.ts [--webgpu dawn|deno] [--loop 20000] [--dispatches 8] [--sleep-ms 0]
// SHARDIT_DAWN_POLLING=busy: dawn.node's own busy loop (src/platform/dawn_polling.ts is the default).
import { useWebGpu } from "../../src/platform/webgpu_deno.ts";
import { parseArgs } from "../../src/cli/args.ts";

const p = parseArgs(Deno.args);
const get = (k: string, d: string) => (p.flags.get(k) as string | undefined) ?? d;
const backend = await useWebGpu((get("webgpu", "dawn")) as "dawn" | "deno");
const adapter = (await backend.gpu.requestAdapter())!;
const hasTs = adapter.features.has("timestamp-query");
const device = await adapter.requestDevice({ requiredFeatures: hasTs ? ["timestamp-query"] : [] });
const loop = Number(get("loop", "20000")), dispatches = Number(get("dispatches", "8")), sleepMs = Number(get("sleep-ms", "0"));
const module = device.createShaderModule({
  code: `@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3u) {
  var a = f32(id.x) * 1e-6; var b = 1.0001;
  for (var i = 0u; i < ${loop}u; i++) { a = fma(a, b, 1e-7); b = fma(b, 0.99999, 1e-6); }
  out[id.x] = a + b;
}`,
});
const pipeline = device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
const n = 64 * 256;
const buf = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE });
const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: buf } }] });
const qs = hasTs ? device.createQuerySet({ type: "timestamp", count: 2 }) : null;
const qbuf = device.createBuffer({ size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
const rbuf = device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });

function record(scopes: boolean, timestamps: boolean): GPUCommandBuffer {
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass(timestamps && qs ? { timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {});
  pass.setPipeline(pipeline);
  for (let i = 0; i < dispatches; i++) {
    if (scopes) device.pushErrorScope("validation");
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(n / 64);
    if (scopes) device.popErrorScope().then(() => {});
  }
  pass.end();
  if (timestamps && qs) {
    enc.resolveQuerySet(qs, 0, 2, qbuf, 0);
    enc.copyBufferToBuffer(qbuf, 0, rbuf, 0, 16);
  }
  return enc.finish();
}

async function timed(kind: string): Promise<number> {
  const cb = record(kind === "scopes", false);
  const t0 = performance.now();
  device.queue.submit([cb]);
  if (kind === "sleep" && sleepMs > 0) await new Promise((r) => setTimeout(r, sleepMs));
  await device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

async function gpuMs(): Promise<number> {
  device.queue.submit([record(false, true)]);
  await rbuf.mapAsync(GPUMapMode.READ);
  const t = new BigUint64Array(rbuf.getMappedRange().slice(0));
  rbuf.unmap();
  return Number(t[1] - t[0]) / 1e6;
}

await timed("wait"); // warm-up
const rows: Record<string, number[]> = { wait: [], sleep: [], scopes: [], gpu: [] };
for (let r = 0; r < 3; r++) {
  rows.wait.push(await timed("wait"));
  rows.sleep.push(await timed("sleep"));
  rows.scopes.push(await timed("scopes"));
  if (qs) rows.gpu.push(await gpuMs());
}
const info = adapter.info;
console.log(`${backend.implementation}: ${info.vendor} ${info.architecture} ${info.description}; loop ${loop}, ${dispatches} dispatches, sleep ${sleepMs} ms, polling ${backend.implementation === "dawn" ? Deno.env.get("SHARDIT_DAWN_POLLING") ?? "timers after 1 ms" : "n/a"}`);
for (const [k, v] of Object.entries(rows)) if (v.length) console.log(`${k.padEnd(7)} ${v.map((x) => x.toFixed(1)).join("  ")} ms`);
device.destroy();
