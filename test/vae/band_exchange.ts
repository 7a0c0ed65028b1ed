// A test-only BandExchange for bands decoded concurrently on ONE device in one process: every band's
// k-th call with a given name meets the others' (all bands call in the same order); halo rows and whole
// frames are assembled with buffer copies from the neighbours' tensors. It proves the contract the
// sharded exchange (src/parallel/vae_exchange.ts) implements across workers: band decodes stitched ==
// the whole-frame decode.
import type { Gpu } from "../../src/gpu/device.ts";
import { dtypeBytes, numel } from "../../src/shape.ts";
import { type Tensor } from "../../src/gpu/tensor.ts";
import type { BandExchange } from "../../src/vae/band.ts";

interface Meeting {
  xs: (Tensor | undefined)[];
  arrived: number;
  done: Promise<void>;
  resolve: () => void;
}

export class InProcessBands {
  private meetings = new Map<string, Meeting>();
  private calls: Map<string, number>[];

  constructor(private gpu: Gpu, private n: number) {
    this.calls = Array.from({ length: n }, () => new Map());
  }

  /** Waits until every band has posted its tensor for this call; returns them in band order. */
  private async meet(band: number, name: string, x: Tensor): Promise<Tensor[]> {
    const k = this.calls[band].get(name) ?? 0;
    this.calls[band].set(name, k + 1);
    const key = `${name}#${k}`;
    let m = this.meetings.get(key);
    if (!m) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      m = { xs: new Array(this.n), arrived: 0, done, resolve };
      this.meetings.set(key, m);
    }
    m.xs[band] = x;
    if (++m.arrived === this.n) {
      this.meetings.delete(key);
      m.resolve();
    }
    await m.done;
    return m.xs as Tensor[];
  }

  exchange(band: number): BandExchange {
    const gpu = this.gpu;
    return {
      withHalo: async (name, x, rows) => {
        const xs = await this.meet(band, name, x);
        const [T, R, W, C] = x.shape;
        const rowBytes = W * C * dtypeBytes(x.dtype);
        const out = gpu.upload(new Float32Array(T * (R + 2 * rows) * W * C), [T, R + 2 * rows, W, C], x.dtype, `${name} halo`);
        for (let t = 0; t < T; t++) {
          const dst = (r: number) => out.offset + (t * (R + 2 * rows) + r) * rowBytes;
          const src = (y: Tensor, r: number) => y.offset + (t * y.shape[1] + r) * rowBytes;
          gpu.copy(x.buffer, src(x, 0), out.buffer, dst(rows), R * rowBytes);
          const up = xs[band - 1], down = xs[band + 1];
          if (up) gpu.copy(up.buffer, src(up, up.shape[1] - rows), out.buffer, dst(0), rows * rowBytes);
          if (down) gpu.copy(down.buffer, src(down, 0), out.buffer, dst(R + rows), rows * rowBytes);
        }
        await this.meet(band, `${name} copied`, x); // neighbours may release x only after every copy is recorded
        return out;
      },
      gatherFrame: async (name, x) => {
        const xs = await this.meet(band, name, x);
        const [T, , W, C] = x.shape;
        const H = xs.reduce((a, y) => a + y.shape[1], 0);
        const rowBytes = W * C * dtypeBytes(x.dtype);
        const out = gpu.empty([T, H, W, C], x.dtype, `${name} frame`);
        for (let t = 0; t < T; t++) {
          let r0 = 0;
          for (const y of xs) {
            gpu.copy(y.buffer, y.offset + t * y.shape[1] * rowBytes, out.buffer, out.offset + (t * H + r0) * rowBytes, y.shape[1] * rowBytes);
            r0 += y.shape[1];
          }
        }
        await this.meet(band, `${name} copied`, x);
        if (numel(out.shape) !== T * H * W * C) throw new Error("gatherFrame: bad shape");
        return out;
      },
      release: (t) => gpu.release(t.buffer),
    };
  }
}
