// The whole Wan2.1 forward on one device against diffusers' float64 output (the golden fixtures), and
// the intermediates (patch embedding, conditioning, each block's hidden states) so a failure says where.
import type { Gpu } from "../../src/gpu/device.ts";
import type { DType } from "../../src/shape.ts";
import type { Tensor } from "../../src/gpu/tensor.ts";
import { forwardOnDevice, wholeShard } from "../../src/model/forward.ts";
import { WanModel } from "../../src/model/wan.ts";
import { ownKeysAttention } from "../../src/model/self_attention.ts";
import { uploadWanWeights } from "../../src/model/weights_gpu.ts";
import { patchify } from "../../src/ops/patchify.ts";
import { gemm } from "../../src/ops/gemm.ts";
import { expectClose, test, TOL, withGpu, withGpuF16 } from "../../src/selftest/harness.ts";
import type { FixtureName } from "../../src/selftest/fixtures.ts";
import { type Golden, loadGolden } from "./util.ts";
import { ODD_CASES, oddCaseData } from "./configs.ts";
import { wanForwardRef } from "../reference/wan.ts";

/** Whole-model tolerances (DESIGN.md (shared/docs, not in this repo) "Numbers that count"): f32 1e-4, f16 arithmetic 1e-2. */
const MODEL_TOL = TOL.model;

function model(gpu: Gpu, g: Golden, dtype: DType): WanModel {
  return new WanModel(gpu, g.cfg, uploadWanWeights(gpu, g.cfg, g.weights, dtype), dtype);
}

async function checkForward(gpu: Gpu, name: FixtureName, dtype: DType) {
  const g = await loadGolden(name);
  expectClose(`${name} forward ${dtype}`, await forwardOnDevice(model(gpu, g, dtype), g.inputs), g.expected, MODEL_TOL[dtype]);
}

/** [1, d, F', H', W'] (channels first, as Conv3d writes) -> [L, d] token-major. */
function channelsLast(x: Float32Array, d: number): Float32Array {
  const L = x.length / d;
  const out = new Float32Array(x.length);
  for (let c = 0; c < d; c++) for (let t = 0; t < L; t++) out[t * d + c] = x[c * L + t];
  return out;
}

async function checkIntermediates(gpu: Gpu, name: FixtureName) {
  const g = await loadGolden(name);
  const m = model(gpu, g, "f32");
  const C = g.cfg.inChannels, { F, H, W } = g.inputs.latentGrid;
  const d = g.cfg.dim;
  const ref = (key: string) => g.io.readF32(`intermediate.${key}`);
  // Patch embedding.
  const shard = wholeShard(g.inputs.latentGrid);
  const latent = gpu.upload(g.inputs.latent, [C, F, H, W], "f32", "latent");
  const patches = gpu.empty([shard.count, C * 4], "f32", "patches");
  patchify(gpu, latent, 0, shard.count, patches);
  const h0 = gpu.empty([shard.count, d], "f32", "h0");
  gemm(gpu, patches, m.w.patch, h0);
  expectClose(`${name} patch embedding`, await gpu.read(h0), channelsLast(await ref("patch_embedding"), d), MODEL_TOL.f32);
  // Conditioning: temb, the timestep projection, the text context (via the cross-attention inputs).
  const time = m.embedTimestep(g.inputs.timestep);
  expectClose(`${name} temb`, await gpu.read(time.temb), await ref("condition_embedder.0"), MODEL_TOL.f32);
  expectClose(`${name} timestep projection`, await gpu.read(time.proj), await ref("condition_embedder.1"), MODEL_TOL.f32);
  // Each block's output, through the model's hook.
  const text = m.encodeText(g.inputs.text, g.inputs.textTokens);
  const blocks: Float32Array[] = [];
  const y = await m.forwardTokens(latent, time, text, shard, ownKeysAttention, async (_i, h: Tensor) => {
    blocks.push(await gpu.read(h));
  });
  for (let i = 0; i < blocks.length; i++) expectClose(`${name} block ${i} output`, blocks[i], await ref(`blocks.${i}`), MODEL_TOL.f32);
  gpu.freeTensor(y);
}

for (const name of ["wan-tiny", "wan-small"] as const) {
  test(`model ${name} forward f32 vs diffusers`, () => withGpu((gpu) => checkForward(gpu, name, "f32")), { tags: name === "wan-tiny" ? ["dawn"] : [] });
  test(`model ${name} forward f16 vs diffusers`, () => withGpuF16((gpu) => checkForward(gpu, name, "f16")), { tags: name === "wan-tiny" ? ["dawn"] : [], needs: ["f16"] });
  test(`model ${name} intermediates f32 (patch embedding, conditioning, blocks)`, () => withGpu((gpu) => checkIntermediates(gpu, name)), { tags: ["slow"] });
}

// Any config of the architecture, against the composed Float64 reference.
for (const c of ODD_CASES) {
  for (const dtype of ["f32", "f16"] as const) {
    test(`model ${c.name} forward ${dtype} vs Float64 reference`, () =>
      (dtype === "f16" ? withGpuF16 : withGpu)(async (gpu) => {
        const { weights, inputs } = oddCaseData(c);
        const m = new WanModel(gpu, c.cfg, uploadWanWeights(gpu, c.cfg, weights, dtype), dtype);
        expectClose(`${c.name} ${dtype}`, await forwardOnDevice(m, inputs), wanForwardRef(c.cfg, weights, inputs), MODEL_TOL[dtype]);
      }), { tags: ["slow"], needs: ["f16"] });
  }
}

// The composed reference itself must reproduce diffusers (else the checks above prove nothing).
test("model Float64 reference wan-tiny vs diffusers", async () => {
  const g = await loadGolden("wan-tiny");
  expectClose("wanForwardRef wan-tiny", wanForwardRef(g.cfg, g.weights, g.inputs), g.expected, TOL.float64.model);
});
