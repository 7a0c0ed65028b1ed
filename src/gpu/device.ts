// The WebGPU runtime: one Gpu per GPUDevice (one WebGPU device, what --devices counts: several may share
// one physical GPU; --gpus names physical GPUs for placement, src/platform/deno_gpus.ts). It acquires the
// adapter and device (asking for the limits the adapter can give), checks once and loudly what shardit
// needs, and keeps the pipeline cache, uploads and readback; the buffer pool (buffer_pool.ts), the command
// batch with its uniform ring (recorder.ts) and the per-op timestamps (profiler.ts) are its parts.
// The same code runs in Deno, a browser page and a Web Worker: it touches only a `GPU` object, by default
// `navigator.gpu`; a Deno entry point may register another (Dawn) with setWebGpu (src/platform/webgpu_deno.ts).

import { preprocessShader, shaderSource } from "./shaders.ts";
import { parseUniformStruct, type UniformPacker } from "./uniforms.ts";
import { type DType, dtypeBytes } from "../shape.ts";
import { type Tensor } from "./tensor.ts";
import { BufferPool } from "./buffer_pool.ts";
import { Profiler } from "./profiler.ts";
import { type Binding, type Kernel, Recorder } from "./recorder.ts";

/** What shardit cannot run without; checked once in Gpu.create. */
export const REQUIRED_LIMITS = {
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxStorageBuffersPerShaderStage: 6,
  maxStorageBufferBindingSize: 16 << 20,
} as const;

/** Limits we ask for at the adapter's maximum (defaults are far below what GPUs offer). */
const REQUESTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

/** The WebGPU implementation Gpu.create uses when not given one: set once per process or worker. */
let defaultWebGpu: { gpu: GPU; implementation: string; quirks: WebGpuQuirks } | null = null;

/** What an implementation needs worked around (set by whoever registers it). */
export interface WebGpuQuirks {
  /**
   * queue.writeBuffer must not see a view of a SharedArrayBuffer: Dawn's Node-API addon in Deno segfaults
   * on one (found with the pool's shared weights and latents); such writes go through a private copy.
   */
  noSharedWrites?: boolean;
}

/** Registers the `GPU` object (and its name, e.g. "dawn", "deno") every later Gpu.create uses by default. */
export function setWebGpu(gpu: GPU, implementation: string, quirks: WebGpuQuirks = {}): void {
  defaultWebGpu = { gpu, implementation, quirks };
}

/** Bytes per private copy of a shared write (WebGpuQuirks.noSharedWrites). */
const SHARED_WRITE_CHUNK = 16 << 20;

/** The chromium-experimental-subgroup-matrix feature: f16 (etc.) matrix tiles on the matrix units. */
export const SUBGROUP_MATRIX_FEATURE = "chromium-experimental-subgroup-matrix";

/** One entry of adapter.info.subgroupMatrixConfigs: operand and result types and the M x N x K tile. */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface GpuOptions {
  /** The WebGPU implementation (default: the one registered by setWebGpu, else navigator.gpu). */
  gpu?: GPU;
  /** Its name in describe() and errors (with `gpu`). */
  implementation?: string;
  /** Its quirks (with `gpu`). */
  quirks?: WebGpuQuirks;
  powerPreference?: GPUPowerPreference;
  /** Fail at start-up if the adapter has no shader-f16 (for --precision f16). */
  requireF16?: boolean;
  /** Turn on per-dispatch timestamp queries (profiling; costs one compute pass per dispatch). */
  profile?: boolean;
  /** Names this device in every error (e.g. "device 2"). */
  label?: string;
}

export interface GpuFeatures {
  f16: boolean;
  timestamps: boolean;
  subgroups: boolean;
  /** chromium-experimental-subgroup-matrix granted (Dawn; Chrome with the flag). */
  subgroupMatrix: boolean;
  /** The adapter's matrix tiles (empty without subgroupMatrix). */
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
  /** Subgroup size range from the adapter info (0 when not reported). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

export type { Binding, BindingRange, Kernel } from "./recorder.ts";

export class GpuError extends Error {}

/**
 * One GPUDevice: the facade over its parts. The buffer pool (buffer_pool.ts), the command recorder with
 * the uniform ring (recorder.ts) and the profiler (profiler.ts) are separate classes; Gpu adds the device's
 * creation and checks, the pipeline cache, uploads and readback, and the first asynchronous error.
 */
export class Gpu {
  readonly device: GPUDevice;
  readonly adapterInfo: GPUAdapterInfo;
  readonly features: GpuFeatures;
  readonly limits: GPUSupportedLimits;
  readonly label: string;
  /** Which WebGPU implementation made this device ("dawn", "deno", "navigator.gpu"). */
  readonly implementation: string;
  private readonly quirks: WebGpuQuirks;
  private sharedWriteCopy: Uint8Array | null = null;
  /** Set when the device is lost; every later call throws it. */
  lost: string | null = null;
  /** The first asynchronous GPU error (validation, out of memory), naming its op; thrown by sync(). */
  private deferredError: string | null = null;

