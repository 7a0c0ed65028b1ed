// A tiny diffusers Wan pipeline folder for `--model DIR --prompt` end to end (CI): model_index.json,
// transformer/ (the wan-tiny DiT with 16 latent channels, so that the tiny VAE decodes it, and text_dim 32 =
// umt5-tiny's d_model; weights by the fixtures' rule), vae/ (wan-vae-tiny), text_encoder/ (umt5-tiny) and
// tokenizer/ (umt5-tokenizer), assembled from the committed fixtures (2.6 MB, so not committed twice).
//   deno run -A test/text/tiny_pipeline.ts DIR
import { encodeSafetensors } from "../../src/io/safetensors.ts";
import { PRESETS, wanConfigJson } from "../../src/loaders/config.ts";
import { expectedTensors } from "../../src/loaders/checkpoint.ts";
import { syntheticTensor } from "../../src/loaders/synthetic.ts";

const fixtures = new URL("../fixtures/", import.meta.url);
const fixture = (f: string) => new URL(f, fixtures).pathname;

export const TINY_PIPELINE_TRANSFORMER = { ...PRESETS["wan-tiny"], inChannels: 16, outChannels: 16 };

let shared: string | null = null;
/** One tiny pipeline folder per process (a temporary folder, made on first use), for the tests that only read it. */
export function sharedTinyPipeline(): string {
  return (shared ??= makeTinyPipeline(Deno.makeTempDirSync({ prefix: "shardit-pipeline-" })));
}

export function makeTinyPipeline(dir: string): string {
  for (const sub of ["transformer", "vae", "text_encoder", "tokenizer"]) Deno.mkdirSync(`${dir}/${sub}`, { recursive: true });
  Deno.writeTextFileSync(`${dir}/model_index.json`, JSON.stringify({
    _class_name: "WanPipeline",
    _diffusers_version: "0.35.0",
    scheduler: ["diffusers", "UniPCMultistepScheduler"],
    text_encoder: ["transformers", "UMT5EncoderModel"],
    tokenizer: ["transformers", "T5TokenizerFast"],
    transformer: ["diffusers", "WanTransformer3DModel"],
    vae: ["diffusers", "AutoencoderKLWan"],
  }, null, 1));
  const cfg = TINY_PIPELINE_TRANSFORMER;
  Deno.writeTextFileSync(`${dir}/transformer/config.json`, JSON.stringify(wanConfigJson(cfg), null, 1));
  const tensors = Object.fromEntries(expectedTensors(cfg).map((t) => [t.name, { dtype: "F32" as const, shape: t.shape, data: syntheticTensor(t.name, t.shape) }]));
  Deno.writeFileSync(`${dir}/transformer/diffusion_pytorch_model.safetensors`, encodeSafetensors(tensors));
  for (const f of ["config.json", "diffusion_pytorch_model.safetensors"]) Deno.copyFileSync(fixture(`wan-vae-tiny/${f}`), `${dir}/vae/${f}`);
  for (const f of ["config.json", "model.safetensors"]) Deno.copyFileSync(fixture(`umt5-tiny/${f}`), `${dir}/text_encoder/${f}`);
  for (const f of ["tokenizer.json", "tokenizer_config.json"]) Deno.copyFileSync(fixture(`umt5-tokenizer/${f}`), `${dir}/tokenizer/${f}`);
  return dir;
}

if (import.meta.main) {
  if (!Deno.args[0]) throw new Error("usage: deno run -A test/text/tiny_pipeline.ts DIR");
  console.log(makeTinyPipeline(Deno.args[0]));
}
