// Numbers about finished latents, for the page and the end-to-end test: summary statistics, and the
// difference between two runs of the same generation (sharded vs one device).

export interface LatentStats {
  length: number;
  /** Whether every value is finite (no NaN or Infinity). */
  finite: boolean;
  mean: number;
  std: number;
}

export function latentStats(x: Float32Array): LatentStats {
  let finite = true, sum = 0, sq = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (!Number.isFinite(v)) {
      finite = false;
      continue;
    }
    sum += v;
    sq += v * v;
  }
  const n = Math.max(1, x.length);
  const mean = sum / n;
  return { length: x.length, finite, mean, std: Math.sqrt(Math.max(0, sq / n - mean * mean)) };
}

export interface LatentDiff {
  /** max_i |a_i - b_i|. */
  maxAbsDiff: number;
  /** ||a - b||_2 / ||b||_2 (b is the reference: the one-device run). */
  relL2: number;
  /** Index of the largest difference. */
  worst: number;
}

export function compareLatents(a: Float32Array, b: Float32Array): LatentDiff {
  if (a.length !== b.length) throw new Error(`latents differ in length: ${a.length} vs ${b.length}`);
  let maxAbsDiff = 0, worst = 0, num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= maxAbsDiff)) { // also catches NaN
      maxAbsDiff = Number.isNaN(d) ? Infinity : d;
      worst = i;
    }
    num += (a[i] - b[i]) ** 2;
    den += b[i] * b[i];
  }
  return { maxAbsDiff, relL2: Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30), worst };
}
