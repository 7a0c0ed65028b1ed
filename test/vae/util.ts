// Loads a VAE golden fixture (diffusers' AutoencoderKLWan in float64, ../shared/fixtures/README.md) through
// the product's readers, in both hosts. wan-vae-tiny keeps its decoder weights as a real (decoder-only)
// safetensors file, read by loadWanVaeWeights; wan-vae-small's are rebuilt by the fixtures' rule
// (tools/vae-fixture.ts checked the rule against the shared copy bit for bit).
import { bytesSource, Checkpoint } from "../../src/io/safetensors.ts";
import { parseWanVaeConfig, type WanVaeConfig } from "../../src/vae/config.ts";
import { loadWanVaeWeights, type WanVaeWeights } from "../../src/vae/weights.ts";
import { syntheticVaeWeights } from "../../src/vae/synthetic.ts";
import type { Grid3 } from "../../src/shape.ts";
import { fixtureBytes, type VaeFixtureName } from "../../src/selftest/fixtures.ts";

export interface VaeGolden {
  cfg: WanVaeConfig;
  weights: WanVaeWeights;
  io: Checkpoint;
  /** [16, T, h, w] */
  latents: Float32Array;
  z: Float32Array;
  latent: Grid3;
  /** [3, 1 + 4 (T - 1), 8h, 8w] before / after the clamp. */
  decoded: Float32Array;
  expected: Float32Array;
}

const cache = new Map<VaeFixtureName, Promise<VaeGolden>>();

export function loadVaeGolden(name: VaeFixtureName): Promise<VaeGolden> {
  let p = cache.get(name);
  if (!p) {
    p = (async () => {
      const cfg = parseWanVaeConfig(JSON.parse(new TextDecoder().decode(await fixtureBytes(name, "config.json"))), `${name}/config.json`);
      const weights = name === "wan-vae-tiny"
        ? await loadWanVaeWeights(await Checkpoint.open([bytesSource(`${name}/diffusion_pytorch_model.safetensors`, await fixtureBytes(name, "diffusion_pytorch_model.safetensors"))]), cfg)
        : syntheticVaeWeights(cfg);
      const io = await Checkpoint.open([bytesSource(`${name}/io.safetensors`, await fixtureBytes(name, "io.safetensors"))]);
      const [, , T, h, w] = io.info("latents").shape;
      return {
        cfg,
        weights,
        io,
        latents: await io.readF32("latents"),
        z: await io.readF32("z"),
        latent: { F: T, H: h, W: w },
        decoded: await io.readF32("decoded"),
        expected: await io.readF32("expected"),
      };
    })();
    cache.set(name, p);
  }
  return p;
}

/** Channels-last chunks [T_i, H, W, C] concatenated over time -> channels-first [C, sum T_i, H, W] (the fixtures' layout). */
export function chunksToChannelsFirst(chunks: Float32Array[], shapes: number[][]): Float32Array {
  const [, H, W, C] = shapes[0];
  const T = shapes.reduce((a, s) => a + s[0], 0);
  const out = new Float32Array(C * T * H * W);
  let t0 = 0;
  chunks.forEach((x, i) => {
    const Ti = shapes[i][0];
    for (let t = 0; t < Ti; t++) {
      for (let p = 0; p < H * W; p++) {
        for (let c = 0; c < C; c++) out[((c * T) + t0 + t) * H * W + p] = x[(t * H * W + p) * C + c];
      }
    }
    t0 += Ti;
  });
  return out;
}
