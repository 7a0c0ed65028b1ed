// Relative L2 error of a forward's `output` (or a decode's `video`) against a reference tensor (default `expected`).
// usage: deno run -A tools/compare.ts OUT.safetensors REF.safetensors [ref-tensor-name]
import { denoFileSource } from "../src/io/fs_deno.ts";
import { Checkpoint } from "../src/io/safetensors.ts";

const [outPath, refPath, refName = "expected"] = Deno.args;
const outFile = await Checkpoint.open([await denoFileSource(outPath)]);
const out = await outFile.readF32(outFile.has("output") ? "output" : "video"); // forward's output or decode's video
const ref = await (await Checkpoint.open([await denoFileSource(refPath)])).readF32(refName);
if (out.length !== ref.length) throw new Error(`${outPath} has ${out.length} values, ${refPath}:${refName} ${ref.length}`);
let num = 0, den = 0, nonFinite = 0;
for (let i = 0; i < ref.length; i++) {
  if (!Number.isFinite(out[i])) nonFinite++;
  num += (out[i] - ref[i]) ** 2;
  den += ref[i] ** 2;
}
console.log(JSON.stringify({ relL2: Math.sqrt(num / den), nonFinite, values: ref.length }));
