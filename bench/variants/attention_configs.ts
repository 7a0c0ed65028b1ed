// Scalar flash-attention tile configs (shaders/attention.wgsl) that the picker in src/ops/attention.ts never
// chooses on any adapter: kept for bench/attention.ts --variants to compare, out of production (issue 8).
// Measured on an H100 (Deno/wgpu, D=128, L=32760, f32 / f16 ms): 256x32t8d8 387 / 397, 128x64t8d8 423 / 412,
// 64x64 510 / 497, all slower than the picked 128x64t8 (373 / 387).
import type { AttentionConfig } from "../../src/ops/attention.ts";

export const ATTENTION_VARIANT_CONFIGS: Record<string, AttentionConfig> = {
  "128x64t8d8": { BQ: 128, BK: 64, DC: 8, TM: 8 }, // 256 threads, 40 KiB
  "64x64t8": { BQ: 64, BK: 64, DC: 16, TM: 8 }, // 128 threads, 25 KiB
  "256x32t8d8": { BQ: 256, BK: 32, DC: 8, TM: 8 }, // 256 threads, 45 KiB
  "64x64": { BQ: 64, BK: 64, DC: 32 }, // 256 threads, 33 KiB
  "128x32d16": { BQ: 128, BK: 32, DC: 16 }, // 256 threads, 28 KiB
  "32x64": { BQ: 32, BK: 64, DC: 32 }, // 128 threads, 20.5 KiB
  "64x64d16": { BQ: 64, BK: 64, DC: 16 }, // 256 threads, 25 KiB
};
