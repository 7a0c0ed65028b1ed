// The forward's inputs (DESIGN.md (shared/docs, not in this repo) "Command line"): hidden_states [1, C, F, H, W], encoder_hidden_states
// [1, Lt, text_dim], timestep [1], all F32, read from a safetensors (the fixtures' io.safetensors) and
// validated against the model config.

import { Checkpoint, type ByteSource } from "../io/safetensors.ts";
import type { WanConfig } from "../model/config.ts";
import { assertFinite } from "../gpu/finite.ts";
import type { ForwardInputs } from "../model/forward.ts";

export async function readForwardInputs(source: ByteSource, cfg: WanConfig): Promise<ForwardInputs> {
  const io = await Checkpoint.open([source]);
  const file = source.name;
  const need = (name: string, rank: number) => {
    if (!io.has(name)) throw new Error(`${file}: tensor ${name} not found (found: ${io.names().join(", ")})`);
    const info = io.info(name);
    if (info.shape.length !== rank) throw new Error(`${file}: tensor ${name} has shape [${info.shape}], expected rank ${rank}`);
    return info.shape;
  };
  const [b, C, F, H, W] = need("hidden_states", 5);
  if (b !== 1) throw new Error(`${file}: hidden_states has batch ${b}, only batch 1 is supported`);
  if (C !== cfg.inChannels) throw new Error(`${file}: hidden_states has ${C} channels, the model's in_channels is ${cfg.inChannels}`);
  if (H % 2 || W % 2) throw new Error(`${file}: hidden_states H and W must be even (2x2 patches), found ${H}x${W}`);
  const [tb, Lt, textDim] = need("encoder_hidden_states", 3);
  if (tb !== 1 || textDim !== cfg.textDim) throw new Error(`${file}: encoder_hidden_states has shape [${tb}, ${Lt}, ${textDim}], expected [1, Lt, ${cfg.textDim}]`);
  if (Lt < 1) throw new Error(`${file}: encoder_hidden_states has 0 text tokens ([${tb}, ${Lt}, ${textDim}]): the cross-attention needs at least one`);
  const ts = need("timestep", 1);
  if (ts[0] !== 1) throw new Error(`${file}: timestep has shape [${ts}], expected [1]`);
  const timestep = (await io.readF32("timestep"))[0];
  if (!Number.isFinite(timestep)) throw new Error(`${file}: timestep is ${timestep}`);
  const latent = await io.readF32("hidden_states"), text = await io.readF32("encoder_hidden_states");
  assertFinite(latent, `${file}: hidden_states`);
  assertFinite(text, `${file}: encoder_hidden_states`, { width: textDim, rowName: "text token" });
  return { latent, latentGrid: { F, H, W }, text, textTokens: Lt, timestep };
}

/**
 * Prompt embeddings (umT5 output) from a safetensors: its only tensor, or one named prompt_embeds
 * (or encoder_hidden_states / negative_prompt_embeds), shaped [1, Lt, text_dim] or [Lt, text_dim].
 */
export async function readPromptEmbeddings(source: ByteSource, cfg: WanConfig): Promise<{ text: Float32Array; tokens: number }> {
  const file = await Checkpoint.open([source]);
  const names = file.names();
  const name = names.length === 1 ? names[0] : ["prompt_embeds", "encoder_hidden_states", "negative_prompt_embeds"].find((n) => file.has(n));
  if (!name) throw new Error(`${source.name}: expected one tensor or one named prompt_embeds, found ${names.join(", ")}`);
  const shape = file.info(name).shape;
  const [b, Lt, dim] = shape.length === 3 ? shape : [1, ...shape];
  if (b !== 1 || dim !== cfg.textDim || shape.length < 2 || shape.length > 3) {
    throw new Error(`${source.name}: tensor ${name} has shape [${shape}], expected [1, Lt, ${cfg.textDim}] (umT5 embeddings of the prompt)`);
  }
  if (Lt < 1) throw new Error(`${source.name}: tensor ${name} has 0 text tokens (shape [${shape}]): the cross-attention needs at least one`);
  const text = await file.readF32(name);
  assertFinite(text, `${source.name}: tensor ${name}`, { width: dim, rowName: "text token" });
  return { text, tokens: Lt };
}