  private pipelines = new Map<string, Kernel>();
  /** False for a Gpu made by sharing(): its destroy() leaves the device to the Gpu that created it. */
  private ownsDevice = true;
  private onUncapturedError: (e: Event) => void;
  private readonly pool: BufferPool;
  private readonly recorder: Recorder;
  private readonly profiler: Profiler | null;
  /** Accumulated GPU milliseconds per op name while profiling (empty otherwise). */
  readonly opTimes: Map<string, { ms: number; count: number }>;

  private constructor(device: GPUDevice, info: GPUAdapterInfo, features: GpuFeatures, implementation: string, quirks: WebGpuQuirks, opts: GpuOptions) {
    this.device = device;
    this.implementation = implementation;
    this.quirks = quirks;
    this.adapterInfo = info;
    this.features = features;
    this.limits = device.limits;
    this.label = opts.label ?? "device 0";
    const report = (message: string) => {
      this.deferredError ??= message;
    };
    this.profiler = opts.profile && features.timestamps ? new Profiler(device) : null;
    this.opTimes = this.profiler?.opTimes ?? new Map();
    this.pool = new BufferPool(device, this.label, this.limits.maxBufferSize, report, (size, what) =>
      new GpuError(`${this.label}: ${what} needs ${size} bytes, over the adapter's maxBufferSize ${this.limits.maxBufferSize}`));
    this.recorder = new Recorder(device, this.label, this.profiler, report, (message) => new GpuError(message));
    this.onUncapturedError = (e) => report(`${this.label}: ${(e as GPUUncapturedErrorEvent).error.message}`);
    device.addEventListener("uncapturederror", this.onUncapturedError);
    device.lost.then((info) => {
      if (info.reason !== "destroyed") this.lost = `${this.label} was lost: ${info.message || info.reason}`;
    });
  }

  static async create(opts: GpuOptions = {}): Promise<Gpu> {
    const label = opts.label ?? "device 0";
    const implementation = opts.gpu ? (opts.implementation ?? "given") : (defaultWebGpu?.implementation ?? "navigator.gpu");
    const quirks = opts.gpu ? (opts.quirks ?? {}) : (defaultWebGpu?.quirks ?? {});
    const gpu = opts.gpu ?? defaultWebGpu?.gpu ?? (typeof navigator === "undefined" ? undefined : navigator.gpu);
    if (!gpu) throw new GpuError(`${label}: WebGPU is not available here (navigator.gpu is missing)`);
    const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
    if (!adapter) throw new GpuError(`${label}: no WebGPU adapter was found (${implementation})`);
    for (const [name, need] of Object.entries(REQUIRED_LIMITS)) {
      const have = adapter.limits[name as keyof GPUSupportedLimits] as number;
      if (have < need) {
        throw new GpuError(`${label}: adapter "${describeAdapter(adapter.info)}" limit ${name} is ${have}, shardit needs at least ${need}`);
      }
    }
    const has = (f: string) => adapter.features.has(f as GPUFeatureName);
    if (opts.requireF16 && !has("shader-f16")) {
      throw new GpuError(`${label}: adapter "${describeAdapter(adapter.info)}" has no shader-f16 feature; use --precision f32`);
    }
    const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number; subgroupMatrixConfigs?: unknown[] };
    const subgroupMatrix = has("subgroups") && has("shader-f16") && has(SUBGROUP_MATRIX_FEATURE);
    const features: GpuFeatures = {
      f16: has("shader-f16"),
      timestamps: has("timestamp-query"),
      subgroups: has("subgroups"),
      subgroupMatrix,
      subgroupMatrixConfigs: subgroupMatrix ? readMatrixConfigs(info.subgroupMatrixConfigs) : [],
      subgroupMinSize: info.subgroupMinSize ?? 0,
      subgroupMaxSize: info.subgroupMaxSize ?? 0,
    };
    const requiredFeatures: GPUFeatureName[] = [];
    if (features.f16) requiredFeatures.push("shader-f16");
    if (features.timestamps) requiredFeatures.push("timestamp-query");
    if (features.subgroups) requiredFeatures.push("subgroups" as GPUFeatureName);
    if (features.subgroupMatrix) requiredFeatures.push(SUBGROUP_MATRIX_FEATURE as GPUFeatureName);
    const requiredLimits: Record<string, number> = {};
    for (const name of REQUESTED_LIMITS) requiredLimits[name] = adapter.limits[name] as number;
    const device = await adapter.requestDevice({ label, requiredFeatures, requiredLimits });
    return new Gpu(device, adapter.info, features, implementation, quirks, opts);
  }

