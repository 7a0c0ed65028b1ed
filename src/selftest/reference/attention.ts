// Float64 reference of shaders/attention.wgsl: per head, O = softmax(Q K^T / sqrt(D)) V over keys < validKeys.
// q [Lq, N, D], k and v [Lk, N, D] token-major; returns O [Lq, N, D]. `rows` limits the work to some
// query rows (the bench checks a sample of a long sequence); other rows of the result stay 0.
export function attentionRef(
  q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>,
  Lq: number, Lk: number, N: number, D: number, validKeys = Lk, rows?: readonly number[],
): Float64Array {
  const out = new Float64Array(Lq * N * D);
  const s = new Float64Array(validKeys);
  const acc = new Float64Array(D);
  for (const r of rows ?? Array.from({ length: Lq }, (_, i) => i)) {
    for (let h = 0; h < N; h++) {
      const qo = (r * N + h) * D;
      const mx = scoreRow(q, k, r, h, N, D, validKeys, s);
      acc.fill(0);
      let sum = 0;
      for (let j = 0; j < validKeys; j++) {
        const e = Math.exp(s[j] - mx);
        sum += e;
        const vo = (j * N + h) * D;
        for (let d = 0; d < D; d++) acc[d] += e * v[vo + d];
      }
      for (let d = 0; d < D; d++) out[qo + d] = sum > 0 ? acc[d] / sum : 0;
    }
  }
  return out;
}

/** Scores s[j] = q[r, h] . k[j, h] / sqrt(D) for keys j < validKeys; returns their maximum. */
export function scoreRow(q: ArrayLike<number>, k: ArrayLike<number>, r: number, h: number, N: number, D: number, validKeys: number, s: Float64Array): number {
  const qo = (r * N + h) * D, scale = 1 / Math.sqrt(D);
  let mx = -Infinity;
  for (let j = 0; j < validKeys; j++) {
    const ko = (j * N + h) * D;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
    s[j] = dot * scale;
    if (s[j] > mx) mx = s[j];
  }
  return mx;
}
