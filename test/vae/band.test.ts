// Band decode: the frame split into 2 or 3 height bands (uneven, down to one latent row), decoded
// concurrently on one device through an in-process BandExchange and stitched, equals the whole-frame
// decode. The sharded engineer's exchange across workers implements the same contract.
import { WanVaeDecoder } from "../../src/vae/decoder.ts";
import type { RowBand } from "../../src/vae/band.ts";
import { expectClose, test, withGpu } from "../../src/selftest/harness.ts";
import { loadVaeGolden } from "./util.ts";
import { InProcessBands } from "./band_exchange.ts";

async function checkBands(bands: RowBand[]) {
  await withGpu(async (gpu) => {
    const g = await loadVaeGolden("wan-vae-tiny");
    const dec = new WanVaeDecoder(gpu, g.cfg, g.weights, "f32");
    const whole = await dec.decode(g.z, g.latent);
    const ex = new InProcessBands(gpu, bands.length);
    const parts = await Promise.all(bands.map((band, i) => dec.decode(g.z, g.latent, { band, halo: ex.exchange(i) })));
    // Stitch [3, F, 8 rows_i, W] bands into [3, F, H, W].
    const { F: T, H: h, W: w } = g.latent;
    const F = 1 + 4 * (T - 1), H = 8 * h, W = 8 * w;
    const stitched = new Float32Array(3 * F * H * W);
    bands.forEach((b, i) => {
      const rows = 8 * (b.y1 - b.y0);
      for (let cf = 0; cf < 3 * F; cf++) stitched.set(parts[i].subarray(cf * rows * W, (cf + 1) * rows * W), (cf * H + 8 * b.y0) * W);
    });
    // Every value is computed by the same arithmetic in the same order: equal, not just close.
    expectClose(`bands ${JSON.stringify(bands)} stitched vs whole frame`, stitched, whole, 0);
    expectClose(`bands ${JSON.stringify(bands)} vs diffusers`, stitched, g.expected, 1e-4);
    dec.dispose();
  });
}

test("vae band decode: 2 bands [0,2) [2,4) == whole frame", () => checkBands([{ y0: 0, y1: 2 }, { y0: 2, y1: 4 }]), { tags: ["slow"], hosts: ["deno"] });
test("vae band decode: 3 uneven bands [0,1) [1,3) [3,4) == whole frame", () => checkBands([{ y0: 0, y1: 1 }, { y0: 1, y1: 3 }, { y0: 3, y1: 4 }]), { tags: ["slow"], hosts: ["deno"] });
