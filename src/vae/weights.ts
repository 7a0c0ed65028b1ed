// The Wan VAE decoder's weights: the one place diffusers' names (AutoencoderKLWan's decoder.* and
// post_quant_conv.*) map to a typed tree. The encoder (encoder.*, quant_conv.*) is never read. Loading goes
// through the same Checkpoint / FolderSource readers as the transformer, so a folder on disk, a URL base or
// a browser File list all work; F32, F16 and BF16 checkpoints are widened to f32 here.
import { type Checkpoint, type Progress, summarizeProblems } from "../io/safetensors.ts";
import { numel } from "../shape.ts";
import { type FolderSource, openModelFolder } from "../io/model_folder.ts";
import { parseWanVaeConfig, vaeDecoderPlan, type WanVaeConfig } from "./config.ts";

/** A convolution in PyTorch's layout: weight [Cout, Cin, ...kernel] (kernel: [kt, kh, kw], [kh, kw] or []). */
export interface VaeConv {
  weight: Float32Array;
  /** [Cout, Cin, ...kernel] as stored. */
  shape: number[];
  bias: Float32Array;
}

export interface VaeResBlockWeights {
  /** RMS-norm gains [Cin] (stored [Cin, 1, 1, 1]). */
  norm1: Float32Array;
  conv1: VaeConv; // causal 3x3x3, Cin -> Cout
  norm2: Float32Array; // [Cout]
  conv2: VaeConv; // causal 3x3x3, Cout -> Cout
  /** 1x1x1 Cin -> Cout when the widths differ, else null (identity). */
  shortcut: VaeConv | null;
}

export interface VaeAttentionWeights {
  norm: Float32Array; // [C] (stored [C, 1, 1])
  toQkv: VaeConv; // 1x1 Conv2d C -> 3C (q, k, v stacked)
  proj: VaeConv; // 1x1 Conv2d C -> C
}

export interface VaeUpBlockWeights {
  resnets: VaeResBlockWeights[];
  /** Space x2 then a 3x3 Conv2d (dim -> dim/2); timeConv (3,1,1) dim -> 2 dim for the time upsamplers. */
  upsampler: { resample: VaeConv; timeConv: VaeConv | null } | null;
}

export interface WanVaeWeights {
  postQuantConv: VaeConv; // 1x1x1 z_dim -> z_dim
  convIn: VaeConv; // causal 3x3x3 z_dim -> dims[0]
  mid: { resnets: [VaeResBlockWeights, VaeResBlockWeights]; attention: VaeAttentionWeights };
  upBlocks: VaeUpBlockWeights[];
  normOut: Float32Array; // [dims[-1]]
  convOut: VaeConv; // causal 3x3x3 dims[-1] -> 3
}

