// Checks, one by one, the subgroup-matrix primitives that shaders/attention_matrix.wgsl relies on, on the
// device that `--webgpu` picks (Dawn on NVIDIA): loads of left (row-major) and right (column- and row-major)
// f16 tiles from padded workgroup memory, f32 results stored to and loaded from workgroup memory with a
// padded stride, a result variable declared inside a loop, subgroup_id vs local_invocation_index / 32 and
// subgroupShuffleXor. Each check compares with a plain JS computation on small integers (exact in f16).
//   deno run -A bench/variants/matrix_primitives.ts --webgpu dawn
import { webgpu } from "../common.ts";
import { Gpu } from "../../src/gpu/device.ts";

const gpu = await Gpu.create({ label: "primitives" });
console.log(`webgpu ${webgpu.implementation}, subgroup matrix ${gpu.features.subgroupMatrix}, subgroups ${gpu.features.subgroupMinSize}..${gpu.features.subgroupMaxSize}`);
const dev = gpu.device;
const A = Float32Array.from({ length: 256 }, (_, i) => ((i * 7) % 11) - 5); // [16, 16] row-major
const B = Float32Array.from({ length: 256 }, (_, i) => ((i * 5) % 9) - 4); // [16, 16] row-major
const matmul = (a: Float32Array, b: Float32Array, bT: boolean) => {
  const c = new Float32Array(256);
  for (let m = 0; m < 16; m++) for (let n = 0; n < 16; n++) {
    let s = 0;
    for (let k = 0; k < 16; k++) s += a[m * 16 + k] * (bT ? b[n * 16 + k] : b[k * 16 + n]);
    c[m * 16 + n] = s;
  }
  return c;
};

