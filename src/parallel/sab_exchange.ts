// The baseline K/V all-gather through a SharedArrayBuffer: each device reads back its own keys and
// values for the layer, writes them at its token range, waits at the barrier, then uploads the
// other devices' ranges (its own range is copied on the GPU). Two layer slots alternate, so a fast
// device writing layer i+1 never overwrites what a slow device is still uploading for layer i.
// SabOverlapExchange is the overlapped flavour (PoolOptions.overlap): after the readback, the attention
// over the device's own keys is submitted before the barrier, so the GPU runs it while the worker waits
// and uploads only the other devices' ranges; the model merges the two parts exactly (attention_merge).
import type { Gpu } from "../gpu/device.ts";
import { dtypeBytes, type Tensor } from "../gpu/tensor.ts";
import type { KvExchange, ShardView } from "../model/wan.ts";
import type { ShardBarrier } from "./barrier.ts";

export class SabExchange implements KvExchange {
  /** Total time in allGather; `waitMs` of it at the barrier (waiting for slower devices), the rest copying. */
  exchangeMs = 0;
  waitMs = 0;
  bytes = 0;
  protected rowBytes: number;

  constructor(
    protected gpu: Gpu,
    protected kv: SharedArrayBuffer, // [2 slots][K, V][computed, d]
    protected shard: ShardView,
    protected d: number,
    protected dtype: Tensor["dtype"],
    protected barrier: ShardBarrier,
    protected seqBase: number,
  ) {
    this.rowBytes = d * dtypeBytes(dtype);
    const need = 4 * shard.computedTokens * this.rowBytes;
    if (kv.byteLength < need) throw new Error(`K/V exchange buffer holds ${kv.byteLength} bytes, ${need} needed`);
  }

  protected region(slot: number, which: 0 | 1): number {
    return (slot * 2 + which) * this.shard.computedTokens * this.rowBytes;
  }

  /** Own K and V straight from the mapped staging buffer into this device's range of the layer's slot. */
  protected async share(slot: number, k: Tensor, v: Tensor): Promise<void> {
    const { shard, rowBytes } = this;
    const own = shard.count * rowBytes;
    await this.gpu.readInto([
      { buffer: k.buffer, offset: k.offset, bytes: own, dst: new Uint8Array(this.kv, this.region(slot, 0) + shard.start * rowBytes, own) },
      { buffer: v.buffer, offset: v.offset, bytes: own, dst: new Uint8Array(this.kv, this.region(slot, 1) + shard.start * rowBytes, own) },
    ]);
  }

  protected arrive(layer: number): void {
    const w0 = performance.now();
    this.barrier.arrive(this.seqBase + layer + 1, `the K/V exchange of layer ${layer}`);
    this.waitMs += performance.now() - w0;
  }

  async allGather(layer: number, k: Tensor, v: Tensor): Promise<{ k: Tensor; v: Tensor }> {
    const { gpu, shard, rowBytes } = this;
    await gpu.sync(); // the layer's compute so far is not exchange time
    const t0 = performance.now();
    const slot = layer % 2;
    const own = shard.count * rowBytes;
    await this.share(slot, k, v);
    this.arrive(layer);
    const shape = [shard.computedTokens, k.shape[1], k.shape[2]];
    const kAll = gpu.empty(shape, this.dtype, "keys (all tokens)");
    const vAll = gpu.empty(shape, this.dtype, "values (all tokens)");
    for (const [src, all, which] of [[k, kAll, 0], [v, vAll, 1]] as const) {
      const base = this.region(slot, which);
      const before = shard.start * rowBytes, after = (shard.start + shard.count) * rowBytes, end = shard.computedTokens * rowBytes;
      // writeBuffer copies at call time, so the slot may be reused as soon as this returns.
      if (before > 0) gpu.writeBytes(all.buffer, all.offset, this.kv, base, before);
      if (end > after) gpu.writeBytes(all.buffer, all.offset + after, this.kv, base + after, end - after);
      gpu.copy(src.buffer, src.offset, all.buffer, all.offset + before, own);
    }
    this.bytes += 2 * own + 2 * (shard.computedTokens - shard.count) * rowBytes;
    this.exchangeMs += performance.now() - t0;
    return { k: kAll, v: vAll };
  }

  release(k: Tensor, v: Tensor): void {
    this.gpu.freeTensor(k);
    this.gpu.freeTensor(v);
  }
}

/**
 * The overlapped flavour: readback of own K/V into the slot, then the caller's attention over its own keys is
 * recorded and submitted, then the barrier and the upload of the other ranges into a compact
 * [computed - count, N, D] pair (before-range, then after-range: padding stays at the tail).
 */
export class SabOverlapExchange extends SabExchange {
  async gatherOthers(layer: number, k: Tensor, v: Tensor, local: () => void): Promise<{ k: Tensor; v: Tensor }> {
    const { gpu, shard, rowBytes } = this;
    await gpu.sync(); // the layer's compute so far is not exchange time
    const t0 = performance.now();
    const slot = layer % 2;
    await this.share(slot, k, v);
    local();
    gpu.flush(); // the GPU computes over the own keys while this thread waits and copies
    this.arrive(layer);
    const others = shard.computedTokens - shard.count;
    const shape = [others, k.shape[1], k.shape[2]];
    const kRest = gpu.empty(shape, this.dtype, "keys (other devices)");
    const vRest = gpu.empty(shape, this.dtype, "values (other devices)");
    const before = shard.start * rowBytes, after = (shard.start + shard.count) * rowBytes, end = shard.computedTokens * rowBytes;
    for (const [rest, which] of [[kRest, 0], [vRest, 1]] as const) {
      const base = this.region(slot, which);
      if (before > 0) gpu.writeBytes(rest.buffer, rest.offset, this.kv, base, before);
      if (end > after) gpu.writeBytes(rest.buffer, rest.offset + before, this.kv, base + after, end - after);
    }
    this.bytes += 2 * shard.count * rowBytes + 2 * others * rowBytes;
    this.exchangeMs += performance.now() - t0;
    return { k: kRest, v: vRest };
  }
}

/** Bytes of the K/V exchange buffer for a run: two layer slots of K and V. */
export function kvBufferBytes(computedTokens: number, d: number, dtype: Tensor["dtype"]): number {
  return 4 * computedTokens * d * dtypeBytes(dtype);
}
