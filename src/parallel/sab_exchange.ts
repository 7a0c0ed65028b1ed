// The self-attention exchange through a SharedArrayBuffer. What travels is n [tokens, d], the modulated
// LayerNorm output that every token's key and value are computed from (k = RMS(n Wk + bk) + RoPE,
// v = n Wv + bv): one tensor instead of two, so half the bytes of exchanging K and V; each device then
// projects the other devices' rows itself (two GEMMs, a few percent of a layer). Host <-> GPU copies are
// the exchange's cost (bench/exchange.ts measures them; the figures: bench/RESULTS.md "Behind the defaults").
//
// Each device reads back its own rows into its range of the layer's slot, waits at the barrier, then
// uploads the other devices' ranges: all of them (`gatherAll`, its own copied on the GPU), or only the
// others' (`gatherOthers`, which lets the GPU compute over the device's own keys while the worker copies).
// Two layer slots alternate, so a fast device writing layer i+1 never overwrites what a slow one still
// reads. The self-attention providers over this exchange are in sharded_attention.ts.
import type { Gpu } from "../gpu/device.ts";
import { dtypeBytes } from "../shape.ts";
import { type Tensor } from "../gpu/tensor.ts";
import type { ShardView } from "../model/shard_view.ts";
import type { AttentionStats } from "../model/self_attention.ts";
import type { ShardBarrier } from "./barrier.ts";

export class SabExchange {
  /** Total time in the exchange; `waitMs` of it at the barrier (waiting for slower devices), the rest copying. */
  private exchangeMs = 0;
  private waitMs = 0;
  private bytes = 0;
  private rowBytes: number;

  constructor(
    private gpu: Gpu,
    private shared: SharedArrayBuffer, // [2 slots][computedTokens, d] of the run dtype
    private shard: ShardView,
    private d: number,
    private dtype: Tensor["dtype"],
    private barrier: ShardBarrier,
  ) {
    this.rowBytes = d * dtypeBytes(dtype);
    const need = exchangeBufferBytes(shard.computedTokens, d, dtype);
    if (shared.byteLength < need) throw new Error(`exchange buffer holds ${shared.byteLength} bytes, ${need} needed`);
  }

  /** Byte offset of a layer slot [computedTokens, d] in the shared buffer. */
  private slotBase(slot: number): number {
    return slot * this.shard.computedTokens * this.rowBytes;
  }

  /** Own rows from the mapped staging buffer straight into this device's range of the layer's slot. */
  private share(slot: number, n: Tensor, whileCopying?: () => void): Promise<void> {
    const { shard, rowBytes } = this;
    const own = shard.count * rowBytes;
    const dst = new Uint8Array(this.shared, this.slotBase(slot) + shard.start * rowBytes, own);
    this.bytes += own;
    return this.gpu.readInto([{ buffer: n.buffer, offset: n.offset, bytes: own, dst }], whileCopying);
  }

  private arrive(layer: number): void {
    const w0 = performance.now();
    this.barrier.arrive(layer + 1, `the exchange of layer ${layer}`);
    this.waitMs += performance.now() - w0;
  }

  /**
   * Uploads the slot's rows before and after this shard into `dst`: the before-range first, then, `gapRows`
   * rows further on, the after-range. writeBuffer copies at call time, so the slot may be reused once this returns.
   */
  private uploadOthers(slot: number, dst: Tensor, gapRows: number): void {
    const { shard, rowBytes } = this;
    const base = this.slotBase(slot);
    const before = shard.start * rowBytes, after = (shard.start + shard.count) * rowBytes, end = shard.computedTokens * rowBytes;
    if (before > 0) this.gpu.writeBytes(dst.buffer, dst.offset, this.shared, base, before);
    if (end > after) this.gpu.writeBytes(dst.buffer, dst.offset + before + gapRows * rowBytes, this.shared, base + after, end - after);
    this.bytes += (shard.computedTokens - shard.count) * rowBytes;
  }

  /** n of every computed token [computedTokens, d], from this device's rows n [count, d]. The caller frees it. */
  async gatherAll(layer: number, n: Tensor): Promise<Tensor> {
    const { gpu, shard, rowBytes } = this;
    await gpu.sync(); // the layer's compute so far is not exchange time
    const t0 = performance.now();
    const slot = layer % 2;
    await this.share(slot, n);
    this.arrive(layer);
    const all = gpu.empty([shard.computedTokens, this.d], this.dtype, "attention rows (all tokens)");
    this.uploadOthers(slot, all, shard.count); // the gap is this device's own range, copied on the GPU
    gpu.copy(n.buffer, n.offset, all.buffer, all.offset + shard.start * rowBytes, shard.count * rowBytes);
    this.exchangeMs += performance.now() - t0;
    return all;
  }

  /**
   * The other devices' rows [computedTokens - count, d]: the range before this shard, then the range after
   * it (frame-mode padding, at the tail of the computed space, stays at the tail). Once this device's rows
   * are mapped for readback, `whileCopying` records the GPU work over its own keys and it is submitted, so
   * the GPU computes while this thread copies the rows out, waits at the barrier and uploads the others'.
   * The caller frees the result.
   */
  async gatherOthers(layer: number, n: Tensor, whileCopying: () => void): Promise<Tensor> {
    const { gpu, shard } = this;
    await gpu.sync(); // the layer's compute so far is not exchange time
    const t0 = performance.now();
    const slot = layer % 2;
    await this.share(slot, n, whileCopying);
    this.arrive(layer);
    const others = gpu.empty([shard.computedTokens - shard.count, this.d], this.dtype, "attention rows (other devices)");
    this.uploadOthers(slot, others, 0);
    this.exchangeMs += performance.now() - t0;
    return others;
  }

  stats(): AttentionStats {
    return { exchangeMs: this.exchangeMs, waitMs: this.waitMs, bytes: this.bytes };
  }
}

/** Bytes of the exchange buffer for a run: two layer slots of n [computedTokens, d]. */
export function exchangeBufferBytes(computedTokens: number, d: number, dtype: Tensor["dtype"]): number {
  return 2 * computedTokens * d * dtypeBytes(dtype);
}
