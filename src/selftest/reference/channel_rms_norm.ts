// Float64 reference of shaders/channel_rms_norm.wgsl: diffusers' WanRMS_norm over the channels of each
// pixel, F.normalize(x, dim=channels) * sqrt(C) * gamma (eps 1e-12 on the norm), optionally then SiLU.

export function channelRmsNormRef(x: Float64Array, gamma: Float64Array, P: number, C: number, silu: boolean): Float64Array {
  const out = new Float64Array(P * C);
  for (let p = 0; p < P; p++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += x[p * C + c] ** 2;
    const inv = Math.sqrt(C) / Math.max(Math.sqrt(s), 1e-12);
    for (let c = 0; c < C; c++) {
      const v = x[p * C + c] * inv * gamma[c];
      out[p * C + c] = silu ? v / (1 + Math.exp(-v)) : v; // activation.ts's siluRef, per element
    }
  }
  return out;
}
