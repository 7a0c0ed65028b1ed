// Float64 references for attention split over key sets: attention with its log-sum-exp (shaders/attention.wgsl
// with `lse`) and the exact merge of two partial results (shaders/attention_merge.wgsl).
import { attentionRef, scoreRow } from "./attention.ts";

/** LSE [Lq, N] of the scores q.k / sqrt(D) over keys < validKeys (natural log); -1e30 with no valid key. */
export function attentionLseRef(
  q: ArrayLike<number>, k: ArrayLike<number>, Lq: number, N: number, D: number, validKeys: number,
): Float64Array {
  const out = new Float64Array(Lq * N);
  const s = new Float64Array(validKeys);
  for (let r = 0; r < Lq; r++) {
    for (let h = 0; h < N; h++) {
      const mx = scoreRow(q, k, r, h, N, D, validKeys, s);
      let sum = 0;
      for (let j = 0; j < validKeys; j++) sum += Math.exp(s[j] - mx);
      out[r * N + h] = validKeys > 0 ? mx + Math.log(sum) : -1e30;
    }
  }
  return out;
}

/** (O, LSE) of attention over keys < validKeys: the two outputs of attention with `lse`. */
export function attentionWithLseRef(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, Lq: number, Lk: number, N: number, D: number, validKeys = Lk,
): { o: Float64Array; lse: Float64Array } {
  return { o: attentionRef(q, k, v, Lq, Lk, N, D, validKeys), lse: attentionLseRef(q, k, Lq, N, D, validKeys) };
}

/** O = (O1 w1 + O2 w2) / (w1 + w2), w_i = exp(LSE_i - max); parts with LSE <= -1e29 weigh 0. */
export function attentionMergeRef(
  o1: ArrayLike<number>, lse1: ArrayLike<number>, o2: ArrayLike<number>, lse2: ArrayLike<number>, Lq: number, N: number, D: number,
): { o: Float64Array; lse: Float64Array } {
  const o = new Float64Array(Lq * N * D), lse = new Float64Array(Lq * N);
  for (let rh = 0; rh < Lq * N; rh++) {
    const m = Math.max(lse1[rh], lse2[rh]);
    const w1 = lse1[rh] > -1e29 ? Math.exp(lse1[rh] - m) : 0;
    const w2 = lse2[rh] > -1e29 ? Math.exp(lse2[rh] - m) : 0;
    const sum = w1 + w2;
    for (let d = 0; d < D; d++) o[rh * D + d] = sum > 0 ? (o1[rh * D + d] * w1 + o2[rh * D + d] * w2) / sum : 0;
    lse[rh] = sum > 0 ? m + Math.log(sum) : -1e30;
  }
  return { o, lse };
}

/** Keys (or values) [La, N, D] followed by the first `validB` rows of [*, N, D]: the union A u B. */
export function concatKeys(a: ArrayLike<number>, b: ArrayLike<number>, La: number, validB: number, N: number, D: number): Float64Array {
  const row = N * D;
  const out = new Float64Array((La + validB) * row);
  for (let i = 0; i < La * row; i++) out[i] = a[i];
  for (let i = 0; i < validB * row; i++) out[La * row + i] = b[i];
  return out;
}
