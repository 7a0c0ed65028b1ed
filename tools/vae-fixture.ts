// Copies what the VAE tests need from a shared fixture folder (../shared/fixtures/wan-vae-*) into
// test/fixtures/<name>: config.json, io.safetensors, and the decoder's weights only (post_quant_conv.* and
// decoder.*; the encoder is dropped to keep the repository small). Also checks that the synthetic rule
// (src/vae/synthetic.ts) reproduces every decoder tensor and the latents bit for bit.
// Usage: deno run -A tools/vae-fixture.ts ../shared/fixtures/wan-vae-tiny test/fixtures/wan-vae-tiny
import { bytesSource, Checkpoint, encodeSafetensors } from "../src/io/safetensors.ts";
import { parseWanVaeConfig } from "../src/vae/config.ts";
import { expectedVaeTensors } from "../src/vae/weights.ts";
import { vaeSyntheticTensor } from "../src/vae/synthetic.ts";

const [src, dst] = Deno.args;
if (!src || !dst) throw new Error("usage: tools/vae-fixture.ts SRC_DIR DST_DIR");
const configText = await Deno.readTextFile(`${src}/config.json`);
const cfg = parseWanVaeConfig(JSON.parse(configText), `${src}/config.json`);
const ckpt = await Checkpoint.open([bytesSource(`${src}/diffusion_pytorch_model.safetensors`, await Deno.readFile(`${src}/diffusion_pytorch_model.safetensors`))]);
const out: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
let mismatches = 0;
for (const { name, shape } of expectedVaeTensors(cfg)) {
  const data = await ckpt.readF32(name);
  const rule = vaeSyntheticTensor(name, shape);
  if (rule.some((v, i) => v !== data[i])) {
    mismatches++;
    console.error(`rule differs from ${name}`);
  }
  out[name] = { dtype: "F32", shape, data };
}
const ioBytes = await Deno.readFile(`${src}/io.safetensors`);
const io = await Checkpoint.open([bytesSource(`${src}/io.safetensors`, ioBytes)]);
const lat = await io.readF32("latents");
if (vaeSyntheticTensor("input.latents", io.info("latents").shape).some((v, i) => v !== lat[i])) {
  mismatches++;
  console.error("rule differs from latents");
}
if (mismatches) throw new Error(`${mismatches} tensors differ from the synthetic rule`);
await Deno.mkdir(dst, { recursive: true });
await Deno.writeTextFile(`${dst}/config.json`, configText);
await Deno.writeFile(`${dst}/diffusion_pytorch_model.safetensors`, encodeSafetensors(out));
await Deno.writeFile(`${dst}/io.safetensors`, ioBytes);
console.log(`${dst}: ${Object.keys(out).length} decoder tensors (rule matches bit for bit), io.safetensors copied`);
