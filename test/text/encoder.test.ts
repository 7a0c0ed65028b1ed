// The umT5 encoder against transformers' UMT5EncoderModel in float64 (test/fixtures/umt5-tiny, umt5-odd: run as
// WanPipeline does, ids padded to 512 with the mask; the goldens are the first seq_len rows), on prompts of
// 1 (the empty prompt), 15, 22 and 512 tokens (truncated: relative distances up to 511, past max_distance 128).
import { bytesSource, Checkpoint } from "../../src/io/safetensors.ts";
import { bucketTable, relativePositionBucket, splitLayers, type Umt5Config, Umt5Encoder, Umt5LayerSplit, type Umt5LayerWeights } from "../../src/model/umt5.ts";
import { Gpu } from "../../src/gpu/device.ts";
import { syntheticTensor } from "../../src/loaders/synthetic.ts";
import { gatherEmbeddingRows, loadUmt5Encoder, parseUmt5Config, UMT5_FINAL_NORM, umt5LayerTensors } from "../../src/loaders/umt5.ts";
import { Umt5Tokenizer } from "../../src/text/tokenizer.ts";
import { promptClean } from "../../src/text/prompt_clean.ts";
import { expectBitwiseEqual, expectClose, relL2, test, TOL, withGpu, withGpuF16 } from "../../src/selftest/harness.ts";
import { quantizeW8 } from "../../src/ops/gemm_w8.ts";
import { assert, expectError } from "../io/util.ts";
import { umt5EncoderRef } from "../reference/umt5.ts";
import { umt5FixtureBytes, umt5FixtureJson } from "./util.ts";

type Config = "umt5-tiny" | "umt5-odd";
const CONFIGS: Config[] = ["umt5-tiny", "umt5-odd"];
interface IoJson {
  cases: { prompt: string; input_ids: number[]; seq_len: number }[];
}

async function open(f: Config) {
  const cfg = parseUmt5Config(await umt5FixtureJson(f, "config.json"), `${f}/config.json`);
  const ck = await Checkpoint.open([bytesSource(`${f}/model.safetensors`, await umt5FixtureBytes(f, "model.safetensors"))]);
  const io = await Checkpoint.open([bytesSource(`${f}/io.safetensors`, await umt5FixtureBytes(f, "io.safetensors"))]);
  return { cfg, ck, io, meta: await umt5FixtureJson<IoJson>(f, "io.json") };
}

async function hostWeights(ck: Checkpoint, cfg: Umt5Config): Promise<Umt5LayerWeights[]> {
  const layers: Umt5LayerWeights[] = [];
  for (let i = 0; i < cfg.layers; i++) {
    const w = {} as Umt5LayerWeights;
    for (const t of umt5LayerTensors(cfg, i)) w[t.key] = await ck.readF32(t.name);
    layers.push(w);
  }
  return layers;
}

test("umt5: relative position buckets == transformers' for every distance -511..511", async () => {
  const cfg = parseUmt5Config(await umt5FixtureJson("umt5-tiny", "config.json"), "umt5-tiny/config.json");
  const want = await umt5FixtureJson<{ from: number; buckets: number[] }>("umt5-tiny", "buckets.json");
  const got = bucketTable(512, cfg);
  assert(want.from === -511 && want.buckets.length === got.length, "buckets.json covers -511..511");
  const bad = want.buckets.flatMap((b, i) => (got[i] === b ? [] : [`r=${i - 511}: ${got[i]} vs ${b}`]));
  assert(bad.length === 0, `${bad.length} buckets differ: ${bad.slice(0, 6).join(", ")}`);
  // the float32 boundaries: 16 -> bucket 10 (log2 exact), 15 -> 9
  assert(relativePositionBucket(16, 32, 128) === 26 && relativePositionBucket(-16, 32, 128) === 10 && relativePositionBucket(-15, 32, 128) === 9, "boundary at |r| = 16");
});

for (const f of CONFIGS) {
  test(`umt5: ${f} model.safetensors == the fixtures' deterministic rule, bit for bit`, async () => {
    const { ck } = await open(f);
    for (const n of ck.names()) {
      const want = syntheticTensor(n, ck.info(n).shape), got = await ck.readF32(n);
      assert(got.every((v, i) => v === want[i]), `${n} differs from the rule`);
    }
  });

  test(`umt5: ${f} encoder (f32, GPU) == transformers float64 and the Float64 reference == transformers`, async () => {
    const { cfg, ck, io, meta } = await open(f);
    const tok = new Umt5Tokenizer(await umt5FixtureJson("umt5-tokenizer", "tokenizer.json"), {}, "umt5-tokenizer/tokenizer.json");
    const layers = await hostWeights(ck, cfg), finalNorm = await ck.readF32(UMT5_FINAL_NORM);
    await withGpu(async (gpu) => {
      const enc = await loadUmt5Encoder(gpu, ck, cfg, f);
      try {
        for (const [i, c] of meta.cases.entries()) {
          // SwiftShader takes ~25 s for the 512-token prompt: Chromium runs the short ones, Deno all of them; Dawn
          // (CI's Dawn pass on lavapipe: 12 s for it) the short ones too: its 512-token case runs on the GPU host
          // (bench/umt5_encoder.ts step 1, every case on Dawn) and here on wgpu
          if ((typeof Deno === "undefined" || gpu.implementation === "dawn") && c.seq_len > 64) continue;
          const t = tok.tokenize(promptClean(c.prompt));
          assert(t.seqLen === c.seq_len && Array.from(t.inputIds.slice(0, t.seqLen)).join() === c.input_ids.join(), `case ${i}: our ids differ from the golden's`);
          const emb = await gatherEmbeddingRows(ck, cfg, c.input_ids);
          const want = await io.readF32(`expected.${i}`);
          expectClose(`${f} case ${i} (${c.seq_len} tokens) GPU`, await enc.encode(emb), want, TOL.model.f32);
          if (c.seq_len <= 64) expectClose(`${f} case ${i} Float64 reference`, umt5EncoderRef(cfg, layers, finalNorm, emb), want, TOL.float64.model);
        }
      } finally {
        enc.free();
      }
    });
    // "dawn": CI's Dawn pass runs it too (issue 21: within 1e-4 in Deno, Chromium and on Dawn)
  }, { tags: ["slow", "dawn"] });
}

