// Float64 reference of shaders/unpatchify.wgsl: y [count, 4*C] for global tokens [start, start + count)
// writes out[c, f, 2h+a, 2w+b] = y[g - start, (a*2+b)*C + c] into `out` [C, F, H, W] (updated in place;
// other tokens' pixels are left as they were).
import type { Grid3 } from "../../shape.ts";

export function unpatchifyRef(
  y: Float64Array, start: number, count: number, grid: { C: number } & Grid3, out: Float64Array,
): Float64Array {
  const { C, F, H, W } = grid;
  const Hp = H / 2, Wp = W / 2;
  for (let t = 0; t < count; t++) {
    const g = start + t;
    const f = Math.floor(g / (Hp * Wp)), h = Math.floor(g / Wp) % Hp, w = g % Wp;
    for (let a = 0; a < 2; a++) {
      for (let b = 0; b < 2; b++) {
        for (let c = 0; c < C; c++) out[((c * F + f) * H + 2 * h + a) * W + 2 * w + b] = y[t * 4 * C + (a * 2 + b) * C + c];
      }
    }
  }
  return out;
}
