// Height bands: how the VAE decoder is split across devices (the sharded decode, src/parallel/vae_*.ts)
// and the exchange it calls for the rows it does not own. Activations are channels-last [T, rows, W, C]
// (src/vae/decoder.ts), so a band's rows of a frame are contiguous and a halo is whole rows.
import type { Tensor } from "../gpu/tensor.ts";

/** This device's latent rows [y0, y1) of h; at a stage upsampled s times the rows are [y0 2^s, y1 2^s). */
export interface RowBand {
  y0: number;
  y1: number;
}

export interface BandExchange {
  /**
   * x: this band's activation [T, rows, W, C]; returns [T, rows + 2 * halo, W, C] with `halo` neighbour
   * rows above and below (zeros beyond the frame's edge). Called before every 3x3 spatial conv, by every
   * band in the same order, with a `name` that identifies the conv (the same on every band).
   */
  withHalo(name: string, x: Tensor, rows: number): Promise<Tensor>;
  /** Every row of the frame [T, H, W, C] (the mid block's attention). */
  gatherFrame(name: string, x: Tensor): Promise<Tensor>;
  /** Gives back a tensor returned by withHalo or gatherFrame (the decoder is done with it). */
  release(t: Tensor): void;
}

/** Throws unless `band` is a non-empty row range of a latent of height h. */
export function checkBand(band: RowBand, h: number): void {
  if (!(Number.isInteger(band.y0) && Number.isInteger(band.y1) && 0 <= band.y0 && band.y0 < band.y1 && band.y1 <= h)) {
    throw new Error(`VAE band: rows [${band.y0}, ${band.y1}) must be a non-empty integer range within the latent's ${h} rows`);
  }
}
