// Band plans for the sharded VAE decode: which latent rows of every frame each device decodes. Pure (no
// GPU, no Deno, no DOM), like plan.ts. Device d owns latent rows [y0, y1) of h, and at every stage of the
// decoder the rows scaled with the stage (x2 per spatial upsample: video rows [8 y0, 8 y1)). Bands are
// contiguous, in device order, at least one latent row each (a 3x3 conv's halo is one row, always held by
// the neighbouring band); sizes differ by at most one (the first h % N bands get one more), or follow
// per-device weights by largest remainder, as the transformer's sequence plan does.
import { partSizes } from "./plan.ts";

/** A device's band: structurally the decoder's RowBand (src/vae/decoder.ts) plus the device and its size. */
export interface DeviceBand {
  device: number;
  /** Latent rows [y0, y1) of h. */
  y0: number;
  y1: number;
  /** Latent rows in the band: y1 - y0. */
  rows: number;
}

export interface BandPlan {
  devices: number;
  /** Latent height h (rows of every latent frame). */
  h: number;
  bands: DeviceBand[];
}

export function planBands(h: number, devices: number, weights?: readonly number[]): BandPlan {
  if (!Number.isInteger(h) || h < 1) throw new Error(`latent height must be an integer >= 1, got ${h}`);
  if (!Number.isInteger(devices) || devices < 1) throw new Error(`devices must be an integer >= 1, got ${devices}`);
  if (devices > h) throw new Error(`${devices} devices for a latent height of ${h} rows: every device needs at least one row (ask for at most ${h} devices)`);
  const sizes = partSizes(h, devices, weights, (d) => `weights ${weights!.join(",")} give device ${d} none of the ${h} latent rows: every device needs at least one (raise its weight or use fewer devices)`);
  const bands: DeviceBand[] = [];
  let y0 = 0;
  sizes.forEach((rows, device) => {
    bands.push({ device, y0, y1: y0 + rows, rows });
    y0 += rows;
  });
  return { devices, h, bands };
}

/** One line per band, e.g. `device 1: latent rows [20, 40) = video rows [160, 320)`. */
export function describeBands(plan: BandPlan, scale = 8): string[] {
  return plan.bands.map((b) => `device ${b.device}: latent rows [${b.y0}, ${b.y1}) = video rows [${b.y0 * scale}, ${b.y1 * scale})`);
}
