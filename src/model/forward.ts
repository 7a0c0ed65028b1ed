// One whole forward on one device, in this thread (no workers): the single-device reference path
// that tests, benchmarks and `forward --devices 1`-style callers use. The sharded path (workers) runs
// the same WanModel per shard.
import { type Grid3, gridSize } from "../shape.ts";
import { type Tensor } from "../gpu/tensor.ts";

import { assertFinite, overflowHint } from "../gpu/finite.ts";
import type { ShardView } from "./shard_view.ts";
import type { WanModel } from "./wan.ts";
import { ownKeysAttention } from "./self_attention.ts";

/** The whole token range of a latent F x H x W as one shard. */
export function wholeShard(latentGrid: Grid3): ShardView {
  const grid = { F: latentGrid.F, H: latentGrid.H / 2, W: latentGrid.W / 2 };
  const tokens = gridSize(grid);
  return { start: 0, count: tokens, tokens, computedTokens: tokens, grid };
}

export interface ForwardHooks {
  /** Called with the hidden states [L, d] after each block (for locating an error). */
  afterBlock?: (i: number, h: Tensor) => Promise<void>;
}

/** Runs the model on `inputs`; returns output [Cout, F, H, W] f32. */
export async function forwardOnDevice(model: WanModel, inputs: ForwardInputs, hooks: ForwardHooks = {}): Promise<Float32Array> {
  const { gpu, cfg } = model;
  const { F, H, W } = inputs.latentGrid;
  const C = cfg.inChannels;
  const shard = wholeShard(inputs.latentGrid);
  const text = model.encodeText(inputs.text, inputs.textTokens);
  const time = model.embedTimestep(inputs.timestep);
  const latent = gpu.upload(inputs.latent, [C, F, H, W], "f32", "latent");
  const out = gpu.empty([cfg.outChannels, F, H, W], "f32", "output");
  try {
    const y = await model.forwardTokens(latent, time, text, shard, ownKeysAttention, hooks.afterBlock);
    model.unpatchifyInto(y, shard, inputs.latentGrid, out);
    gpu.freeTensor(y);
    const result = await gpu.read(out);
    assertFinite(result, `${gpu.label}: the forward's output [${cfg.outChannels}, ${F}, ${H}, ${W}]`, { hint: overflowHint(model.dtype) });
    return result;
  } finally {
    model.freeText(text);
    model.freeTime(time);
    gpu.freeTensor(latent);
    gpu.freeTensor(out);
  }
}

export interface ForwardInputs {
  latent: Float32Array; // [C, F, H, W], C = the model's in_channels
  latentGrid: Grid3;
  text: Float32Array; // [Lt, text_dim]
  textTokens: number;
  timestep: number;
}
