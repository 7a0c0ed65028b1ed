// The composed Float64 reference of the whole decoder (test/reference/wan_vae.ts) against diffusers'
// float64 fixtures (decoded video and every stage), then the GPU decoder against that reference at latent
// sizes the fixtures do not cover (odd T, h, w; one latent row; one frame).
import { WanVaeDecoder } from "../../src/vae/decoder.ts";
import { latentsToZ } from "../../src/vae/config.ts";
import { syntheticLatents } from "../../src/vae/synthetic.ts";
import type { DType } from "../../src/shape.ts";
import { catFrames, wanVaeDecodeRef } from "../reference/wan_vae.ts";
import { expectClose, expectEqual, f64, test, withGpu, withGpuF16 } from "../../src/selftest/harness.ts";
import type { Gpu } from "../../src/gpu/device.ts";
import type { VaeFixtureName } from "../../src/selftest/fixtures.ts";
import { loadVaeGolden } from "./util.ts";
import { VAE_TOL } from "./decode.test.ts";

/** float64 vs diffusers' float64, whose outputs the fixtures store rounded to f32 (~3e-8 relative). */
const REF_TOL = 1e-6;

async function checkReference(name: VaeFixtureName) {
  const g = await loadVaeGolden(name);
  const { F: T, H: h, W: w } = g.latent;
  const { decoded, stages } = wanVaeDecodeRef(g.cfg, g.weights, f64(g.z), T, h, w);
  for (const [stage, xs] of Object.entries(stages)) {
    expectClose(`${name} reference stage ${stage}`, catFrames(xs).d, await g.io.readF32(`intermediate.${stage}`), REF_TOL);
  }
  expectEqual(`${name} reference shape`, [decoded.C, decoded.T, decoded.H, decoded.W], [3, 1 + 4 * (T - 1), 8 * h, 8 * w]);
  expectClose(`${name} reference decoded`, decoded.d, g.decoded, REF_TOL);
}

test("vae reference == diffusers wan-vae-tiny (decoded + every stage)", () => checkReference("wan-vae-tiny"), { tags: ["slow"], hosts: ["deno"] });
// wan-vae-small agrees too (checked once: 97 s of float64 on two CPU cores, too slow for every run).

async function checkOdd(gpu: Gpu, T: number, h: number, w: number, dtype: DType) {
  const g = await loadVaeGolden("wan-vae-tiny");
  const z = latentsToZ(syntheticLatents(g.cfg, T, h, w), g.cfg);
  const ref = wanVaeDecodeRef(g.cfg, g.weights, f64(z), T, h, w).decoded.d.map((v) => Math.min(1, Math.max(-1, v)));
  const dec = new WanVaeDecoder(gpu, g.cfg, g.weights, dtype);
  try {
    expectClose(`odd latent ${T}x${h}x${w} ${dtype}`, await dec.decode(z, { F: T, H: h, W: w }), ref, VAE_TOL[dtype]);
  } finally {
    dec.dispose();
  }
}

// [T, h, w]: odd sizes, a single latent row, a single frame (no time upsampling at all), 4 chunks.
for (const [T, h, w] of [[2, 3, 5], [1, 1, 7], [4, 2, 3]]) {
  test(`vae decode odd latent ${T}x${h}x${w} f32 == reference`, () => withGpu((gpu) => checkOdd(gpu, T, h, w, "f32")), { tags: ["slow"], hosts: ["deno"] });
  test(`vae decode odd latent ${T}x${h}x${w} f16 == reference`, () => withGpuF16((gpu) => checkOdd(gpu, T, h, w, "f16")), { tags: ["slow"], needs: ["f16"], hosts: ["deno"] });
}
