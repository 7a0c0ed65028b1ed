// Self-attention across devices: the `SelfAttention` providers (src/model/self_attention.ts) a worker
// gives the model when the sequence is split over N > 1 devices. Both attend each device's queries to
// every real token's keys and values, projected on this device from the rows n that the SabExchange
// brings from the others.
// - AllGatherAttention (PoolOptions.overlap false): gather the rows of every token, then one attention.
// - OverlapAttention (the default): the GPU projects the device's own rows and attends over them while the
//   worker copies its rows out and the others' in; then it attends over the others' keys and merges the two
//   partial results exactly by their log-sum-exp (attention with `lse`, attention_merge).
import type { Tensor } from "../gpu/tensor.ts";
import { attention } from "../ops/attention.ts";
import { attentionMerge } from "../ops/attention_merge.ts";
import { type AttentionLayer, type AttentionStats, type KeysValues, ownKeysAttention, type SelfAttention } from "../model/self_attention.ts";
import { realTokens } from "../model/shard_view.ts";
import type { SabExchange } from "./sab_exchange.ts";

export class AllGatherAttention implements SelfAttention {
  constructor(private exchange: SabExchange) {}

  async attend(layer: AttentionLayer, q: Tensor, n: Tensor, o: Tensor): Promise<void> {
    const { gpu, shard } = layer;
    const all = await this.exchange.gatherAll(layer.index, n); // [computedTokens, d]
    const { k, v } = layer.keysValues(all, 0);
    attention(gpu, q, k, v, o, { validKeys: shard.tokens });
    for (const t of [all, k, v]) gpu.freeTensor(t);
  }

  stats(): AttentionStats {
    return this.exchange.stats();
  }
}

export class OverlapAttention implements SelfAttention {
  constructor(private exchange: SabExchange) {}

  async attend(layer: AttentionLayer, q: Tensor, n: Tensor, o: Tensor): Promise<void> {
    const { gpu, shard, dtype } = layer;
    const real = realTokens(shard);
    const [L, N, D] = q.shape;
    const part = (what: string) => ({ o: gpu.empty([L, N, D], dtype, `attention out (${what})`), lse: gpu.empty([L, N], "f32", `attention lse (${what})`) });
    const own = part("own keys");
    let ownKv: KeysValues | null = null;
    const others = await this.exchange.gatherOthers(layer.index, n, () => {
      ownKv = layer.keysValues(n, shard.start);
      attention(gpu, q, ownKv.k, ownKv.v, own.o, { validKeys: real, lse: own.lse });
    });
    // The others' rows: tokens [0, start), then [start + count, computedTokens).
    const kv = layer.keysValues(others, 0, { at: shard.start, tokens: shard.count });
    gpu.freeTensor(others);
    const rest = part("other keys");
    attention(gpu, q, kv.k, kv.v, rest.o, { validKeys: shard.tokens - real, lse: rest.lse });
    attentionMerge(gpu, own.o, own.lse, rest.o, rest.lse, o);
    for (const t of [own.o, own.lse, rest.o, rest.lse, kv.k, kv.v, ownKv!.k, ownKv!.v]) gpu.freeTensor(t);
  }

  stats(): AttentionStats {
    return this.exchange.stats();
  }
}

/** The provider for a shard of a run over `devices` devices: its own keys alone on one device. */
export function shardedAttention(devices: number, overlap: boolean, exchange: () => SabExchange): SelfAttention {
  if (devices === 1) return ownKeysAttention;
  return overlap ? new OverlapAttention(exchange()) : new AllGatherAttention(exchange());
}
