// The VAE mid block's attention (one head, head dim = channels: 384 in Wan2.1) through attention.wgsl with
// the wide tiles the decoder picks from when the default tiles stop short of D (VAE_WIDE_ATTENTION; each
// test skips where the adapter's workgroup memory is too small for its tile), against the
// Float64 attention reference, at pixel counts off the tile.
import { type AttentionConfig, attentionPlan, attentionWith } from "../../ops/attention.ts";
import { VAE_WIDE_ATTENTION } from "../../vae/decoder.ts";
import { attentionRef } from "../reference/attention.ts";
import { expectClose, f64, randomArray, roundF16, skip, test, TOL, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

async function check(gpu: Gpu, L: number, D: number, cfg: AttentionConfig, dtype: DType) {
  const plan = attentionPlan(cfg, D, dtype === "f16");
  if (plan.workgroupBytes > gpu.limits.maxComputeWorkgroupStorageSize) skip(`the wide tile needs ${plan.workgroupBytes} bytes of workgroup memory`);
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  const q = round(randomArray(L * D, L + D, 0.3)), k = round(randomArray(L * D, L + D + 1, 0.3)), v = round(randomArray(L * D, L + D + 2, 1));
  const out = gpu.empty([L, 1, D], dtype);
  attentionWith(gpu, gpu.upload(q, [L, 1, D], dtype), gpu.upload(k, [L, 1, D], dtype), gpu.upload(v, [L, 1, D], dtype), out, undefined, cfg);
  expectClose(`vae attention L=${L} D=${D} ${dtype}`, await gpu.read(out), attentionRef(f64(q), f64(k), f64(v), L, L, 1, D, L), TOL.matmul[dtype]);
}

for (const cfg of VAE_WIDE_ATTENTION) {
  for (const [L, D] of [[15, 384], [150, 384], [77, 320]]) {
    const label = `vae attention ${cfg.BQ}x${cfg.BK} L=${L} D=${D}`;
    test(`${label} f32`, () => withGpu((gpu) => check(gpu, L, D, cfg, "f32")), { tags: ["slow"] });
    test(`${label} f16`, () => withGpuF16((gpu) => check(gpu, L, D, cfg, "f16")), { tags: ["slow"], needs: ["f16"], hosts: ["deno"] });
  }
}
