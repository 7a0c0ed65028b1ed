// Prompt -> embeddings from a pipeline folder (test/text/tiny_pipeline.ts assembles one from the fixtures):
// the library (openTextEncoder, encodePrompts, the cache), bad input, and the CLI end to end
// (`shardit encode`, `shardit generate --model DIR --prompt ... --vae DIR`). Deno only (folders on disk).
import { denoFolder } from "../../src/io/fs_deno.ts";
import { Checkpoint } from "../../src/io/safetensors.ts";
import { encodePrompts, memoryEmbeddingCache, openTextEncoder } from "../../src/loaders/umt5_pipeline.ts";
import { Gpu } from "../../src/gpu/device.ts";
import { expectClose, test, TOL, withGpu } from "../../src/selftest/harness.ts";
import { assert, expectError } from "../io/util.ts";
import { makeTinyPipeline, sharedTinyPipeline } from "./tiny_pipeline.ts";
import { umt5TinyGolden } from "./util.ts";

const DENO = { hosts: ["deno" as const] };
const golden = umt5TinyGolden;
const pipeline = sharedTinyPipeline;

test("umt5 pipeline: encodePrompts == transformers (rows past seq_len zero), the empty prompt, then the cache (no encoder)", async () => {
  const { io, meta } = await golden();
  const te = await openTextEncoder(denoFolder(pipeline()));
  const cache = memoryEmbeddingCache();
  const prompts = [meta.cases[1].prompt, ""];
  const out = await encodePrompts(te, prompts, { cache });
  for (const [k, i] of [[0, 1], [1, 0]]) {
    const e = out[k], n = meta.cases[i].seq_len, d = te.config.dModel;
    assert(e.seqLen === n && !e.cached && e.embeds.length === 512 * d && e.embeds.subarray(n * d).every((v) => v === 0), `prompt ${k}: seqLen ${e.seqLen}, zero tail`);
    assert(Array.from(e.inputIds.slice(0, n)).join() === meta.cases[i].input_ids.join() && e.attentionMask.reduce((a, b) => a + b, 0) === n, `prompt ${k}: ids`);
    expectClose(`prompt ${k} rows`, e.embeds.subarray(0, n * d), await io.readF32(`expected.${i}`), TOL.model.f32);
  }
  const again = await encodePrompts({ ...te, checkpoint: null as unknown as Checkpoint }, prompts, { cache });
  assert(again.every((e, k) => e.cached && e.embeds.every((v, j) => v === out[k].embeds[j])), "second run: from the cache, equal");
}, { ...DENO, tags: ["slow"] });

test("umt5 pipeline: bad folders are one clear line (no tokenizer/, no text_encoder/, a vocabulary that does not match); a long prompt warns once", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "shardit-bad-" });
  makeTinyPipeline(dir);
  Deno.removeSync(`${dir}/tokenizer`, { recursive: true });
  await expectError("no tokenizer", () => openTextEncoder(denoFolder(dir)), "tokenizer/tokenizer.json", "not found", "tokenizer/ (tokenizer.json) and text_encoder/");
  makeTinyPipeline(dir);
  Deno.removeSync(`${dir}/text_encoder`, { recursive: true });
  await expectError("no text_encoder", () => openTextEncoder(denoFolder(dir)), "text_encoder/config.json", "not found");
  makeTinyPipeline(dir);
  const cfg = JSON.parse(Deno.readTextFileSync(`${dir}/text_encoder/config.json`));
  Deno.writeTextFileSync(`${dir}/text_encoder/config.json`, JSON.stringify({ ...cfg, vocab_size: 600 }));
  await expectError("vocab", () => openTextEncoder(denoFolder(dir)), "tokenizer.json has ids up to 647", "vocab_size 600", "does not belong");
  const te = await openTextEncoder(denoFolder(pipeline()));
  const warnings: string[] = [];
  const long = Array.from({ length: 600 }, () => "red fox").join(" ");
  const [e] = await encodePrompts(te, [long], { maxLength: 16, onWarning: (w) => warnings.push(w) });
  assert(warnings.length === 1 && warnings[0].includes("first 16") && e.seqLen === 16 && e.inputIds[15] === 1, `warnings ${JSON.stringify(warnings)}, seqLen ${e.seqLen}`);
}, DENO);


// Issue 21: the encoder is loaded, run and freed before the DiT needs the memory. The CLI encodes on a Gpu of its
// own and destroys it before the DiT loads (src/cli/encode.ts, generate's chooseModel); a caller that passes its
// Gpu gets the weights' memory back too: destroyed, not kept in the buffer pool (where it would sit beside the DiT).
// Failed before Umt5Encoder.free destroyed them: the pool then held every weight byte after the run.
test("umt5 pipeline: after encodePrompts on the caller's devices, none of the encoder's weight memory stays held (f32, w16, w8; one device and a 2-way layer split)", async () => {
  const te = await openTextEncoder(denoFolder(pipeline()));
  const { dModel: d, heads, dKv, dFf, layers } = te.config;
  for (const precision of ["f32", "w16", "w8"] as const) {
    const weightBytes = layers * (4 * d * heads * dKv + 3 * d * dFf) * (precision === "f32" ? 4 : precision === "w16" ? 2 : 1);
    for (const devices of [1, 2]) {
      const gpus = devices === 1 ? null : await Promise.all([0, 1].map((i) => Gpu.create({ label: `split ${i}` })));
      await withGpu(async (one) => {
        if (precision === "w16" && !one.features.f16) return;
        const all = gpus ?? [one];
        const before = all.map((g) => [g.liveBuffers, g.heldBytes]);
        const [e] = await encodePrompts(te, [""], precision === "f32" && devices === 1 ? { gpu: one, precision } : { gpus: all, precision });
        assert(e.seqLen === 1, "encoded");
        const held = all.reduce((n, g, i) => n + g.heldBytes - before[i][1], 0);
        assert(all.every((g, i) => g.liveBuffers === before[i][0]), `${precision} on ${devices}: buffers still handed out after the run`);
        assert(held < weightBytes / 4, `${precision} on ${devices}: ${held} bytes more held after the run than before (weights: ${weightBytes} bytes)`);
      });
      gpus?.forEach((g) => g.destroy());
    }
  }
}, DENO);
