// Float64 reference of shaders/rope3d.wgsl: Wan's 3D RoPE on x [L, N, D], rows = tokens start.. of an
// (F, H, W) grid, head vector [t | h | w] (h = w = 2*floor(D/6)), interleaved pairs rotated by
// angle pos / 10000^(2j/a) with pos that axis' coordinate. Angles computed here, independently of ropeTables.
// With `gap`, rows from gap.at on are gap.tokens tokens further on (two ranges of the grid).
import type { Grid3 } from "../../shape.ts";

export function ropeRef(
  x: ArrayLike<number>,
  L: number,
  N: number,
  D: number,
  grid: Grid3,
  start: number,
  gap = { at: L, tokens: 0 },
): Float64Array {
  const hd = 2 * Math.floor(D / 6);
  const parts: [number, number][] = [[0, D - 2 * hd], [D - 2 * hd, hd], [D - hd, hd]]; // [first dim, dims]
  const y = Float64Array.from(x);
  for (let r = 0; r < L; r++) {
    const g = r < gap.at ? start + r : start + r + gap.tokens;
    const pos = [Math.floor(g / (grid.H * grid.W)), Math.floor(g / grid.W) % grid.H, g % grid.W];
    for (let n = 0; n < N; n++) {
      const base = (r * N + n) * D;
      parts.forEach(([first, a], axis) => {
        for (let j = 0; j < a / 2; j++) {
          const angle = pos[axis] * Math.pow(10000, -(2 * j) / a);
          const c = Math.cos(angle), s = Math.sin(angle);
          const i0 = base + first + 2 * j;
          const x0 = x[i0], x1 = x[i0 + 1];
          y[i0] = x0 * c - x1 * s;
          y[i0 + 1] = x0 * s + x1 * c;
        }
      });
    }
  }
  return y;
}
