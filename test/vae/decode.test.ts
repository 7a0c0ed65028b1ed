// The Wan VAE decoder on one device against diffusers' float64 decode (the golden fixtures): the clamped
// video and each stage's output (post_quant_conv, conv_in, mid block, every up block) so a failure says where.
import type { DType } from "../../src/shape.ts";
import type { Tensor } from "../../src/gpu/tensor.ts";
import { WanVaeDecoder, latentsToZ } from "../../src/vae/decoder.ts";
import { expectClose, expectEqual, test, withGpu, withGpuF16 } from "../../src/selftest/harness.ts";
import type { Gpu } from "../../src/gpu/device.ts";
import type { VaeFixtureName } from "../../src/selftest/fixtures.ts";
import { chunksToChannelsFirst, loadVaeGolden } from "./util.ts";

/** DESIGN.md (shared/docs, not in this repo) "Numbers that count": f32 1e-4, f16 arithmetic 1e-2 (relative L2). */
export const VAE_TOL = { f32: 1e-4, f16: 1e-2 } as const;

async function checkDecode(gpu: Gpu, name: VaeFixtureName, dtype: DType) {
  const g = await loadVaeGolden(name);
  expectClose(`${name} latentsToZ`, latentsToZ(g.latents, g.cfg), g.z, 1e-6);
  const dec = new WanVaeDecoder(gpu, g.cfg, g.weights, dtype);
  const stages = new Map<string, { data: Float32Array[]; shapes: number[][] }>();
  const live = gpu.liveBuffers;
  const video = await dec.decode(g.z, g.latent, {
    intermediates: dtype === "f32"
      ? async (stage: string, x: Tensor) => {
        const s = stages.get(stage) ?? { data: [], shapes: [] };
        s.data.push(await gpu.read(x));
        s.shapes.push(x.shape);
        stages.set(stage, s);
      }
      : undefined,
  });
  expectEqual(`${name} ${dtype}: pooled buffers held after the decode`, gpu.liveBuffers, live);
  for (const [stage, s] of stages) {
    expectClose(`${name} ${dtype} stage ${stage}`, chunksToChannelsFirst(s.data, s.shapes), await g.io.readF32(`intermediate.${stage}`), VAE_TOL[dtype]);
  }
  if (dtype === "f32" && stages.size !== 3 + g.cfg.dimMult.length) throw new Error(`${name}: ${stages.size} stages reported, expected ${3 + g.cfg.dimMult.length}`);
  expectClose(`${name} ${dtype} decoded video (clamped)`, video, g.expected, VAE_TOL[dtype]);
  dec.dispose();
}

// Chromium runs this one (SwiftShader compiles each of the decoder's ~20 pipelines in seconds: minutes in all).
test("vae decode wan-vae-tiny f32 (+ every stage)", () => withGpu((gpu) => checkDecode(gpu, "wan-vae-tiny", "f32")), { tags: ["slow"], timeoutMs: 900_000 });
test("vae decode wan-vae-tiny f16", () => withGpuF16((gpu) => checkDecode(gpu, "wan-vae-tiny", "f16")), { tags: ["slow"], needs: ["f16"], hosts: ["deno"] });
test("vae decode wan-vae-small f32 (+ every stage)", () => withGpu((gpu) => checkDecode(gpu, "wan-vae-small", "f32")), { tags: ["slow"], hosts: ["deno"] });
test("vae decode wan-vae-small f16", () => withGpuF16((gpu) => checkDecode(gpu, "wan-vae-small", "f16")), { tags: ["slow"], needs: ["f16"], hosts: ["deno"] });
