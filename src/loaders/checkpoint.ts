// Wan2.1 DiT weights: the one place where diffusers checkpoint names map to the typed weight tree.
// `mapWanWeights` walks the model once, asking `get(name, shape)` for each tensor; the list of expected
// tensors, the loader and the synthetic generator are all that walk with a different `get`.
// WanWeights is plain data (objects, arrays, Float32Array), so it can be posted to workers.
// Every matrix is row-major [out, in] as in PyTorch's nn.Linear (y = x W^T + b).
import { type Checkpoint, type Progress, summarizeProblems } from "../io/safetensors.ts";
import { numel } from "../shape.ts";
import type { WanConfig } from "../model/config.ts";
import type { AttentionWeights, BlockWeights, Linear, WanWeights } from "../model/weights.ts";

export interface ExpectedTensor {
  name: string;
  shape: number[];
}

/** Builds the weight tree from `get(name, checkpoint shape)`; the tree is the only map of names. */
export function mapWanWeights(cfg: WanConfig, get: (name: string, shape: number[]) => Float32Array): WanWeights {
  const d = cfg.dim;
  const linear = (name: string, out: number, inp: number, weightShape: number[] = [out, inp]): Linear => ({
    weight: get(`${name}.weight`, weightShape),
    bias: get(`${name}.bias`, [out]),
  });
  const attention = (p: string): AttentionWeights => ({
    q: linear(`${p}.to_q`, d, d),
    k: linear(`${p}.to_k`, d, d),
    v: linear(`${p}.to_v`, d, d),
    o: linear(`${p}.to_out.0`, d, d),
    normQ: get(`${p}.norm_q.weight`, [d]),
    normK: get(`${p}.norm_k.weight`, [d]),
  });
  const blocks: BlockWeights[] = [];
  const patchEmbedding = linear("patch_embedding", d, cfg.inChannels * 4, [d, cfg.inChannels, 1, 2, 2]);
  const timeEmbedder = {
    linear1: linear("condition_embedder.time_embedder.linear_1", d, cfg.freqDim),
    linear2: linear("condition_embedder.time_embedder.linear_2", d, d),
  };
  const timeProj = linear("condition_embedder.time_proj", 6 * d, d);
  const textEmbedder = {
    linear1: linear("condition_embedder.text_embedder.linear_1", d, cfg.textDim),
    linear2: linear("condition_embedder.text_embedder.linear_2", d, d),
  };
  for (let i = 0; i < cfg.numLayers; i++) {
    const p = `blocks.${i}`;
    blocks.push({
      attn1: attention(`${p}.attn1`),
      attn2: attention(`${p}.attn2`),
      norm2: cfg.crossAttnNorm ? { weight: get(`${p}.norm2.weight`, [d]), bias: get(`${p}.norm2.bias`, [d]) } : null,
      ffn: { up: linear(`${p}.ffn.net.0.proj`, cfg.ffnDim, d), down: linear(`${p}.ffn.net.2`, d, cfg.ffnDim) },
      scaleShiftTable: get(`${p}.scale_shift_table`, [1, 6, d]),
    });
  }
  return {
    patchEmbedding,
    timeEmbedder,
    timeProj,
    textEmbedder,
    blocks,
    projOut: linear("proj_out", 4 * cfg.outChannels, d),
    scaleShiftTable: get("scale_shift_table", [1, 2, d]),
  };
}

const EMPTY = new Float32Array(0);

/** Every diffusers tensor name and shape the forward needs, in model order. */
export function expectedTensors(cfg: WanConfig): ExpectedTensor[] {
  const list: ExpectedTensor[] = [];
  mapWanWeights(cfg, (name, shape) => {
    list.push({ name, shape });
    return EMPTY;
  });
  return list;
}

export interface CheckpointReport {
  /** Tensors the forward needs, with their stored bytes. */
  tensors: ExpectedTensor[];
  bytes: number;
  /** Tensors in the checkpoint that the forward does not use (e.g. for a caller's warning). */
  unused: string[];
}

/**
 * Checks names and shapes against `cfg` from the headers only (no data read). Throws one error whose
 * first problem names the tensor with expected vs found shape, followed by a count of the rest.
 */
export function validateCheckpoint(ckpt: Checkpoint, cfg: WanConfig): CheckpointReport {
  const want = expectedTensors(cfg);
  const { problems, bytes } = ckpt.checkShapes(want);
  if (problems.length) {
    throw new Error(`checkpoint ${ckpt.describe()} does not match the config (d=${cfg.dim}, ${cfg.numLayers} layers): ${summarizeProblems(problems)}`);
  }
  const needed = new Set(want.map((t) => t.name));
  return { tensors: want, bytes, unused: ckpt.names().filter((n) => !needed.has(n)) };
}

/** Validates, then reads every tensor the forward needs as f32 into a WanWeights tree. */
export async function loadWanWeights(ckpt: Checkpoint, cfg: WanConfig, onProgress?: Progress): Promise<WanWeights> {
  const report = validateCheckpoint(ckpt, cfg);
  const data = await ckpt.readAllF32(report.tensors.map((t) => t.name), onProgress);
  return mapWanWeights(cfg, (name, shape) => {
    const a = data.get(name)!;
    if (a.length !== numel(shape)) throw new Error(`tensor "${name}": read ${a.length} values, expected ${numel(shape)}`);
    return a;
  });
}
