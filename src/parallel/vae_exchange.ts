// The sharded VAE decode's exchange through SharedArrayBuffer (the decoder's BandExchange): each device
// decodes a band of latent rows (vae_plan.ts) and, before every 3x3 spatial conv, swaps its edge rows with
// its neighbours (halo rows); where the decoder needs whole frames (the mid block's attention over H x W),
// every device gathers every row. Every call is one barrier arrival: the devices run the same network on
// the same chunks, so they make the same calls in the same order; a device that does not arrive names
// itself through the barrier's timeout, and a failing one aborts the others at once (barrier.ts).
//
// Activations are [..., R, ...row] with R this band's rows at the current stage at axis `rowAxis` (the
// decoder's layout, src/vae/decoder.ts): `outer` = product of the dims before R (frames), `inner` = the
// product after (W x C), so one row of one frame is inner contiguous elements.
//
// Shared memory, two slots that alternate call by call (a fast device writing call k+1 never overwrites what
// a slow one still reads of call k: it can only write call k+2 into that slot after every device has passed
// call k+1's barrier, i.e. finished reading call k):
//   halo:  [2 slots][devices][2 sides: top, bottom][haloBytes]: each device's first and last `rows` rows of
//          every frame; a device reads its upper neighbour's bottom and its lower neighbour's top.
//   frame: [2 slots][frameBytes]: the whole frame [outer, R_total, inner] gathered row range by row range.
import type { Gpu } from "../gpu/device.ts";
import { dtypeBytes, numel } from "../shape.ts";
import { type Tensor } from "../gpu/tensor.ts";
import type { ShardBarrier } from "./barrier.ts";
import type { DeviceBand } from "./vae_plan.ts";
import type { BandExchange } from "../vae/band.ts";
import { vaeDecoderPlan, vaeSpatialScale, vaeVideoFrames, type WanVaeConfig } from "../vae/config.ts";

export interface VaeExchangeBuffers {
  halo: SharedArrayBuffer;
  frame: SharedArrayBuffer;
}

/** Bytes of the two shared regions for a decode; `haloBytes`/`frameBytes` are per device-side and per slot. */
export function vaeExchangeSizes(devices: number, haloBytes: number, frameBytes: number): { halo: number; frame: number } {
  return { halo: 2 * devices * 2 * haloBytes, frame: 2 * frameBytes };
}

/**
 * Bytes per device-side of the halo slot and of the frame slot for decoding a latent of h x w with this
 * config, in f32 (f16 takes half): the widest row any 3x3 conv sees (block i's convs at 2^i w columns with
 * up to max(inDim, outDim) channels, its upsampler's conv at 2^(i+1) w with outDim, conv_out at 8 w with
 * outDim), times one halo row, times the most frames a chunk has (2^(time upsamplers)); the whole-frame
 * gather is the mid block's [1, h, w, midDim].
 */
export function vaeExchangeBounds(cfg: WanVaeConfig, h: number, w: number): { haloBytes: number; frameBytes: number } {
  const plan = vaeDecoderPlan(cfg);
  let widest = w * Math.max(cfg.zDim, plan.midDim);
  plan.blocks.forEach((b, i) => {
    widest = Math.max(widest, 2 ** i * w * Math.max(b.inDim, b.outDim));
    if (b.upsample) widest = Math.max(widest, 2 ** (i + 1) * w * b.outDim);
  });
  widest = Math.max(widest, vaeSpatialScale(cfg) * w * plan.outDim);
  const frames = vaeVideoFrames(cfg, 2) - 1; // frames of one chunk after the first
  return { haloBytes: frames * widest * 4, frameBytes: h * w * plan.midDim * 4 };
}

interface Layout {
  outer: number;
  rows: number;
  inner: number;
  rowBytes: number;
}

export class SabBandExchange implements BandExchange {
  /** Time in the exchange (readback, barrier, upload); waitMs of it at barriers; bytes moved through shared memory. */
  exchangeMs = 0;
  waitMs = 0;
  bytes = 0;
  calls = 0;
  private seq: number;
  private haloBytes: number;
  private frameBytes: number;
  private zeros = new ArrayBuffer(0);

  constructor(
    private gpu: Gpu,
    private shared: VaeExchangeBuffers,
    /** Every device's band in latent rows, in device order. */
    private bands: readonly DeviceBand[],
    private device: number,
    private barrier: ShardBarrier,
    seqBase = 0,
    /** Which axis of an activation holds its rows (the decoder's layout: channels-last [T, H, W, C] -> 1). */
    private rowAxis: (x: Tensor) => number = (x) => x.shape.length - 3,
  ) {
    this.seq = seqBase;
    const n = bands.length;
    this.haloBytes = shared.halo.byteLength / (4 * n);
    this.frameBytes = shared.frame.byteLength / 2;
    if (!(device >= 0 && device < n)) throw new Error(`band exchange: device ${device} outside the ${n} bands`);
  }

  private layout(name: string, x: Tensor): Layout {
    const axis = this.rowAxis(x);
    if (!(axis >= 0 && axis < x.shape.length)) throw new Error(`${name}: activation [${x.shape}] has no row axis ${axis}`);
    const outer = numel(x.shape.slice(0, axis)), rows = x.shape[axis], inner = numel(x.shape.slice(axis + 1));
    return { outer, rows, inner, rowBytes: inner * dtypeBytes(x.dtype) };
  }

  /** This stage's scale over the latent rows (1, 2, 4, 8), from this band's activation. */
  private scale(name: string, rows: number): number {
    const own = this.bands[this.device];
    const s = rows / (own.y1 - own.y0);
    if (!Number.isInteger(s) || s < 1) throw new Error(`${name}: ${rows} rows on device ${this.device} are not a whole multiple of its ${own.y1 - own.y0} latent rows`);
    return s;
  }

