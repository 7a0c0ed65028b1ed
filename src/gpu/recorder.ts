// The command recorder of one Gpu: dispatches go into one compute pass of one command encoder and are
// submitted together on flush (Gpu.flush/sync/read); each dispatch's uniforms take a 256-byte slot of a
// ring that is written once per submit; a validation error scope per dispatch names the op in errors.
// With a Profiler, each dispatch gets its own timed pass.
import type { Profiler } from "./profiler.ts";
import type { Tensor } from "./tensor.ts";
import type { UniformPacker } from "./uniforms.ts";
import { dtypeBytes } from "../shape.ts";

/** A compiled shader of Gpu.kernel: its pipeline and the packer of its `Params` uniform struct. */
export interface Kernel {
  /** Op name, used in error scopes and timing. */
  op: string;
  pipeline: GPUComputePipeline;
  /** Packs the shader's `Params` struct (binding 0), or null if it has none. */
  params: UniformPacker | null;
}

export interface BindingRange {
  buffer: GPUBuffer;
  offset?: number;
  size?: number;
}
export type Binding = GPUBuffer | BindingRange | Tensor;

const UNIFORM_SLOT = 256; // >= minUniformBufferOffsetAlignment on every adapter (spec maximum is 256)
const UNIFORM_RING_SLOTS = 1024;

export class Recorder {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniformRing: GPUBuffer;
  private readonly uniformStaging = new Uint8Array(UNIFORM_SLOT * UNIFORM_RING_SLOTS);
  private uniformUsed = 0;

  /**
   * `label` names the device; `onError` gets a dispatch's validation error (asynchronous); `error(message)`
   * makes the error thrown for a dispatch over the adapter's workgroup limits.
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly label: string,
    private readonly profiler: Profiler | null,
    private readonly onError: (message: string) => void,
    private readonly error: (message: string) => Error,
  ) {
    this.uniformRing = device.createBuffer({
      label: `${label} uniforms`,
      size: this.uniformStaging.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }

  /** Whether commands are recorded but not yet submitted. */
  get pending(): boolean {
    return this.encoder !== null;
  }

  /**
   * Records one dispatch of `kernel`. `params` fills the shader's uniform struct (binding 0);
   * `bindings[i]` goes to @binding(i + 1).
   */
  dispatch(kernel: Kernel, params: Record<string, number>, bindings: Binding[], workgroups: [number, number?, number?]): void {
    const [x, y = 1, z = 1] = workgroups;
    const maxWg = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw this.error(`${this.label}: ${kernel.op} dispatch [${x},${y},${z}] exceeds maxComputeWorkgroupsPerDimension ${maxWg}`);
    }
    if (x === 0 || y === 0 || z === 0) return;
    if (this.uniformUsed === UNIFORM_RING_SLOTS) this.flush();
    const entries: GPUBindGroupEntry[] = [];
    if (kernel.params) {
      const slot = this.uniformUsed++;
      kernel.params.pack(params, this.uniformStaging, slot * UNIFORM_SLOT, kernel.op);
      entries.push({ binding: 0, resource: { buffer: this.uniformRing, offset: slot * UNIFORM_SLOT, size: kernel.params.size } });
    }
    bindings.forEach((b, i) => entries.push({ binding: i + 1, resource: asBufferBinding(b) }));
    // A validation error scope per dispatch, so an error names the op that caused it (reported by Gpu.sync()).
    this.device.pushErrorScope("validation");
    const bindGroup = this.device.createBindGroup({ label: kernel.op, layout: kernel.pipeline.getBindGroupLayout(0), entries });
    const pass = this.beginPass(kernel.op);
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (this.profiler) this.endPass();
    this.device.popErrorScope().then((e) => {
      if (e) this.onError(`${this.label}: ${kernel.op} [${x},${y},${z}]: ${e.message}`);
    });
  }

  /** Copies bytes between buffers inside the current batch (ordered with the dispatches). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.endPass();
    this.ensureEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits everything recorded so far (the uniforms first, then the commands and the profiler's resolve). */
  flush(): void {
    this.endPass();
    if (this.uniformUsed > 0) {
      this.device.queue.writeBuffer(this.uniformRing, 0, this.uniformStaging, 0, this.uniformUsed * UNIFORM_SLOT);
      this.uniformUsed = 0;
    }
    if (this.profiler?.recorded) {
      const enc = this.ensureEncoder();
      const afterSubmit = this.profiler.resolveInto(enc);
      this.device.queue.submit([enc.finish()]);
      this.encoder = null;
      afterSubmit();
    } else if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
    }
  }

  private ensureEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder({ label: this.label });
    return this.encoder;
  }

  private beginPass(op: string): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    if (this.profiler) {
      if (this.profiler.full) this.flush(); // resolve the full query set first (uniforms written, then submitted)
      this.pass = this.ensureEncoder().beginComputePass({ timestampWrites: this.profiler.timestampWrites(op) });
    } else {
      this.pass = this.ensureEncoder().beginComputePass({ label: this.label });
    }
    return this.pass;
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Drops what is recorded and destroys the uniform ring. */
  destroy(): void {
    this.encoder = null;
    this.pass = null;
    this.uniformRing.destroy();
  }
}

function asBufferBinding(b: Binding): GPUBufferBinding {
  if ("usage" in b) return { buffer: b as GPUBuffer };
  if ("shape" in b) {
    const t = b as Tensor;
    const bytes = t.shape.reduce((a, c) => a * c, 1) * dtypeBytes(t.dtype);
    return { buffer: t.buffer, offset: t.offset, size: Math.max(4, Math.ceil(bytes / 4) * 4) };
  }
  const r = b as BindingRange;
  return { buffer: r.buffer, offset: r.offset ?? 0, size: r.size };
}
