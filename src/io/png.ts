// A small PNG encoder (8-bit RGB, no filtering) over the platform's CompressionStream("deflate"),
// which emits the zlib stream PNG's IDAT wants; works in Deno and browsers. Plus the latent preview.
import type { Grid3 } from "../shape.ts";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

async function deflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** Encodes rgb [height, width, 3] bytes as a PNG file. */
export async function encodePng(rgb: Uint8Array, width: number, height: number): Promise<Uint8Array> {
  if (rgb.length !== width * height * 3) throw new Error(`encodePng: ${rgb.length} bytes for ${width}x${height} RGB (expected ${width * height * 3})`);
  const raw = new Uint8Array(height * (1 + width * 3));
  for (let y = 0; y < height; y++) raw.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), y * (1 + width * 3) + 1); // filter 0
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit, RGB, deflate, no filter method, no interlace
  const parts = [new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", await deflate(raw)), chunk("IEND", new Uint8Array())];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A preview of latent frames: channels 0..2 as RGB, each channel scaled by its own min/max over the
 * whole video, frames side by side, each latent pixel drawn as `scale` x `scale`.
 * latent [C, F, H, W] -> rgb [H*scale, F*W*scale, 3].
 */
export function latentPreview(latent: Float32Array, C: number, latentGrid: Grid3, scale = 8): { rgb: Uint8Array; width: number; height: number } {
  const { F, H, W } = latentGrid;
  const width = F * W * scale, height = H * scale;
  const rgb = new Uint8Array(width * height * 3);
  const plane = F * H * W;
  for (let ch = 0; ch < 3; ch++) {
    const c = Math.min(ch, C - 1);
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < plane; i++) {
      const x = latent[c * plane + i];
      if (x < lo) lo = x;
      if (x > hi) hi = x;
    }
    const span = hi > lo ? hi - lo : 1;
    for (let f = 0; f < F; f++) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < W * scale; x++) {
          const value = latent[c * plane + f * H * W + Math.floor(y / scale) * W + Math.floor(x / scale)];
          rgb[(y * width + f * W * scale + x) * 3 + ch] = Math.round(255 * (value - lo) / span);
        }
      }
    }
  }
  return { rgb, width, height };
}