test("umt5: bad configs and checkpoints are one clear line", async () => {
  const base = await umt5FixtureJson<Record<string, unknown>>("umt5-tiny", "config.json");
  await expectError("t5", () => parseUmt5Config({ ...base, model_type: "t5" }, "c.json"), "c.json", "model_type", "umt5", "layer 0");
  await expectError("relu", () => parseUmt5Config({ ...base, feed_forward_proj: "relu" }, "c.json"), "c.json", "feed_forward_proj", "gated-gelu");
  await expectError("heads", () => parseUmt5Config({ ...base, num_heads: 0 }, "c.json"), "c.json", "num_heads");
  const { cfg, ck } = await open("umt5-tiny");
  await expectError("vocab", () => gatherEmbeddingRows(ck, cfg, [1, cfg.vocabSize]), "token id", `${cfg.vocabSize}`, "shared.weight", "do not match");
  await expectError("shape", () => withGpu((gpu) => loadUmt5Encoder(gpu, ck, { ...cfg, dFf: 65 }, "te")), "te", "wi_0", "[65, 32]");
});

test("umt5: umt5-odd encoder all in f16 (weights, activations, residual) == transformers float64 within the f16 bound", async () => {
  const { cfg, ck, io, meta } = await open("umt5-odd");
  await withGpuF16(async (gpu) => {
    const enc = await loadUmt5Encoder(gpu, ck, cfg, "umt5-odd", { precision: "f16" });
    try {
      for (const [i, c] of meta.cases.entries()) {
        if (c.seq_len > 64) continue;
        expectClose(`umt5-odd case ${i} f16`, await enc.encode(await gatherEmbeddingRows(ck, cfg, c.input_ids)), await io.readF32(`expected.${i}`), TOL.model.f16);
      }
    } finally {
      enc.free();
    }
  });
}, { needs: ["f16"] });

test("umt5: w16 scalar (f16 weights, f32 activations) == the Float64 reference on the f16-rounded weights (f32 bound), == transformers (f16 bound)", async () => {
  const { cfg, ck, io, meta } = await open("umt5-odd");
  const round = (a: Float32Array) => Float32Array.from(new Float16Array(a));
  const layers = (await hostWeights(ck, cfg)).map((w) => {
    const r = { ...w };
    for (const k of ["q", "k", "v", "o", "wi0", "wi1", "wo"] as const) r[k] = round(w[k]);
    return r;
  });
  const finalNorm = await ck.readF32(UMT5_FINAL_NORM);
  await withGpuF16(async (gpu) => {
    const enc = await loadUmt5Encoder(gpu, ck, cfg, "umt5-odd", { precision: "w16", gemm: { gemm: "scalar" } });
    try {
      for (const [i, c] of meta.cases.entries()) {
        if (c.seq_len > 64) continue;
        const emb = await gatherEmbeddingRows(ck, cfg, c.input_ids);
        const got = await enc.encode(emb);
        expectClose(`umt5-odd case ${i} w16 vs rounded-weight reference`, got, umt5EncoderRef(cfg, layers, finalNorm, emb), TOL.model.f32);
        expectClose(`umt5-odd case ${i} w16 vs transformers`, got, await io.readF32(`expected.${i}`), TOL.model.f16);
      }
    } finally {
      enc.free();
    }
  });
}, { needs: ["f16"] });

