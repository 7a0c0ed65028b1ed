// The Wan VAE config, read from a diffusers vae/ folder's config.json (AutoencoderKLWan). Only what the
// decoder needs is kept; the encoder's fields are read for validation only. The decoder's channel widths
// follow diffusers' WanDecoder3d: dims = base_dim * [dim_mult[-1], ...dim_mult reversed], so the real
// Wan2.1 VAE (base_dim 96, dim_mult [1, 2, 4, 4]) has dims 384, 384, 384, 192, 96.

export interface WanVaeConfig {
  /** base_dim (decoder_base_dim when the config sets it): the narrowest decoder width. */
  baseDim: number;
  /** z_dim: latent channels C (16 for Wan2.1). */
  zDim: number;
  dimMult: number[];
  numResBlocks: number;
  /** Attention scales of the encoder's down blocks (the decoder's mid block always has one attention). */
  attnScales: number[];
  /** temperal_downsample (diffusers' spelling), per down block; the decoder upsamples time where the reverse is true. */
  temperalDownsample: boolean[];
  /** Per-channel statistics of the latent space: z = latents * std + mean. */
  latentsMean: number[];
  latentsStd: number[];
  /** Output channels (3: RGB). */
  outChannels: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Largest accepted VAE config values: far above the Wan2.1 VAE, small before anything is sized from them. */
export const VAE_CONFIG_LIMITS: Record<string, number> = { base_dim: 4096, decoder_base_dim: 4096, z_dim: 1024, num_res_blocks: 64, out_channels: 3 };

/** Reads diffusers' vae/config.json (already parsed); `source` names it in errors. */
export function parseWanVaeConfig(json: unknown, source: string): WanVaeConfig {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  if (!isObject(json)) fail(`config is ${Array.isArray(json) ? "an array" : typeof json}, expected a JSON object`);
  const j = json as Record<string, unknown>;
  if (j._class_name !== undefined && j._class_name !== "AutoencoderKLWan") {
    fail(`"_class_name" is ${JSON.stringify(j._class_name)}, expected "AutoencoderKLWan" (is this the vae/ folder's config.json?)`);
  }
  const int = (key: string, def?: number): number => {
    const v = j[key] ?? def;
    if (v === undefined) fail(`"${key}" is missing`);
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) fail(`"${key}" must be a positive integer, found ${JSON.stringify(v)}`);
    // Bounded before anything is sized from it (num_res_blocks 1e9 once ran V8 out of memory).
    const max = VAE_CONFIG_LIMITS[key];
    if (max !== undefined && (v as number) > max) fail(`"${key}" is ${v}, above shardit's limit of ${max} (the Wan2.1 VAE: base_dim 96, z_dim 16, 2 res blocks)`);
    return v as number;
  };
  const list = <T>(key: string, def: T[] | undefined, ok: (v: unknown) => boolean, what: string): T[] => {
    const v = j[key] ?? def;
    if (v === undefined) fail(`"${key}" is missing`);
    if (!Array.isArray(v) || !v.every(ok)) fail(`"${key}" must be a list of ${what}, found ${JSON.stringify(v)}`);
    return v as T[];
  };
  const isPosInt = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v > 0;
  const isNum = (v: unknown) => typeof v === "number" && Number.isFinite(v);
  const baseDim = j.decoder_base_dim === null || j.decoder_base_dim === undefined ? int("base_dim", 96) : int("decoder_base_dim");
  const zDim = int("z_dim", 16);
  const dimMult = list<number>("dim_mult", [1, 2, 4, 4], isPosInt, "positive integers");
  if (dimMult.length < 1) fail(`"dim_mult" is empty`);
  if (dimMult.length > 8 || dimMult.some((m) => m > 64)) fail(`"dim_mult" must have at most 8 entries of at most 64 (shardit's limit), found ${dimMult.length} up to ${Math.max(...dimMult.slice(0, 1000))}`);
  const temperalDownsample = list<boolean>("temperal_downsample", [false, true, true], (v) => typeof v === "boolean", "booleans");
  if (temperalDownsample.length !== dimMult.length - 1) {
    fail(`"temperal_downsample" has ${temperalDownsample.length} entries, expected ${dimMult.length - 1} (one per down block but the last of dim_mult ${JSON.stringify(dimMult)})`);
  }
  const latentsMean = list<number>("latents_mean", undefined, isNum, "numbers");
  const latentsStd = list<number>("latents_std", undefined, isNum, "numbers");
  for (const [key, v] of [["latents_mean", latentsMean], ["latents_std", latentsStd]] as const) {
    if (v.length !== zDim) fail(`"${key}" has ${v.length} entries, expected z_dim = ${zDim}`);
  }
  if (j.is_residual === true) fail(`"is_residual" is true (the Wan2.2 VAE); only the Wan2.1 VAE (is_residual false) is supported`);
  if (j.patch_size !== undefined && j.patch_size !== null && j.patch_size !== 1) fail(`"patch_size" is ${JSON.stringify(j.patch_size)}; only null (no patchify, Wan2.1) is supported`);
  const outChannels = int("out_channels", 3);
  if (outChannels !== 3) fail(`"out_channels" is ${outChannels}, expected 3 (RGB)`);
  const dims = decoderDimsOf(baseDim, dimMult);
  for (let i = 1; i < dims.length - 1; i++) {
    if (dims[i] % 2) fail(`decoder width ${dims[i]} (base_dim ${baseDim} x dim_mult) must be even: its upsampler halves it`);
  }
  return {
    baseDim,
    zDim,
    dimMult,
    numResBlocks: int("num_res_blocks", 2),
    attnScales: list<number>("attn_scales", [], isNum, "numbers"),
    temperalDownsample,
    latentsMean,
    latentsStd,
    outChannels,
  };
}