  /**
   * Another Gpu on this one's device, with its own buffers, buffer pool, uniform ring and error state, all
   * destroyed by its destroy(), which leaves the device. It shares the compiled pipelines: for many
   * independent checks where compiling dominates (the browser test host, where SwiftShader takes seconds
   * per pipeline; Deno's tests keep a fresh device each).
   */
  sharing(label = this.label): Gpu {
    const g = new Gpu(this.device, this.adapterInfo, this.features, this.implementation, this.quirks, { label, profile: this.profiler !== null });
    g.ownsDevice = false;
    g.pipelines = this.pipelines;
    return g;
  }

  /** Adapter name, backend hints, features and granted limits, for selftest and reports. */
  describe(): Record<string, unknown> {
    const l = this.limits;
    return {
      implementation: this.implementation,
      adapter: describeAdapter(this.adapterInfo),
      vendor: this.adapterInfo.vendor,
      architecture: this.adapterInfo.architecture,
      fallback: (this.adapterInfo as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
      features: this.features,
      limits: Object.fromEntries(REQUESTED_LIMITS.map((n) => [n, l[n]])),
    };
  }

  // ---------------------------------------------------------------- pipelines

  /**
   * The compiled kernel for shader `op` with compile-time `defines` (dtype, tile sizes, head dim...).
   * Cached by exactly those: shapes and offsets go in uniforms, never here.
   */
  kernel(op: string, defines: Record<string, string | number | boolean> = {}): Kernel {
    const key = op + JSON.stringify(Object.entries(defines).sort());
    const hit = this.pipelines.get(key);
    if (hit) return hit;
    this.checkAlive();
    const code = preprocessShader(shaderSource(op), defines);
    if (defines.f16 && !this.features.f16) {
      throw new GpuError(`${this.label}: ${op} in f16 needs the shader-f16 feature, which this adapter lacks`);
    }
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ label: op, code });
    const pipeline = this.device.createComputePipeline({ label: op, layout: "auto", compute: { module, entryPoint: "main" } });
    const err = this.device.popErrorScope();
    const params = parseUniformStruct(code, "Params");
    const kernel: Kernel = { op, pipeline, params };
    this.pipelines.set(key, kernel);
    // Compilation errors surface asynchronously; record them against the op so the next sync names it.
    err.then((e) => {
      if (e) this.deferredError ??= `${this.label}: shader ${op} ${JSON.stringify(defines)} failed to compile: ${e.message}`;
    });
    return kernel;
  }

  // ---------------------------------------------------------------- buffers (buffer_pool.ts)

  /** A storage buffer of at least `bytes` from the pool (sizes rounded to buckets so reuse hits). */
  acquire(bytes: number, label = "buffer"): GPUBuffer {
    this.checkAlive();
    return this.pool.acquire(bytes, label);
  }

  /** Returns a buffer to the pool. Safe to call while queued work still uses it (the queue orders). */
  release(buf: GPUBuffer): void {
    this.pool.release(buf);
  }

  /** How many pooled buffers are handed out now (a forward must give back everything it took). */
  get liveBuffers(): number {
    return this.pool.liveCount;
  }

  /** The buffers handed out now: `releaseSince(mark)` gives back every one taken after it (a failed run's scratch). */
  liveMark(): ReadonlySet<GPUBuffer> {
    return this.pool.mark();
  }

  releaseSince(mark: ReadonlySet<GPUBuffer>): void {
    this.pool.releaseSince(mark);
  }

  /**
   * Marks `t` as held by a cache for as long as this Gpu lives, so that releaseSince (a failed run giving
   * back its scratch) keeps it even when the run that first needed it created it.
   */
  pin(t: Tensor): void {
    this.pool.pin(t.buffer);
  }

  /** A tensor of `shape` and `dtype`, pooled. */
  empty(shape: readonly number[], dtype: DType, label = "tensor"): Tensor {
    const bytes = shape.reduce((a, b) => a * b, 1) * dtypeBytes(dtype);
    this.checkBinding(bytes, label);
    return { buffer: this.acquire(bytes, label), shape: [...shape], dtype, offset: 0 };
  }

  /** Uploads f32 values as a tensor of `dtype` (converted to f16 on the way when asked). */
  upload(data: Float32Array, shape: readonly number[], dtype: DType = "f32", label = "tensor"): Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    if (data.length !== n) throw new GpuError(`${this.label}: ${label} has ${data.length} values, shape [${shape}] needs ${n}`);
    const t = this.empty(shape, dtype, label);
    this.write(t, data);
    return t;
  }

  /** Writes f32 values into a tensor, converting to its dtype. */
  write(t: Tensor, data: Float32Array, elementOffset = 0): void {
    this.checkAlive();
    const bytes = dtypeBytes(t.dtype);
    const src = t.dtype === "f16" ? new Float16Array(data) : data;
    // writeBuffer needs a byte length that is a multiple of 4: pad an odd f16 count by one element.
    const padded = src.byteLength % 4 === 0 ? src : copyPadded(src);
    this.writeBytes(t.buffer, t.offset + elementOffset * bytes, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  /**
   * queue.writeBuffer, ordered after everything recorded so far: writeBuffer runs ahead of commands that
   * are recorded but not yet submitted, and a pooled buffer may still be read by such commands.
   */
  writeBytes(buffer: GPUBuffer, offset: number, data: ArrayBufferLike, dataOffset: number, size: number): void {
    this.checkAlive();
    if (this.recorder.pending) this.flush();
    if (this.quirks.noSharedWrites && typeof SharedArrayBuffer !== "undefined" && data instanceof SharedArrayBuffer) {
      // writeBuffer copies at call time, so one private chunk serves every piece.
      this.sharedWriteCopy ??= new Uint8Array(Math.min(SHARED_WRITE_CHUNK, Math.max(size, 4)));
      for (let at = 0; at < size; at += this.sharedWriteCopy.length) {
        const n = Math.min(this.sharedWriteCopy.length, size - at);
        this.sharedWriteCopy.set(new Uint8Array(data, dataOffset + at, n));
        this.device.queue.writeBuffer(buffer, offset + at, this.sharedWriteCopy, 0, n);
      }
      return;
    }
    // A view, not the buffer: Deno's writeBuffer refuses a bare SharedArrayBuffer but takes a view of one.
    this.device.queue.writeBuffer(buffer, offset, new Uint8Array(data, dataOffset, size), 0, size);
  }

  /** Reads a tensor back as f32 (flushes pending work first). */
  async read(t: Tensor): Promise<Float32Array> {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const bytes = n * dtypeBytes(t.dtype);
    const raw = await this.readBytes(t.buffer, t.offset, bytes);
    return t.dtype === "f16" ? Float32Array.from(new Float16Array(raw, 0, n)) : new Float32Array(raw, 0, n);
  }

  async readBytes(buffer: GPUBuffer, offset: number, bytes: number): Promise<ArrayBuffer> {
    const out = new Uint8Array(bytes);
    await this.readInto([{ buffer, offset, bytes, dst: out }]);
    return out.buffer;
  }

  /**
   * Copies byte ranges of GPU buffers into `dst` arrays (which may view a SharedArrayBuffer) with one
   * submission and one mapping of a reused staging buffer: no allocation and one CPU copy per range.
   * `whileCopying`, if given, records GPU work once the ranges are mapped; it is submitted before the CPU
   * copies, so the GPU runs it meanwhile (the rows exchange hides its readback behind attention this way).
   */
  readInto(parts: { buffer: GPUBuffer; offset: number; bytes: number; dst: Uint8Array }[], whileCopying?: () => void): Promise<void> {
    const run = this.readChain.then(() => this.readIntoNow(parts, whileCopying));
    this.readChain = run.catch(() => {});
    return run;
  }

  private readChain: Promise<void> = Promise.resolve();
  private staging: GPUBuffer | null = null;

  private async readIntoNow(parts: { buffer: GPUBuffer; offset: number; bytes: number; dst: Uint8Array }[], whileCopying?: () => void): Promise<void> {
    const sizes = parts.map((p) => Math.ceil(p.bytes / 4) * 4);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (!this.staging || this.staging.size < total) {
      this.staging?.destroy();
      this.staging = this.device.createBuffer({ label: `${this.label} readback`, size: Math.max(total, 1 << 16), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    }
    const staging = this.staging;
    this.flush();
    const enc = this.device.createCommandEncoder();
    let at = 0;
    parts.forEach((p, i) => {
      enc.copyBufferToBuffer(p.buffer, p.offset, staging, at, sizes[i]);
      at += sizes[i];
    });
    this.device.queue.submit([enc.finish()]);
    await this.sync();
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, total);
    } catch (e) {
      this.checkAlive();
      throw new GpuError(`${this.label}: reading back ${total} bytes failed: ${(e as Error).message}`);
    }
    try {
      if (whileCopying) {
        whileCopying();
        this.flush();
      }
      const range = new Uint8Array(staging.getMappedRange(0, total));
      at = 0;
      parts.forEach((p, i) => {
        p.dst.set(range.subarray(at, at + p.bytes));
        at += sizes[i];
      });
    } finally {
      staging.unmap();
    }
  }

  freeTensor(t: Tensor): void {
    this.release(t.buffer);
  }

  /**
   * Gives `t`'s memory back to the device now instead of pooling it (recorded work is submitted first): for
   * buffers nothing reuses at their size, such as the text encoder's weights before the DiT needs the memory.
   */
  destroyTensor(t: Tensor): void {
    this.flush();
    this.pool.discard(t.buffer);
  }

  /** Bytes of device memory held in this Gpu's pooled buffers, handed out or free. */
  get heldBytes(): number {
    return this.pool.heldBytes;
  }

  /** Throws if a storage binding of `bytes` exceeds the adapter's limit, naming what and the limit. */
  checkBinding(bytes: number, what: string): void {
    const max = this.limits.maxStorageBufferBindingSize;
    if (bytes > max) {
      throw new GpuError(`${this.label}: ${what} needs a ${bytes}-byte storage binding, over the adapter's maxStorageBufferBindingSize ${max}`);
    }
  }

  // ---------------------------------------------------------------- dispatch (recorder.ts, profiler.ts)

  /**
   * Records one dispatch of `kernel`. `params` fills the shader's uniform struct (binding 0);
   * `bindings[i]` goes to @binding(i + 1). Work is batched until flush()/sync()/read().
   */
  dispatch(kernel: Kernel, params: Record<string, number>, bindings: Binding[], workgroups: [number, number?, number?]): void {
    this.checkAlive();
    this.recorder.dispatch(kernel, params, bindings, workgroups);
  }

  /** Copies bytes between buffers inside the current batch (ordered with the dispatches). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.recorder.copy(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Submits everything recorded so far. */
  flush(): void {
    this.recorder.flush();
  }

  /** Submits and waits until the GPU has finished; throws the first recorded error, naming the op. */
  async sync(): Promise<void> {
    this.flush();
    this.device.queue.submit([]); // wgpu stages writeBuffer until a submit; make onSubmittedWorkDone cover it
    await this.device.queue.onSubmittedWorkDone();
    await this.profiler?.settle();
    this.checkAlive();
    if (this.deferredError) throw new GpuError(this.deferredError);
  }

  /** GPU time per op (profile mode), sorted by time. */
  opTimeTable(): { op: string; ms: number; count: number }[] {
    return this.profiler?.table() ?? [];
  }

  checkAlive(): void {
    if (this.lost) throw new GpuError(this.lost);
  }

  destroy(): void {
    this.recorder.destroy();
    this.pool.destroy();
    this.profiler?.destroy();
    this.staging?.destroy();
    this.device.removeEventListener("uncapturederror", this.onUncapturedError);
    if (this.ownsDevice) this.device.destroy();
  }
}

/**
 * adapter.info.subgroupMatrixConfigs, read field by field (Dawn's objects have no own enumerable
 * properties: JSON.stringify prints {}).
 */
function readMatrixConfigs(list: unknown[] | undefined): SubgroupMatrixConfig[] {
  return [...(list ?? [])].map((c) => {
    const o = c as Record<string, unknown>;
    return { componentType: String(o.componentType), resultComponentType: String(o.resultComponentType), M: Number(o.M), N: Number(o.N), K: Number(o.K) };
  });
}

export function describeAdapter(info: GPUAdapterInfo): string {
  return info.description || [info.vendor, info.architecture, info.device].filter(Boolean).join(" ") || "unknown adapter";
}

function copyPadded(src: Float16Array | Float32Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(src.byteLength / 4) * 4);
  out.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength));
  return out;
}