const prelude = `enable f16;
enable subgroups;
enable chromium_experimental_subgroup_matrix;
diagnostic(off, chromium.subgroup_matrix_uniformity);
alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Result = subgroup_matrix_result<f32, 16, 16>;
@group(0) @binding(0) var<storage, read> a: array<f16>;
@group(0) @binding(1) var<storage, read> b: array<f16>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
const DS = 136u;
const SS = 36u;
var<workgroup> ta: array<f16, 16u * DS>;
var<workgroup> tb: array<f16, 16u * DS>;
var<workgroup> ss: array<f32, 16u * SS>;
fn stage(lid: u32) {
  for (var i = lid; i < 256u; i += 32u) { ta[(i / 16u) * DS + i % 16u] = a[i]; tb[(i / 16u) * DS + i % 16u] = b[i]; }
  workgroupBarrier();
}
fn unstage(lid: u32) {
  workgroupBarrier();
  for (var i = lid; i < 256u; i += 32u) { out[i] = ss[(i / 16u) * SS + i % 16u]; }
}
`;
async function run(name: string, body: string, want: (o: Float32Array) => string | null, threads = 32, outLen = 256) {
  const code = `${prelude}
@compute @workgroup_size(${threads})
fn main(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_id) sgid: u32, @builtin(subgroup_invocation_id) sgl: u32) {
${body}
}`;
  dev.pushErrorScope("validation");
  const module = dev.createShaderModule({ code });
  const pipeline = dev.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
  const err = await dev.popErrorScope();
  if (err) return console.log(`${name}: COMPILE ${err.message.slice(0, 300)}`);
  const mk = (x: Float32Array) => {
    const bytes = new Uint16Array(new Float16Array(x).buffer);
    const buf = dev.createBuffer({ size: bytes.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    dev.queue.writeBuffer(buf, 0, bytes);
    return buf;
  };
  const ob = dev.createBuffer({ size: outLen * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const rb = dev.createBuffer({ size: outLen * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const bg = dev.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [mk(A), mk(B), ob].map((buffer, binding) => ({ binding, resource: { buffer } })) });
  const enc = dev.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, bg);
  pass.dispatchWorkgroups(1);
  pass.end();
  enc.copyBufferToBuffer(ob, 0, rb, 0, outLen * 4);
  dev.queue.submit([enc.finish()]);
  await rb.mapAsync(GPUMapMode.READ);
  const o = new Float32Array(rb.getMappedRange().slice(0));
  rb.unmap();
  const bad = want(o);
  console.log(`${name}: ${bad ?? "ok"}`);
}
const same = (want: Float32Array) => (o: Float32Array) => {
  const diff = [...want.keys()].filter((i) => o[i] !== want[i]);
  return diff.length ? `${diff.length} of 256 differ; first [${diff[0]}] got ${o[diff[0]]} want ${want[diff[0]]}; got[0..8] ${Array.from(o.slice(0, 8))} want[0..8] ${Array.from(want.slice(0, 8))}` : null;
};
const ABt = matmul(A, B, true), AB = matmul(A, B, false);

await run("A B^T, right col_major, result -> storage stride 16", `stage(lid);
  let l = subgroupMatrixLoad<Left, row_major>(&ta, 0u, DS);
  let r = subgroupMatrixLoad<Right, col_major>(&tb, 0u, DS);
  var s: Result;
  s = subgroupMatrixMultiplyAccumulate(l, r, s);
  subgroupMatrixStore<row_major>(&out, 0u, s, 16u);`, same(ABt));
await run("A B, right row_major, result -> storage stride 16", `stage(lid);
  let l = subgroupMatrixLoad<Left, row_major>(&ta, 0u, DS);
  let r = subgroupMatrixLoad<Right, row_major>(&tb, 0u, DS);
  var s: Result;
  s = subgroupMatrixMultiplyAccumulate(l, r, s);
  subgroupMatrixStore<row_major>(&out, 0u, s, 16u);`, same(AB));
await run("A B^T, result -> workgroup stride 36 -> lanes", `stage(lid);
  let l = subgroupMatrixLoad<Left, row_major>(&ta, 0u, DS);
  let r = subgroupMatrixLoad<Right, col_major>(&tb, 0u, DS);
  var s: Result;
  s = subgroupMatrixMultiplyAccumulate(l, r, s);
  subgroupMatrixStore<row_major>(&ss, 0u, s, SS);
  unstage(lid);`, same(ABt));
await run("result round trip through workgroup (store, load, store)", `stage(lid);
  let l = subgroupMatrixLoad<Left, row_major>(&ta, 0u, DS);
  let r = subgroupMatrixLoad<Right, col_major>(&tb, 0u, DS);
  var s: Result;
  s = subgroupMatrixMultiplyAccumulate(l, r, s);
  subgroupMatrixStore<row_major>(&ss, 0u, s, SS);
  workgroupBarrier();
  let s2 = subgroupMatrixLoad<Result, row_major>(&ss, 0u, SS);
  subgroupMatrixStore<row_major>(&out, 0u, s2, 16u);`, same(ABt));
await run("result var declared in a loop is zero each iteration", `stage(lid);
  let l = subgroupMatrixLoad<Left, row_major>(&ta, 0u, DS);
  let r = subgroupMatrixLoad<Right, col_major>(&tb, 0u, DS);
  for (var j = 0u; j < 3u; j++) {
    var s: Result;
    s = subgroupMatrixMultiplyAccumulate(l, r, s);
    subgroupMatrixStore<row_major>(&out, 0u, s, 16u);
  }`, same(ABt));
await run("result var = Result(0.0) declared in a loop is zero each iteration", `stage(lid);
  let l = subgroupMatrixLoad<Left, row_major>(&ta, 0u, DS);
  let r = subgroupMatrixLoad<Right, col_major>(&tb, 0u, DS);
  for (var j = 0u; j < 3u; j++) {
    var s = Result(0.0);
    s = subgroupMatrixMultiplyAccumulate(l, r, s);
    subgroupMatrixStore<row_major>(&out, 0u, s, 16u);
  }`, same(ABt));
await run("left loaded inside a subgroup-uniform branch", `stage(lid);
  var l: Left;
  if (lid / 32u == 0u) { l = subgroupMatrixLoad<Left, row_major>(&ta, 0u, DS); }
  let r = subgroupMatrixLoad<Right, col_major>(&tb, 0u, DS);
  var s: Result;
  s = subgroupMatrixMultiplyAccumulate(l, r, s);
  subgroupMatrixStore<row_major>(&out, 0u, s, 16u);`, same(ABt));
await run("subgroupMatrixMultiply (no accumulator) in a loop", `stage(lid);
  let l = subgroupMatrixLoad<Left, row_major>(&ta, 0u, DS);
  let r = subgroupMatrixLoad<Right, col_major>(&tb, 0u, DS);
  for (var j = 0u; j < 3u; j++) {
    var s = subgroupMatrixMultiply<f32>(l, r);
    subgroupMatrixStore<row_major>(&out, 0u, s, 16u);
  }`, same(ABt));
await run("scalar multiply of a result", `stage(lid);
  let l = subgroupMatrixLoad<Left, row_major>(&ta, 0u, DS);
  let r = subgroupMatrixLoad<Right, col_major>(&tb, 0u, DS);
  var s: Result;
  s = subgroupMatrixMultiplyAccumulate(l, r, s);
  s = subgroupMatrixScalarMultiply(s, 0.5);
  subgroupMatrixStore<row_major>(&out, 0u, s, 16u);`, same(ABt.map((x) => x * 0.5)));
await run("subgroup_id == lid / 32 and subgroup_invocation_id == lid % 32 (128 invocations)", `
  _ = a[0];
  _ = b[0];
  out[lid] = f32(sgid * 32u + sgl) - f32(lid);
  out[128u + lid] = subgroupShuffleXor(f32(lid), 1u);`, (o) => {
  const badId = [...Array(128).keys()].filter((i) => o[i] !== 0);
  const badX = [...Array(128).keys()].filter((i) => o[128 + i] !== (i ^ 1));
  return badId.length || badX.length ? `id mismatches ${badId.length} (first lid ${badId[0]}: ${o[badId[0]]}), shuffleXor mismatches ${badX.length} (lid ${badX[0]} got ${o[128 + badX[0]]})` : null;
}, 128, 256);
gpu.destroy();
