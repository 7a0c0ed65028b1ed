// The runtime's own promises: errors name the op and the limit, buffers are pooled, uniforms match the WGSL.
import { GpuError } from "../../gpu/device.ts";
import { parseUniformStruct } from "../../gpu/uniforms.ts";
import { rmsNorm } from "../../ops/rms_norm.ts";
import { silu } from "../../ops/activation.ts";
import { siluRef } from "../reference/activation.ts";
import { expectClose, f64, test, TOL, withGpu } from "../harness.ts";

async function expectThrows(what: string, fn: () => unknown, pattern: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    if (pattern.test((e as Error).message)) return;
    throw new Error(`${what}: error "${(e as Error).message}" does not match ${pattern}`);
  }
  throw new Error(`${what}: no error`);
}

test("runtime: a validation error in a dispatch is reported by sync() naming the op", () =>
  withGpu(async (gpu) => {
    const x = gpu.upload(new Float32Array(8), [2, 4]);
    // A buffer without STORAGE usage bound as the weight: invalid bind group.
    const bad = gpu.device.createBuffer({ size: 16, usage: GPUBufferUsage.COPY_DST });
    // The invalid bind group also makes the encoder's finish() and the submit fail, outside the op's own
    // scope: catch those here, or they reach the device as uncaptured errors after the test, and Dawn prints
    // them at exit (after selftest's summary line, issue 19).
    gpu.device.pushErrorScope("validation");
    rmsNorm(gpu, x, { buffer: bad, shape: [4], dtype: "f32", offset: 0 });
    await expectThrows("sync", () => gpu.sync(), /rms_norm/);
    await gpu.device.popErrorScope(); // Dawn: the invalid CommandBuffer; wgpu: the set_bind_group command
    bad.destroy();
  }));

test("runtime: bindings beyond the adapter's limit and bad uploads are named errors", () =>
  withGpu(async (gpu) => {
    const max = gpu.limits.maxStorageBufferBindingSize;
    await expectThrows("checkBinding", () => gpu.checkBinding(max + 4, "activations [L, ffn]"), /activations \[L, ffn\].*maxStorageBufferBindingSize/);
    await expectThrows("upload", () => gpu.upload(new Float32Array(5), [2, 3], "f32", "w"), /w has 5 values, shape \[2,3\] needs 6/);
    if (!(new GpuError("x") instanceof Error)) throw new Error("GpuError is not an Error");
  }));

test("runtime: the buffer pool reuses released buffers of the same bucket", () =>
  withGpu(async (gpu) => {
    const a = gpu.acquire(1000);
    gpu.release(a);
    const b = gpu.acquire(900);
    if (a !== b) throw new Error("a released 1024-byte bucket was not reused for 900 bytes");
    const c = gpu.acquire(5000);
    if (c === a || c.size < 5000) throw new Error("a larger request got a too-small buffer");
  }));

test("runtime: uniform layouts are parsed from the WGSL struct and checked when packed", async () => {
  const p = parseUniformStruct("struct Params {\n  rows: u32, // count\n  eps: f32,\n  shift: i32,\n}", "Params")!;
  if (p.size !== 16 || p.fields.map((f) => f.name).join() !== "rows,eps,shift") throw new Error(`parsed ${JSON.stringify(p.fields)} size ${p.size}`);
  const buf = new Uint8Array(16);
  p.pack({ rows: 3, eps: 0.5, shift: -2 }, buf, 0, "op");
  const v = new DataView(buf.buffer);
  if (v.getUint32(0, true) !== 3 || v.getFloat32(4, true) !== 0.5 || v.getInt32(8, true) !== -2) throw new Error("packed values wrong");
  await expectThrows("missing", () => p.pack({ rows: 3, eps: 1 }, buf, 0, "op"), /Params\.shift is missing/);
  await expectThrows("extra", () => p.pack({ rows: 3, eps: 1, shift: 0, cols: 1 }, buf, 0, "op"), /cols is not a field/);
  await expectThrows("negative u32", () => p.pack({ rows: -1, eps: 1, shift: 0 }, buf, 0, "op"), /non-negative integer/);
});

// readInto's whileCopying (the overlapped exchange): the copies hold the values from before the work it
// records, the work runs (its result is there afterwards), and both reads and the work are in order.
test("runtime: readInto with whileCopying reads the values before the work it submits", () =>
  withGpu(async (gpu) => {
    const values = Float32Array.from({ length: 300 }, (_, i) => i - 150.5);
    const x = gpu.upload(values, [300]);
    const dst = new Uint8Array(new SharedArrayBuffer(300 * 4));
    let ran = false;
    await gpu.readInto([{ buffer: x.buffer, offset: x.offset, bytes: 300 * 4, dst }], () => {
      silu(gpu, x); // in place, recorded once the readback is mapped
      ran = true;
    });
    if (!ran) throw new Error("whileCopying was not called");
    expectClose("the read (before SiLU)", new Float32Array(dst.buffer), values, 0);
    expectClose("x after the work (SiLU)", await gpu.read(x), siluRef(f64(values)), TOL.elementwise.f32);
  }));
