// Sampler presets for step- and CFG-distilled Wan2.1 checkpoints and LoRAs (`--preset NAME`): the settings
// their publishers state, so a 4-step, guidance-1 video (4 forwards, no unconditional branch) is one flag.
//
// lightx2v-4step (alias fast4): LightX2V's Wan2.1 T2V 4-step distillation (the merged model
//   lightx2v/Wan2.1-Distill-Models wan2.1_t2v_14b_lightx2v_4step.safetensors and the LoRA
//   lightx2v/Wan2.1-Distill-Loras wan2.1_t2v_14b_lora_rank64_lightx2v_4step.safetensors), as their configs
//   configs/distill/wan21/wan_t2v_distill_model_4step_cfg.json and wan_t2v_distill_lora_4step_cfg.json in
//   ModelTC/LightX2V state: "infer_steps": 4, "denoising_step_list": [1000, 750, 500, 250],
//   "sample_shift": 5, "enable_cfg": false (so guidance 1: the config's sample_guide_scale is not used), run
//   by WanStepDistillScheduler (lightx2v/models/schedulers/wan/step_distill/scheduler.py): sigmas =
//   shift(linspace(1, 0, 1001)[:-1])[1000 - t for t in denoising_step_list], the model called at
//   sigma * 1000 (float, not truncated), and step_post = the lcm solver (x0, then fresh noise at the next sigma).
// lightx2v-4step-euler: the same sigmas and timesteps with a deterministic Euler step (x0 + sigma_next v,
//   i.e. x + (sigma_next - sigma) v), which is LightX2V's Wan22StepDistillScheduler.step_post, the sampler of
//   their Wan2.2 distilled models and the Wan2.2-Lightning LoRAs; for Wan2.1 it is the noise-free variant.
import type { SamplerConfig } from "./flow_match.ts";

export interface SamplerPreset {
  name: string;
  /** One line for --help and messages. */
  summary: string;
  /** Where the settings come from (configs, model cards, scheduler source). */
  sources: readonly string[];
  /** Everything but the seed of the fresh noise (generate's seed). */
  sampler: Omit<SamplerConfig, "noiseSeed">;
}

/**
 * LightX2V's WanStepDistillScheduler.set_denoising_timesteps: sigma_j = 1 - j/T for j in [0, T) (torch's
 * linspace(1, 0, T + 1)[:-1]), shifted s' = S s / (1 + (S - 1) s), taken at j = T - t for each t of the
 * list; timesteps = sigma' * T. A final sigma 0 is appended (the last step's x0 is the result).
 */
export function stepDistillSchedule(denoisingSteps: readonly number[], shift: number, numTrainTimesteps = 1000): { sigmas: number[]; timesteps: number[] } {
  const T = numTrainTimesteps;
  if (!(Number.isFinite(shift) && shift > 0)) throw new Error(`stepDistillSchedule: shift must be a positive number, got ${shift}`);
  const sigmas = denoisingSteps.map((t) => {
    if (!Number.isInteger(t) || t < 1 || t > T) throw new Error(`stepDistillSchedule: denoising steps must be integers in [1, ${T}], got ${t}`);
    const s = 1 - (T - t) / T;
    return (shift * s) / (1 + (shift - 1) * s);
  });
  return { sigmas: [...sigmas, 0], timesteps: sigmas.map((s) => s * T) };
}

const LIGHTX2V_SOURCES = [
  "ModelTC/LightX2V configs/distill/wan21/wan_t2v_distill_model_4step_cfg.json and wan_t2v_distill_lora_4step_cfg.json: infer_steps 4, denoising_step_list [1000, 750, 500, 250], sample_shift 5, enable_cfg false",
  "ModelTC/LightX2V lightx2v/models/schedulers/wan/step_distill/scheduler.py: WanStepDistillScheduler (sigmas, timesteps = sigma * 1000, step_post)",
];
const LIGHTX2V_LIST = [1000, 750, 500, 250];

export const SAMPLER_PRESETS: Record<string, SamplerPreset> = {
  "lightx2v-4step": {
    name: "lightx2v-4step",
    summary: "LightX2V Wan2.1 T2V 4-step distill (model or LoRA): timesteps 1000/937.5/833.3/625, guidance 1, lcm (fresh noise each step)",
    sources: LIGHTX2V_SOURCES,
    sampler: { steps: 4, shift: 5, guidance: 1, solver: "lcm", numTrainTimesteps: 1000, schedule: stepDistillSchedule(LIGHTX2V_LIST, 5) },
  },
  "lightx2v-4step-euler": {
    name: "lightx2v-4step-euler",
    summary: "the same 4 timesteps and guidance 1 with a deterministic Euler step (LightX2V's Wan2.2 step-distill / Lightning sampler)",
    sources: [...LIGHTX2V_SOURCES, "ModelTC/LightX2V scheduler.py: Wan22StepDistillScheduler.step_post (x0 + sigma_next * v)"],
    sampler: { steps: 4, shift: 5, guidance: 1, solver: "euler", numTrainTimesteps: 1000, schedule: stepDistillSchedule(LIGHTX2V_LIST, 5) },
  },
};
/** Short names. */
export const PRESET_ALIASES: Record<string, string> = { fast4: "lightx2v-4step" };
export const PRESET_NAMES: readonly string[] = [...Object.keys(SAMPLER_PRESETS), ...Object.keys(PRESET_ALIASES)];

/** The sampler config of preset `name` with `seed` for its fresh noise; an unknown name lists the known ones. */
export function presetSampler(name: string, seed: number): SamplerConfig {
  const key = Object.hasOwn(PRESET_ALIASES, name) ? PRESET_ALIASES[name] : name;
  const p = Object.hasOwn(SAMPLER_PRESETS, key) ? SAMPLER_PRESETS[key] : undefined;
  if (!p) throw new Error(`unknown sampler preset "${name}" (known: ${PRESET_NAMES.join(", ")})`);
  return { ...p.sampler, noiseSeed: seed };
}
