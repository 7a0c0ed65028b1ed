// Config parsing and presets, the checkpoint name map, the typed loader and the synthetic weight rule.
import { bytesSource, Checkpoint, encodeSafetensors, type StDType } from "../../src/io/safetensors.ts";
import { parseWanConfig, PRESETS, wanConfigJson } from "../../src/loaders/config.ts";
import { type WanWeights } from "../../src/model/weights.ts";
import { expectedTensors, loadWanWeights, validateCheckpoint } from "../../src/loaders/checkpoint.ts";
import { syntheticInputs, syntheticTensor, syntheticWeights } from "../../src/loaders/synthetic.ts";
import { test } from "../../src/selftest/harness.ts";
import type { FixtureName } from "../../src/selftest/fixtures.ts";
import { assert, expectError, expectSame, fixtureCheckpoint, fixtureConfigJson, sameShape } from "./util.ts";

const FIXTURES: FixtureName[] = ["wan-tiny", "wan-small"];
/** JSON with sorted keys, for order-free comparison of flat config objects. */
const canon = (o: object) => JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => a < b ? -1 : 1)));

for (const f of FIXTURES) {
  test(`config: ${f}/config.json parses to PRESETS["${f}"]`, async () => {
    const cfg = parseWanConfig(await fixtureConfigJson(f), `${f}/config.json`);
    const want = PRESETS[f];
    assert(canon(cfg) === canon(want), `${f}: parsed ${canon(cfg)}\n  preset ${canon(want)}`);
    assert(canon(parseWanConfig(wanConfigJson(cfg), "round trip")) === canon(cfg), "wanConfigJson round trip");
  });
}

test("config: real presets", () => {
  const a = PRESETS["wan2.1-t2v-1.3b"], b = PRESETS["wan2.1-t2v-14b"];
  assert(a.dim === 1536 && a.heads === 12 && a.headDim === 128 && a.numLayers === 30 && a.ffnDim === 8960, "1.3B");
  assert(b.dim === 5120 && b.heads === 40 && b.numLayers === 40 && b.ffnDim === 13824, "14B");
  for (const c of [a, b]) assert(c.textDim === 4096 && c.freqDim === 256 && c.inChannels === 16 && c.outChannels === 16 && c.eps === 1e-6, "shared dims");
});

test("config: invalid configs are clear errors naming the file and the field", async () => {
  const base = (await fixtureConfigJson("wan-tiny")) as Record<string, unknown>;
  const bad = (patch: Record<string, unknown>, ...parts: string[]) =>
    expectError(JSON.stringify(patch), () => parseWanConfig({ ...base, ...patch }, "cfg.json"), "cfg.json", ...parts);
  await bad({ patch_size: [1, 4, 4] }, "patch_size", "[1, 2, 2]");
  await bad({ qk_norm: "rms_norm" }, "qk_norm", "rms_norm_across_heads");
  await bad({ image_dim: 1280 }, "image_dim", "image-to-video");
  await bad({ added_kv_proj_dim: 5120 }, "added_kv_proj_dim", "not supported");
  await bad({ num_attention_heads: 0 }, "num_attention_heads");
  await bad({ attention_head_dim: "12" }, "attention_head_dim");
  await bad({ num_layers: undefined }, "num_layers", "missing");
  await bad({ cross_attn_norm: "yes" }, "cross_attn_norm");
  await bad({ _class_name: "AutoencoderKLWan" }, "_class_name", "WanTransformer3DModel");
  await expectError("array", () => parseWanConfig([], "cfg.json"), "cfg.json", "array");
});

for (const f of FIXTURES) {
  test(`checkpoint: expectedTensors(${f}) == the fixture's tensors, names and shapes`, async () => {
    const ck = await fixtureCheckpoint(f);
    const exp = expectedTensors(PRESETS[f]);
    const names = new Set(exp.map((t) => t.name));
    assert(names.size === exp.length, "duplicate names in expectedTensors");
    const extra = ck.names().filter((n) => !names.has(n)), missing = exp.filter((t) => !ck.has(t.name)).map((t) => t.name);
    assert(!extra.length && !missing.length, `fixture has unlisted [${extra}], lacks [${missing}]`);
    for (const t of exp) assert(sameShape(ck.info(t.name).shape, t.shape), `${t.name}: [${ck.info(t.name).shape}] vs expected [${t.shape}]`);
    const r = validateCheckpoint(ck, PRESETS[f]);
    assert(r.unused.length === 0 && r.bytes === ck.totalBytes, `validate: unused ${r.unused}, ${r.bytes} bytes`);
  });

  test(`synthetic: reproduces ${f} model.safetensors and inputs bit for bit`, async () => {
    const ck = await fixtureCheckpoint(f);
    for (const n of ck.names()) expectSame(n, syntheticTensor(n, ck.info(n).shape), await ck.readF32(n));
    const io = await fixtureCheckpoint(f, "io.safetensors");
    const hs = io.info("hidden_states").shape, es = io.info("encoder_hidden_states").shape;
    const inp = syntheticInputs(PRESETS[f], { F: hs[2], H: hs[3], W: hs[4] }, es[1]);
    assert(sameShape(inp.hiddenStatesShape, hs) && sameShape(inp.encoderHiddenStatesShape, es), "input shapes");
    expectSame("hidden_states", inp.hiddenStates, await io.readF32("hidden_states"));
    expectSame("encoder_hidden_states", inp.encoderHiddenStates, await io.readF32("encoder_hidden_states"));
  });

  test(`checkpoint: loadWanWeights(${f}) == syntheticWeights, as a typed tree`, async () => {
    const cfg = PRESETS[f];
    let calls = 0, last = -1;
    const w = await loadWanWeights(await fixtureCheckpoint(f), cfg, (done, total) => {
      calls++;
      last = done === total ? done : last;
    });
    assert(calls > 1 && last > 0, `progress: ${calls} calls, finished ${last}`);
    assert(w.blocks.length === cfg.numLayers && w.patchEmbedding.weight.length === cfg.dim * cfg.inChannels * 4, "structure");
    assert(w.blocks[1].attn1.q.weight.length === cfg.dim * cfg.dim && w.blocks[0].norm2 !== null, "block fields");
    compareTrees("weights", w, syntheticWeights(cfg));
    // Plain data: survives structured cloning (postMessage to workers).
    compareTrees("cloned", structuredClone(w), w);
  });
}

