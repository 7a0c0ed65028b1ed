// Types for upng-js (the package ships plain JS without declarations): only what shardit calls.
interface UpngImage {
  width: number;
  height: number;
  depth: number;
  ctype: number;
  frames: { rect: { x: number; y: number; width: number; height: number }; delay: number; dispose: number; blend: number }[];
  tabs: Record<string, unknown>;
}
declare const UPNG: {
  /** frames: RGBA8 [h, w, 4] each; cnum 0 = lossless; dels: per-frame delay in ms; forbidPlte: never a palette. */
  encode(frames: ArrayBuffer[], w: number, h: number, cnum: number, dels?: number[], forbidPlte?: boolean): ArrayBuffer;
  decode(buffer: ArrayBuffer): UpngImage;
  /** Every frame composited to RGBA8 [h, w, 4]. */
  toRGBA8(img: UpngImage): ArrayBuffer[];
};
export default UPNG;
