// Float64 reference of shaders/abs_diff_sum.wgsl (with src/ops/abs_diff_sum.ts's host sum): sum |a - b| and sum |b|.
export function absDiffSumsRef(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; base: number } {
  let diff = 0, base = 0;
  for (let i = 0; i < a.length; i++) {
    diff += Math.abs(a[i] - b[i]);
    base += Math.abs(b[i]);
  }
  return { diff, base };
}
