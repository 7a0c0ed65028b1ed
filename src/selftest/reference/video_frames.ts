// Float64 references of shaders/video_frames.wgsl: channels-last RGB [P, 3] -> the clamped planar video
// [3, P] (torch.clamp(out, -1, 1)), and -> 8-bit RGBA as diffusers' VideoProcessor makes pixels:
// (x / 2 + 0.5).clamp(0, 1) * 255, numpy's round (half to even), alpha 255.
export function videoFramesRef(x: Float64Array, P: number): Float64Array {
  const out = new Float64Array(3 * P);
  for (let p = 0; p < P; p++) for (let c = 0; c < 3; c++) out[c * P + p] = Math.min(1, Math.max(-1, x[p * 3 + c]));
  return out;
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v), d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** RGBA8 bytes [P, 4]. */
export function videoRgba8Ref(x: Float64Array, P: number): Uint8Array {
  const out = new Uint8Array(4 * P);
  for (let p = 0; p < P; p++) {
    for (let c = 0; c < 3; c++) out[p * 4 + c] = roundHalfEven(Math.min(1, Math.max(0, x[p * 3 + c] / 2 + 0.5)) * 255);
    out[p * 4 + 3] = 255;
  }
  return out;
}
