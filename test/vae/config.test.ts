// Bad input gets one clear line: the VAE config parser, the weight loader and decode's input checks.
import { latentsToZ, parseWanVaeConfig, vaeDecoderPlan, vaeVideoFrames, WAN21_VAE, wanVaeConfigJson } from "../../src/vae/config.ts";
import { validateVaeCheckpoint } from "../../src/vae/weights.ts";
import { WanVaeDecoder } from "../../src/vae/decoder.ts";
import { bytesSource, Checkpoint, encodeSafetensors } from "../../src/io/safetensors.ts";
import { expectEqual, expectThrows, test, withGpu } from "../../src/selftest/harness.ts";
import { loadVaeGolden } from "./util.ts";

test("vae config: the Wan2.1 preset's decoder widths and frame count", () => {
  const plan = vaeDecoderPlan(WAN21_VAE);
  expectEqual("mid width", plan.midDim, 384);
  expectEqual("up blocks", plan.blocks.map((b) => [b.inDim, b.outDim, b.upsample]), [[384, 384, "3d"], [192, 384, "3d"], [192, 192, "2d"], [96, 96, null]]);
  expectEqual("frames of 21 latent frames", vaeVideoFrames(WAN21_VAE, 21), 81);
  expectEqual("round trip through config.json", parseWanVaeConfig(wanVaeConfigJson(WAN21_VAE), "x"), WAN21_VAE);
});

test("vae config: errors name the file, the field, expected vs found", async () => {
  const good = wanVaeConfigJson(WAN21_VAE);
  await expectThrows("transformer config", () => parseWanVaeConfig({ ...good, _class_name: "WanTransformer3DModel" }, "vae/config.json"), /vae\/config\.json: "_class_name" is "WanTransformer3DModel", expected "AutoencoderKLWan"/);
  await expectThrows("short mean", () => parseWanVaeConfig({ ...good, latents_mean: [0, 1] }, "c.json"), /c\.json: "latents_mean" has 2 entries, expected z_dim = 16/);
  await expectThrows("Wan2.2", () => parseWanVaeConfig({ ...good, is_residual: true }, "c.json"), /"is_residual" is true/);
  await expectThrows("bad base_dim", () => parseWanVaeConfig({ ...good, base_dim: -3 }, "c.json"), /"base_dim" must be a positive integer, found -3/);
  await expectThrows("temperal_downsample length", () => parseWanVaeConfig({ ...good, temperal_downsample: [true] }, "c.json"), /"temperal_downsample" has 1 entries, expected 3/);
  await expectThrows("latentsToZ size", () => latentsToZ(new Float32Array(17), WAN21_VAE), /17 values are not \[16, T, h, w\]/);
});

test("vae weights: a missing tensor and a wrong shape are named, expected vs found", async () => {
  const g = await loadVaeGolden("wan-vae-tiny");
  const bytes = encodeSafetensors({
    "decoder.conv_in.weight": { dtype: "F32", shape: [32, 16, 3, 3, 1], data: new Float32Array(32 * 16 * 9) },
  });
  const ckpt = await Checkpoint.open([bytesSource("vae/diffusion_pytorch_model.safetensors", bytes)]);
  await expectThrows("checkpoint", () => validateVaeCheckpoint(ckpt, g.cfg), /does not match its config \(base_dim 8, z_dim 16\): tensor "post_quant_conv\.weight" \[16, 16, 1, 1, 1\] not found \(and 107 more: .*tensor "decoder\.conv_in\.weight" has shape \[32, 16, 3, 3, 1\], expected \[32, 16, 3, 3, 3\]/);
});

test("vae decode refuses a non-finite z and a wrong size, naming them", () =>
  withGpu(async (gpu) => {
    const g = await loadVaeGolden("wan-vae-tiny");
    const dec = new WanVaeDecoder(gpu, g.cfg, g.weights, "f32");
    const z = g.z.slice();
    z[5 * 24 + 7] = NaN;
    await expectThrows("NaN", () => dec.decode(z, g.latent), /VAE decode: z has 1 non-finite value \(first NaN at channel-frame 5, column 7\)/);
    await expectThrows("size", () => dec.decode(g.z, { F: 2, H: 4, W: 6 }), /z has 1152 values, expected \[16, 2, 4, 6\] = 768/);
    await expectThrows("band", () => dec.decode(g.z, g.latent, { band: { y0: 2, y1: 9 } }), /rows \[2, 9\) must be a non-empty integer range within the latent's 4 rows/);
    dec.dispose();
  }));