/** Builds the weight tree from `get(name, stored shape)`; the only map of names. */
export function mapWanVaeWeights(cfg: WanVaeConfig, get: (name: string, shape: number[]) => Float32Array): WanVaeWeights {
  const plan = vaeDecoderPlan(cfg);
  const conv = (name: string, cout: number, cin: number, kernel: number[]): VaeConv => {
    const shape = [cout, cin, ...kernel];
    return { weight: get(`${name}.weight`, shape), shape, bias: get(`${name}.bias`, [cout]) };
  };
  const gamma = (name: string, c: number, images = false) => get(`${name}.gamma`, images ? [c, 1, 1] : [c, 1, 1, 1]);
  const res = (p: string, cin: number, cout: number): VaeResBlockWeights => ({
    norm1: gamma(`${p}.norm1`, cin),
    conv1: conv(`${p}.conv1`, cout, cin, [3, 3, 3]),
    norm2: gamma(`${p}.norm2`, cout),
    conv2: conv(`${p}.conv2`, cout, cout, [3, 3, 3]),
    shortcut: cin !== cout ? conv(`${p}.conv_shortcut`, cout, cin, [1, 1, 1]) : null,
  });
  const C0 = plan.midDim;
  const postQuantConv = conv("post_quant_conv", cfg.zDim, cfg.zDim, [1, 1, 1]);
  const convIn = conv("decoder.conv_in", C0, cfg.zDim, [3, 3, 3]);
  const mid = {
    resnets: [res("decoder.mid_block.resnets.0", C0, C0), res("decoder.mid_block.resnets.1", C0, C0)] as [VaeResBlockWeights, VaeResBlockWeights],
    attention: {
      norm: gamma("decoder.mid_block.attentions.0.norm", C0, true),
      toQkv: conv("decoder.mid_block.attentions.0.to_qkv", 3 * C0, C0, [1, 1]),
      proj: conv("decoder.mid_block.attentions.0.proj", C0, C0, [1, 1]),
    },
  };
  const upBlocks = plan.blocks.map((b, i): VaeUpBlockWeights => {
    const p = `decoder.up_blocks.${i}`;
    const resnets: VaeResBlockWeights[] = [];
    for (let r = 0; r <= cfg.numResBlocks; r++) resnets.push(res(`${p}.resnets.${r}`, r === 0 ? b.inDim : b.outDim, b.outDim));
    const u = `${p}.upsamplers.0`;
    return {
      resnets,
      upsampler: b.upsample === null ? null : {
        resample: conv(`${u}.resample.1`, b.outDim / 2, b.outDim, [3, 3]),
        timeConv: b.upsample === "3d" ? conv(`${u}.time_conv`, 2 * b.outDim, b.outDim, [3, 1, 1]) : null,
      },
    };
  });
  return {
    postQuantConv,
    convIn,
    mid,
    upBlocks,
    normOut: gamma("decoder.norm_out", plan.outDim),
    convOut: conv("decoder.conv_out", cfg.outChannels, plan.outDim, [3, 3, 3]),
  };
}

const EMPTY = new Float32Array(0);

/** Every tensor name and stored shape the decoder needs, in model order. */
export function expectedVaeTensors(cfg: WanVaeConfig): { name: string; shape: number[] }[] {
  const list: { name: string; shape: number[] }[] = [];
  mapWanVaeWeights(cfg, (name, shape) => {
    list.push({ name, shape });
    return EMPTY;
  });
  return list;
}

/** Checks names and shapes from the headers only; one error naming the first problem, expected vs found. */
export function validateVaeCheckpoint(ckpt: Checkpoint, cfg: WanVaeConfig): { name: string; shape: number[] }[] {
  const want = expectedVaeTensors(cfg);
  const { problems } = ckpt.checkShapes(want);
  if (problems.length && !want.some((t) => ckpt.has(t.name))) {
    // Not a mismatch: the file is not the VAE's weights at all (e.g. a fixture's io.safetensors beside config.json).
    throw new Error(`VAE weights missing: ${ckpt.describe()} holds none of the decoder's ${want.length} tensors (${want[0].name}, ${want[1]?.name}, ...); ` +
      `the folder needs the VAE's diffusion_pytorch_model.safetensors (or its index json and shards) beside config.json`);
  }
  if (problems.length) {
    throw new Error(`VAE checkpoint ${ckpt.describe()} does not match its config (base_dim ${cfg.baseDim}, z_dim ${cfg.zDim}): ${summarizeProblems(problems)}`);
  }
  return want;
}

/** Validates, then reads the decoder's tensors (F32/F16/BF16, widened to f32). */
export async function loadWanVaeWeights(ckpt: Checkpoint, cfg: WanVaeConfig, onProgress?: Progress): Promise<WanVaeWeights> {
  const want = validateVaeCheckpoint(ckpt, cfg);
  const data = await ckpt.readAllF32(want.map((t) => t.name), onProgress);
  return mapWanVaeWeights(cfg, (name, shape) => {
    const a = data.get(name)!;
    if (a.length !== numel(shape)) throw new Error(`tensor "${name}": read ${a.length} values, expected ${numel(shape)}`);
    return a;
  });
}

/** A diffusers vae/ folder (disk, URL, File list): its config and its decoder weights. */
export async function openWanVaeFolder(folder: FolderSource, onProgress?: Progress): Promise<{ config: WanVaeConfig; weights: WanVaeWeights }> {
  const opened = await openModelFolder(folder, parseWanVaeConfig);
  try {
    const config = opened.config;
    return { config, weights: await loadWanVaeWeights(opened.checkpoint, config, onProgress) };
  } finally {
    opened.checkpoint.close();
  }
}