test("umt5: w8 scalar (int8 weights per output channel, f32 activations) == the Float64 reference on the dequantized weights (f32 bound)", async () => {
  const { cfg, ck, io, meta } = await open("umt5-odd");
  const layers = (await hostWeights(ck, cfg)).map((w) => {
    const r = { ...w };
    const shapes = Object.fromEntries(umt5LayerTensors(cfg, 0).map((t) => [t.key, t.shape]));
    for (const k of ["q", "k", "v", "o", "wi0", "wi1", "wo"] as const) r[k] = quantizeW8(w[k], shapes[k][0], shapes[k][1]).dequantized;
    return r;
  });
  const finalNorm = await ck.readF32(UMT5_FINAL_NORM);
  await withGpu(async (gpu) => {
    const enc = await loadUmt5Encoder(gpu, ck, cfg, "umt5-odd", { precision: "w8", gemm: { gemm: "scalar" } });
    try {
      const c = meta.cases[1], emb = await gatherEmbeddingRows(ck, cfg, c.input_ids);
      const got = await enc.encode(emb);
      expectClose("umt5-odd w8 vs dequantized-weight reference", got, umt5EncoderRef(cfg, layers, finalNorm, emb), TOL.model.f32);
      // int8's own error, for the record (no bound is claimed here): transformers' output vs the w8 run
      const err = relL2(got, await io.readF32("expected.1"));
      assert(err > 1e-5 && err < 0.1, `w8 vs transformers rel L2 ${err}`);
    } finally {
      enc.free();
    }
  });
}, { tags: ["slow"] });

// The matrix path (gemm_wx_matrix: activations split into f16 hi + lo per row, f32 accumulation) keeps f32's
// accuracy of the activations: the f32 bound against the Float64 run on the stored weights, on every prompt length
// (512 tokens: the real M); hi alone (the activations rounded to f16) is recorded, and must be worse than hi + lo.
test("umt5: w16 and w8 on the matrix units (f16 hi + lo activations) == the Float64 reference on the stored weights (f32 bound), hi alone worse", async () => {
  const { cfg, ck, meta } = await open("umt5-odd");
  const host = await hostWeights(ck, cfg), finalNorm = await ck.readF32(UMT5_FINAL_NORM);
  const shapes = Object.fromEntries(umt5LayerTensors(cfg, 0).map((t) => [t.key, t.shape]));
  const stored = (p: "w16" | "w8") =>
    host.map((w) => {
      const r = { ...w };
      for (const k of ["q", "k", "v", "o", "wi0", "wi1", "wo"] as const) r[k] = p === "w8" ? quantizeW8(w[k], shapes[k][0], shapes[k][1]).dequantized : Float32Array.from(new Float16Array(w[k]));
      return r;
    });
  await withGpu(async (gpu) => {
    for (const precision of ["w16", "w8"] as const) {
      const enc = await loadUmt5Encoder(gpu, ck, cfg, "umt5-odd", { precision, gemm: { gemm: "matrix" } });
      try {
        assert(enc instanceof Umt5Encoder && enc.gemmPath === "matrix", "the matrix path was asked for");
        for (const c of meta.cases) {
          const emb = await gatherEmbeddingRows(ck, cfg, c.input_ids), ref = umt5EncoderRef(cfg, stored(precision), finalNorm, emb);
          enc.useGemm({ gemm: "matrix" });
          const two = await enc.encode(emb);
          expectClose(`umt5-odd ${c.seq_len} tokens ${precision} matrix (hi + lo)`, two, ref, TOL.model.f32);
          enc.useGemm({ gemm: "matrix", parts: 1 });
          const one = relL2(await enc.encode(emb), ref);
          assert(one > relL2(two, ref), `${precision} ${c.seq_len} tokens: hi alone (${one}) is not worse than hi + lo (${relL2(two, ref)})`);
        }
      } finally {
        enc.free();
      }
    }
  });
}, { needs: ["subgroupMatrix", "f16"] });

test("umt5: splitLayers is contiguous, every device gets a layer, sizes differ by at most one", () => {
  const show = (l: number, n: number) => splitLayers(l, n).map((r) => `${r.start}-${r.end}`).join(",");
  assert(show(24, 4) === "0-6,6-12,12-18,18-24" && show(3, 2) === "0-2,2-3" && show(5, 3) === "0-2,2-4,4-5" && show(3, 3) === "0-1,1-2,2-3", `${show(24, 4)} ${show(3, 2)} ${show(5, 3)}`);
  let threw = false;
  try {
    splitLayers(3, 4);
  } catch {
    threw = true;
  }
  assert(threw, "4 devices for 3 layers is an error");
});

for (const devices of [2, 3]) {
  test(`umt5: layer split over ${devices} devices == one device, bitwise (umt5-odd, 3 layers)`, async () => {
    const { cfg, ck, meta } = await open("umt5-odd");
    const emb = await gatherEmbeddingRows(ck, cfg, meta.cases[1].input_ids);
    const one = await withGpu(async (gpu) => {
      const enc = await loadUmt5Encoder(gpu, ck, cfg, "one");
      try {
        return await enc.encode(emb);
      } finally {
        enc.free();
      }
    });
    const gpus = await Promise.all(Array.from({ length: devices }, (_, i) => Gpu.create({ label: `split ${i}` })));
    try {
      const split = await loadUmt5Encoder(gpus, ck, cfg, "split");
      assert(split instanceof Umt5LayerSplit && split.parts.length === devices, "a split encoder");
      const got = await split.encode(emb);
      split.free();
      expectBitwiseEqual(`split over ${devices}`, got, one);
    } finally {
      for (const g of gpus) g.destroy();
    }
  }, { hosts: ["deno"] });
}
