// The model's one seam for self-attention. WanModel computes q and the rows n of each block and asks a
// `SelfAttention` provider for o = softmax(q K^T / sqrt(D)) V, with K and V projected from the rows n
// of every token the provider attends to (k = RMS(n Wk + bk) with RoPE, v = n Wv + bv). Where those rows
// come from is the provider's business: on one device they are its own (`ownKeysAttention`, here); the
// sharded providers (src/parallel/sharded_attention.ts) gather the other devices' rows.
import type { Gpu } from "../gpu/device.ts";
import type { DType } from "../shape.ts";
import type { Tensor } from "../gpu/tensor.ts";
import { attention } from "../ops/attention.ts";
import type { RopeGap } from "../ops/rope3d.ts";
import { realTokens, type ShardView } from "./shard_view.ts";

/** Keys and values [rows, N, D] of some tokens, RoPE applied to the keys. */
export interface KeysValues {
  k: Tensor;
  v: Tensor;
}

/** One block's self-attention as a provider sees it. */
export interface AttentionLayer {
  /** The exchange's sequence number (its layer slot and barrier sequence): the block index, or in a batch of B
   * items (WanModel.forwardBatch) block * B + item. */
  readonly index: number;
  readonly gpu: Gpu;
  /** The run's dtype (activations, rows, keys and values). */
  readonly dtype: DType;
  /** The token range this device computes. */
  readonly shard: ShardView;
  /**
   * k = RMS(x Wk + bk) with RoPE, v = x Wv + bv, [rows, N, D], from rows x [rows, d] of the modulated
   * LayerNorm; row r is computed token start + r (+ gap.tokens from row gap.at on). The caller frees both.
   */
  keysValues(x: Tensor, start: number, gap?: RopeGap): KeysValues;
}

/** What obtaining other devices' rows cost a provider so far (all zero on one device). */
export interface AttentionStats {
  /** Wall time in the exchange (readback, barrier wait, upload), ms. */
  exchangeMs: number;
  /** Of exchangeMs, the time waiting at barriers for slower devices, ms. */
  waitMs: number;
  /** Bytes moved through shared memory (written + read). */
  bytes: number;
}

export interface SelfAttention {
  /**
   * Writes o [count, N, D] for q [count, N, D] (RMS-normed, RoPE applied), given this shard's rows
   * n [count, d] of layer `layer`. Keys at computed index >= shard.tokens (frame-mode padding) are masked.
   */
  attend(layer: AttentionLayer, q: Tensor, n: Tensor, o: Tensor): Promise<void>;
  stats(): AttentionStats;
}

/**
 * Plain attention over this shard's own keys: the whole of self-attention when the shard is the whole
 * sequence [0, L) (one device).
 */
export const ownKeysAttention: SelfAttention = {
  attend(layer, q, n, o) {
    const { k, v } = layer.keysValues(n, layer.shard.start);
    attention(layer.gpu, q, k, v, o, { validKeys: realTokens(layer.shard) });
    layer.gpu.freeTensor(k);
    layer.gpu.freeTensor(v);
    return Promise.resolve();
  },
  stats: () => ({ exchangeMs: 0, waitMs: 0, bytes: 0 }),
};
