// Float64 reference of shaders/vae_conv3d.wgsl (the same arguments as vaeConv3d, weights in PyTorch's
// layout [Cout, Cin, KT, KH, KW]): out[t*G + g, h, w, c] = bias[n] (+ res) + sum in(t + kt, h + kh - padTop,
// w + kw - KW/2, ci) W[n, ci, kt, kh, kw], n = g * splitC + c, in(tv) = zeros for tv < zeroFrames, cache
// frames for tv < KT - 1, x frames after; rows and columns outside the input read zero.
export interface ConvRefOptions {
  cache?: Float64Array;
  zeroFrames?: number;
  padTop?: number;
  residual?: Float64Array;
  splitC?: number;
}

export function vaeConv3dRef(
  x: Float64Array,
  xShape: [number, number, number, number],
  weight: Float64Array,
  wShape: [number, number, number, number, number],
  bias: Float64Array,
  opts: ConvRefOptions = {},
): { out: Float64Array; shape: number[] } {
  const [T, Hin, W, Cin] = xShape;
  const [Cout, Cin2, KT, KH, KW] = wShape;
  if (Cin2 !== Cin) throw new Error(`vaeConv3dRef: weight Cin ${Cin2} != x Cin ${Cin}`);
  const nCache = KT - 1, zeroFrames = opts.zeroFrames ?? nCache;
  const padTop = opts.padTop ?? (KH - 1) / 2;
  const Hout = Hin + 2 * padTop - (KH - 1);
  const splitC = opts.splitC ?? Cout, G = Cout / splitC;
  const out = new Float64Array(T * G * Hout * W * splitC);
  const at = (tv: number, r: number, c: number, ci: number): number => {
    if (r < 0 || r >= Hin || c < 0 || c >= W || tv < zeroFrames) return 0;
    if (tv < nCache) return opts.cache![((tv * Hin + r) * W + c) * Cin + ci];
    return x[(((tv - nCache) * Hin + r) * W + c) * Cin + ci];
  };
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < Hout; h++) {
      for (let w = 0; w < W; w++) {
        for (let n = 0; n < Cout; n++) {
          let s = bias[n];
          for (let kt = 0; kt < KT; kt++) {
            for (let kh = 0; kh < KH; kh++) {
              for (let kw = 0; kw < KW; kw++) {
                for (let ci = 0; ci < Cin; ci++) {
                  s += at(t + kt, h + kh - padTop, w + kw - (KW - 1) / 2, ci) * weight[(((n * Cin + ci) * KT + kt) * KH + kh) * KW + kw];
                }
              }
            }
          }
          const g = Math.floor(n / splitC);
          const o = (((t * G + g) * Hout + h) * W + w) * splitC + (n % splitC);
          out[o] = s + (opts.residual ? opts.residual[o] : 0);
        }
      }
    }
  }
  return { out, shape: [T * G, Hout, W, splitC] };
}