function decoderDimsOf(baseDim: number, dimMult: number[]): number[] {
  return [dimMult[dimMult.length - 1], ...[...dimMult].reverse()].map((u) => u * baseDim);
}

/** One decoder up block: widths and what its upsampler does. */
export interface VaeUpBlockPlan {
  /** Input width (the previous upsampler halved it, except for block 0). */
  inDim: number;
  outDim: number;
  /** "3d": time x2 (not the first chunk) and space x2; "2d": space x2; null: none (the last block). */
  upsample: "3d" | "2d" | null;
}

/** The decoder's widths as diffusers' WanDecoder3d builds them: [dims[0] (mid block), up blocks]. */
export function vaeDecoderPlan(cfg: WanVaeConfig): { midDim: number; blocks: VaeUpBlockPlan[]; outDim: number } {
  const dims = decoderDimsOf(cfg.baseDim, cfg.dimMult);
  const temperalUpsample = [...cfg.temperalDownsample].reverse();
  const blocks: VaeUpBlockPlan[] = [];
  for (let i = 0; i < dims.length - 1; i++) {
    const up = i !== cfg.dimMult.length - 1;
    blocks.push({
      inDim: i > 0 ? dims[i] / 2 : dims[i],
      outDim: dims[i + 1],
      upsample: up ? (temperalUpsample[i] ? "3d" : "2d") : null,
    });
  }
  return { midDim: dims[0], blocks, outDim: dims[dims.length - 1] };
}

/** Video frames of a latent with T frames: 1 + 2^(time upsamplers) (T - 1) (1 + 4 (T - 1) for Wan2.1). */
export function vaeVideoFrames(cfg: WanVaeConfig, T: number): number {
  const ups = cfg.temperalDownsample.filter(Boolean).length;
  return 1 + 2 ** ups * (T - 1);
}

/** Spatial scale of the decoder: 2^(spatial upsamplers) (8 for Wan2.1). */
export function vaeSpatialScale(cfg: WanVaeConfig): number {
  return 2 ** (cfg.dimMult.length - 1);
}

/** z = latents * latents_std + latents_mean per channel, for latents [C, T, h, w] (C = z_dim). */
export function latentsToZ(latents: Float32Array, cfg: WanVaeConfig): Float32Array {
  const C = cfg.zDim;
  if (latents.length % C !== 0) throw new Error(`latentsToZ: ${latents.length} values are not [${C}, T, h, w] (z_dim ${C})`);
  const per = latents.length / C;
  const z = new Float32Array(latents.length);
  for (let c = 0; c < C; c++) {
    const m = cfg.latentsMean[c], s = cfg.latentsStd[c];
    for (let i = c * per; i < (c + 1) * per; i++) z[i] = latents[i] * s + m;
  }
  return z;
}

/** diffusers' config.json for a WanVaeConfig (synthetic vae/ folders for benches and tools). */
export function wanVaeConfigJson(cfg: WanVaeConfig): Record<string, unknown> {
  return {
    _class_name: "AutoencoderKLWan",
    base_dim: cfg.baseDim,
    decoder_base_dim: null,
    z_dim: cfg.zDim,
    dim_mult: cfg.dimMult,
    num_res_blocks: cfg.numResBlocks,
    attn_scales: cfg.attnScales,
    temperal_downsample: cfg.temperalDownsample,
    dropout: 0.0,
    latents_mean: cfg.latentsMean,
    latents_std: cfg.latentsStd,
    is_residual: false,
    in_channels: 3,
    out_channels: cfg.outChannels,
    patch_size: null,
    scale_factor_temporal: 4,
    scale_factor_spatial: 8,
  };
}

/** The real Wan2.1 VAE's config (diffusers' defaults), for benches with synthetic weights. */
export const WAN21_VAE: WanVaeConfig = parseWanVaeConfig({
  base_dim: 96,
  z_dim: 16,
  latents_mean: [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921],
  latents_std: [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.916],
}, "Wan2.1 VAE preset");
