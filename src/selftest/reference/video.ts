// Reference for the video output conversion: diffusers' postprocess of a decoded video, written out as
// PyTorch and numpy compute it, in float32 (Math.fround after each op): VaeImageProcessor.denormalize
// (x * 0.5 + 0.5).clamp(0, 1), then numpy_to_pil (x * 255).round().astype(uint8), numpy's round taking
// halves to the even neighbour.

function numpyRound(v: number): number {
  const fl = Math.floor(v), frac = v - fl;
  if (frac > 0.5) return fl + 1;
  if (frac < 0.5) return fl;
  return fl % 2 === 0 ? fl : fl + 1;
}

export function toByteRef(x: number): number {
  const half = Math.fround(Math.fround(x * 0.5) + 0.5);
  const unit = half < 0 ? 0 : half > 1 ? 1 : half;
  return numpyRound(Math.fround(unit * 255));
}

/** video [3, F, H, W] (any numbers) -> frame f as RGB bytes [H, W, 3]. */
export function frameRgbRef(video: ArrayLike<number>, F: number, H: number, W: number, f: number): Uint8Array {
  const out = new Uint8Array(H * W * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      for (let c = 0; c < 3; c++) out[(y * W + x) * 3 + c] = toByteRef(video[((c * F + f) * H + y) * W + x]);
    }
  }
  return out;
}
