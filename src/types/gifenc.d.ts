// Types for gifenc's ES module build (the package ships plain JS without declarations): only what shardit calls.
export type Palette = number[][];
export interface GifEncoderStream {
  /** index: one palette index per pixel [h, w]; delay in ms (stored in 1/100 s); repeat 0 = loop forever. */
  writeFrame(index: Uint8Array, width: number, height: number, opts?: { palette?: Palette; delay?: number; repeat?: number }): void;
  finish(): void;
  bytes(): Uint8Array;
}
export function GIFEncoder(opts?: { auto?: boolean; initialCapacity?: number }): GifEncoderStream;
/** rgba: RGBA8 [h, w, 4] -> at most maxColors [r, g, b] entries. */
export function quantize(rgba: Uint8Array, maxColors: number, opts?: { format?: "rgb565" | "rgb444" | "rgba4444" }): Palette;
export function applyPalette(rgba: Uint8Array, palette: Palette, format?: "rgb565" | "rgb444" | "rgba4444"): Uint8Array;