  private arrive(what: string): void {
    const w0 = performance.now();
    this.barrier.arrive(++this.seq, what);
    this.waitMs += performance.now() - w0;
  }

  private haloBase(slot: number, device: number, side: 0 | 1): number {
    return ((slot * this.bands.length + device) * 2 + side) * this.haloBytes;
  }

  /** x [outer, R, inner] -> [outer, rows + R + rows, inner]: the neighbours' edge rows around this band, zeros beyond the frame. */
  async withHalo(name: string, x: Tensor, rows: number): Promise<Tensor> {
    const { gpu, device, bands } = this;
    const L = this.layout(name, x);
    const scale = this.scale(name, L.rows);
    const what = `the halo of ${name}`;
    for (const b of bands) {
      if ((b.y1 - b.y0) * scale < rows) throw new Error(`${what}: device ${b.device}'s band has ${(b.y1 - b.y0) * scale} rows at this stage, fewer than the ${rows}-row halo`);
    }
    const edge = rows * L.rowBytes; // one side of one frame
    const need = L.outer * edge;
    if (need > this.haloBytes) throw new Error(`${what}: ${L.outer} frames x ${rows} rows x ${L.rowBytes} bytes = ${need} bytes, over the ${this.haloBytes}-byte halo slot`);
    if (edge % 4 || L.rowBytes * L.rows % 4) throw new Error(`${what}: rows of ${L.rowBytes} bytes are not 4-byte multiples (GPU copies need them)`);
    await gpu.sync(); // the compute so far is not exchange time
    const t0 = performance.now();
    const slot = this.calls++ % 2;
    const frameBytes = L.rows * L.rowBytes;
    // Own first and last `rows` rows of every frame -> this device's two halo regions.
    const parts = [];
    for (let o = 0; o < L.outer; o++) {
      const at = x.offset + o * frameBytes;
      parts.push({ buffer: x.buffer, offset: at, bytes: edge, dst: new Uint8Array(this.shared.halo, this.haloBase(slot, device, 0) + o * edge, edge) });
      parts.push({ buffer: x.buffer, offset: at + frameBytes - edge, bytes: edge, dst: new Uint8Array(this.shared.halo, this.haloBase(slot, device, 1) + o * edge, edge) });
    }
    await gpu.readInto(parts);
    this.bytes += 2 * need;
    this.arrive(what);
    // Assemble [outer, rows + R + rows, inner]: the upper neighbour's bottom rows, own rows, the lower one's top rows.
    const shape = [...x.shape];
    shape[this.rowAxis(x)] = L.rows + 2 * rows;
    const out = gpu.empty(shape, x.dtype, `${name} with halo`);
    const outFrame = (L.rows + 2 * rows) * L.rowBytes;
    if (this.zeros.byteLength < edge) this.zeros = new ArrayBuffer(edge);
    const above = device > 0 ? device - 1 : -1, below = device < bands.length - 1 ? device + 1 : -1;
    for (let o = 0; o < L.outer; o++) {
      const at = out.offset + o * outFrame;
      if (above >= 0) gpu.writeBytes(out.buffer, at, this.shared.halo, this.haloBase(slot, above, 1) + o * edge, edge);
      else gpu.writeBytes(out.buffer, at, this.zeros, 0, edge);
      gpu.copy(x.buffer, x.offset + o * frameBytes, out.buffer, at + edge, frameBytes);
      if (below >= 0) gpu.writeBytes(out.buffer, at + edge + frameBytes, this.shared.halo, this.haloBase(slot, below, 0) + o * edge, edge);
      else gpu.writeBytes(out.buffer, at + edge + frameBytes, this.zeros, 0, edge);
    }
    this.bytes += 2 * need;
    this.exchangeMs += performance.now() - t0;
    return out;
  }

  /** x [outer, R, inner] (this band) -> [outer, R_total, inner]: every band's rows of every frame. */
  async gatherFrame(name: string, x: Tensor): Promise<Tensor> {
    const { gpu, device, bands } = this;
    const L = this.layout(name, x);
    const scale = this.scale(name, L.rows);
    const what = `the whole-frame gather of ${name}`;
    const total = bands[bands.length - 1].y1 * scale;
    const need = L.outer * total * L.rowBytes;
    if (need > this.frameBytes) throw new Error(`${what}: ${L.outer} frames x ${total} rows x ${L.rowBytes} bytes = ${need} bytes, over the ${this.frameBytes}-byte frame slot`);
    if ((L.rowBytes * L.rows) % 4) throw new Error(`${what}: a band of ${L.rowBytes * L.rows} bytes is not a 4-byte multiple (GPU copies need it)`);
    await gpu.sync();
    const t0 = performance.now();
    const slot = this.calls++ % 2;
    const base = slot * this.frameBytes;
    const own = L.rows * L.rowBytes, y0 = bands[device].y0 * scale;
    const parts = [];
    for (let o = 0; o < L.outer; o++) {
      const dst = new Uint8Array(this.shared.frame, base + (o * total + y0) * L.rowBytes, own);
      parts.push({ buffer: x.buffer, offset: x.offset + o * own, bytes: own, dst });
    }
    await gpu.readInto(parts);
    this.arrive(what);
    const shape = [...x.shape];
    shape[this.rowAxis(x)] = total;
    const out = gpu.empty(shape, x.dtype, `${name} (whole frame)`);
    gpu.writeBytes(out.buffer, out.offset, this.shared.frame, base, need);
    this.bytes += L.outer * own + need;
    this.exchangeMs += performance.now() - t0;
    return out;
  }

  release(t: Tensor): void {
    this.gpu.freeTensor(t);
  }
}