function compareTrees(path: string, a: unknown, b: unknown): void {
  if (a instanceof Float32Array) {
    assert(b instanceof Float32Array, `${path}: not a Float32Array`);
    expectSame(path, a, b);
  } else if (Array.isArray(a)) {
    assert(Array.isArray(b) && a.length === b.length, `${path}: array lengths`);
    a.forEach((v, i) => compareTrees(`${path}[${i}]`, v, (b as unknown[])[i]));
  } else if (a === null) {
    assert(b === null, `${path}: null vs ${b}`);
  } else {
    assert(typeof a === "object" && typeof b === "object" && b !== null, `${path}: type`);
    const ka = Object.keys(a as object).sort(), kb = Object.keys(b as object).sort();
    assert(JSON.stringify(ka) === JSON.stringify(kb), `${path}: keys ${ka} vs ${kb}`);
    for (const k of ka) compareTrees(`${path}.${k}`, (a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]);
  }
}

/** The wan-tiny tensors with `edit` applied, as one in-memory checkpoint. */
async function editedTiny(edit: (t: Record<string, { dtype: StDType; shape: number[]; data: Float32Array }>) => void, dtype: StDType = "F32") {
  const ref = await fixtureCheckpoint("wan-tiny");
  const t: Record<string, { dtype: StDType; shape: number[]; data: Float32Array }> = {};
  for (const n of ref.names()) t[n] = { dtype, shape: ref.info(n).shape, data: await ref.readF32(n) };
  edit(t);
  return await Checkpoint.open([bytesSource("edited.safetensors", encodeSafetensors(t))]);
}

test("checkpoint: wrong shape and missing tensor are errors naming the tensor, expected vs found", async () => {
  const cfg = PRESETS["wan-tiny"];
  const wrong = await editedTiny((t) => (t["blocks.1.attn2.to_k.weight"] = { dtype: "F32", shape: [24, 23], data: new Float32Array(24 * 23) }));
  await expectError("wrong shape", () => loadWanWeights(wrong, cfg), "edited.safetensors", `"blocks.1.attn2.to_k.weight"`, "[24, 23]", "expected [24, 24]");
  const missing = await editedTiny((t) => delete t["blocks.0.ffn.net.2.bias"]);
  await expectError("missing", () => validateCheckpoint(missing, cfg), `"blocks.0.ffn.net.2.bias"`, "not found");
  await expectError("several", () => loadWanWeights(missing, PRESETS["wan-small"]), "edited.safetensors", "more");
  // Extra tensors are reported, not fatal.
  const extra = await editedTiny((t) => (t["condition_embedder.image_embedder.norm1.weight"] = { dtype: "F32", shape: [2], data: new Float32Array(2) }));
  const r = validateCheckpoint(extra, cfg);
  assert(r.unused.length === 1 && r.unused[0] === "condition_embedder.image_embedder.norm1.weight", `unused ${r.unused}`);
});

test("checkpoint: BF16 checkpoints load widened to f32", async () => {
  const cfg = PRESETS["wan-tiny"];
  const w: WanWeights = await loadWanWeights(await editedTiny(() => {}, "BF16"), cfg);
  const ref = syntheticTensor("blocks.0.attn1.to_q.weight", [24, 24]);
  const got = w.blocks[0].attn1.q.weight;
  let maxRel = 0;
  for (let i = 0; i < ref.length; i++) maxRel = Math.max(maxRel, Math.abs(got[i] - ref[i]) / Math.abs(ref[i]));
  assert(maxRel <= 2 ** -8, `bf16 relative error ${maxRel}`);
  assert(new Uint32Array(got.buffer).every((b) => (b & 0xffff) === 0), "bf16 values have nonzero low bits");
});
