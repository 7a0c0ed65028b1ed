// The shape vocabulary every layer may import (no GPU runtime here): element types, element counts, and
// Grid3, the frames x height x width of a latent, a token grid or a video.
export type DType = "f32" | "f16";

export function dtypeBytes(dtype: DType): number {
  return dtype === "f16" ? 2 : 4;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * One grid vocabulary for every frames x height x width shape: a latent [C, F, H, W]'s dims, the token
 * grid F' x H' x W' = F x H/2 x W/2, a video's frames. Say which one in the variable's name.
 */
export interface Grid3 {
  F: number;
  H: number;
  W: number;
}

export function gridSize(g: Grid3): number {
  return g.F * g.H * g.W;
}
