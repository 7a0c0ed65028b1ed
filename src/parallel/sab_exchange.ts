// The baseline K/V all-gather through a SharedArrayBuffer: each device reads back its own keys and
// values for the layer, writes them at its token range, waits at the barrier, then uploads the
// other devices' ranges (its own range is copied on the GPU). Two layer slots alternate, so a fast
// device writing layer i+1 never overwrites what a slow device is still uploading for layer i.
import type { Gpu } from "../gpu/device.ts";
import { dtypeBytes, type Tensor } from "../gpu/tensor.ts";
import type { KvExchange, ShardView } from "../model/wan.ts";
import type { ShardBarrier } from "./barrier.ts";

export class SabExchange implements KvExchange {
  /** Total time in allGather; `waitMs` of it at the barrier (waiting for slower devices), the rest copying. */
  exchangeMs = 0;
  waitMs = 0;
  bytes = 0;
  private rowBytes: number;

  constructor(
    private gpu: Gpu,
    private kv: SharedArrayBuffer, // [2 slots][K, V][computed, d]
    private shard: ShardView,
    private d: number,
    private dtype: Tensor["dtype"],
    private barrier: ShardBarrier,
    private seqBase: number,
  ) {
    this.rowBytes = d * dtypeBytes(dtype);
    const need = 4 * shard.computedTokens * this.rowBytes;
    if (kv.byteLength < need) throw new Error(`K/V exchange buffer holds ${kv.byteLength} bytes, ${need} needed`);
  }

  private region(slot: number, which: 0 | 1): number {
    return (slot * 2 + which) * this.shard.computedTokens * this.rowBytes;
  }

  async allGather(layer: number, k: Tensor, v: Tensor): Promise<{ k: Tensor; v: Tensor }> {
    const { gpu, shard, rowBytes } = this;
    await gpu.sync(); // the layer's compute so far is not exchange time
    const t0 = performance.now();
    const slot = layer % 2;
    const own = shard.count * rowBytes;
    // Own K and V straight from the mapped staging buffer into this device's range of the slot.
    await gpu.readInto([
      { buffer: k.buffer, offset: k.offset, bytes: own, dst: new Uint8Array(this.kv, this.region(slot, 0) + shard.start * rowBytes, own) },
      { buffer: v.buffer, offset: v.offset, bytes: own, dst: new Uint8Array(this.kv, this.region(slot, 1) + shard.start * rowBytes, own) },
    ]);
    const w0 = performance.now();
    this.barrier.arrive(this.seqBase + layer + 1, `the K/V exchange of layer ${layer}`);
    this.waitMs += performance.now() - w0;
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

/** Bytes of the K/V exchange buffer for a run: two layer slots of K and V. */
export function kvBufferBytes(computedTokens: number, d: number, dtype: Tensor["dtype"]): number {
  return 4 * computedTokens * d * dtypeBytes(dtype);
}
