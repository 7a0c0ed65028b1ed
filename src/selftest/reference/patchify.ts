// Float64 reference of shaders/patchify.wgsl: x [C, F, H, W] -> tokens [count, C*4] for global tokens
// g in [start, start + count) of the (F, H/2, W/2) grid; element c*4 + a*2 + b = x[c, f, 2h+a, 2w+b].
import type { Grid3 } from "../../shape.ts";

export function patchifyRef(x: Float64Array, start: number, count: number, grid: { C: number } & Grid3): Float64Array {
  const { C, F, H, W } = grid;
  const Hp = H / 2, Wp = W / 2;
  const out = new Float64Array(count * C * 4);
  for (let t = 0; t < count; t++) {
    const g = start + t;
    const f = Math.floor(g / (Hp * Wp)), h = Math.floor(g / Wp) % Hp, w = g % Wp;
    for (let c = 0; c < C; c++) {
      for (let a = 0; a < 2; a++) {
        for (let b = 0; b < 2; b++) out[t * C * 4 + c * 4 + a * 2 + b] = x[((c * F + f) * H + 2 * h + a) * W + 2 * w + b];
      }
    }
  }
  return out;
}
