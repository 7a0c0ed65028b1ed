// Writes a synthetic Wan checkpoint folder (config.json + safetensors, sharded with an index when large)
// for a preset, by the deterministic rule of test/fixtures/README.md, streaming one tensor at a time so
// the real 1.3B/14B sizes never sit in memory. Optionally writes an inputs file for `shardit forward`.
// Usage:
//   deno run -A tools/make-checkpoint.ts --preset wan2.1-t2v-1.3b --out DIR [--dtype F32|F16|BF16]
//       [--shard-mb 4096] [--latent F,H,W --text-len 512 [--timestep 999] [--inputs FILE]]
// --preset wan-small with F32 reproduces test/fixtures/wan-small/model.safetensors byte for byte in tensors.
import { allowFlags, int, num, parseArgs, str, UsageError } from "../src/cli/args.ts";
import { encodeFromF32, encodeSafetensors, safetensorsHeader, type StDType, type TensorSpec } from "../src/io/safetensors.ts";
import { presetConfig, wanConfigJson } from "../src/loaders/config.ts";
import { expectedTensors } from "../src/loaders/checkpoint.ts";
import { fillSynthetic, syntheticInputs } from "../src/loaders/synthetic.ts";
import { DTYPE_BYTES } from "../src/io/safetensors.ts";
import { numel } from "../src/shape.ts";

async function main(argv: string[]): Promise<void> {
  const p = parseArgs(argv);
  allowFlags(p, "make-checkpoint", ["preset", "out", "dtype", "shard-mb", "latent", "text-len", "timestep", "inputs"]);
  const cfg = presetConfig(str(p, "preset"));
  const out = str(p, "out");
  const dtype = str(p, "dtype", "F32").toUpperCase() as StDType;
  if (!(dtype in DTYPE_BYTES)) throw new UsageError(`--dtype must be F32, F16 or BF16, got ${dtype}`);
  const shardBytes = int(p, "shard-mb", 4096) * 2 ** 20;
  await Deno.mkdir(out, { recursive: true });
  await Deno.writeTextFile(`${out}/config.json`, JSON.stringify(wanConfigJson(cfg), null, 2) + "\n");

  // Greedy split into shards of at most shardBytes (a tensor larger than that gets a shard of its own).
  const specs: TensorSpec[] = expectedTensors(cfg).map((t) => ({ name: t.name, dtype, shape: t.shape }));
  const shards: TensorSpec[][] = [[]];
  let cur = 0;
  for (const s of specs) {
    const b = numel(s.shape) * DTYPE_BYTES[dtype];
    if (cur + b > shardBytes && shards[shards.length - 1].length) {
      shards.push([]);
      cur = 0;
    }
    shards[shards.length - 1].push(s);
    cur += b;
  }
  const n = shards.length;
  const fileName = (i: number) => n === 1 ? "diffusion_pytorch_model.safetensors" : `diffusion_pytorch_model-${String(i + 1).padStart(5, "0")}-of-${String(n).padStart(5, "0")}.safetensors`;
  const weightMap: Record<string, string> = {};
  let total = 0;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const { header, dataBytes } = safetensorsHeader(shards[i], { format: "pt", generator: "shardit tools/make-checkpoint.ts" });
    const file = await Deno.open(`${out}/${fileName(i)}`, { write: true, create: true, truncate: true });
    try {
      await writeAll(file, header);
      for (const s of shards[i]) {
        await writeAll(file, encodeFromF32(dtype, fillSynthetic(s.name, s.shape, new Float32Array(numel(s.shape)))));
        weightMap[s.name] = fileName(i);
      }
    } finally {
      file.close();
    }
    total += dataBytes;
    console.log(`${out}/${fileName(i)}: ${shards[i].length} tensors, ${(dataBytes / 2 ** 20).toFixed(1)} MiB`);
  }
  if (n > 1) {
    await Deno.writeTextFile(`${out}/diffusion_pytorch_model.safetensors.index.json`, JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + "\n");
  }
  console.log(`${specs.length} tensors, ${(total / 2 ** 30).toFixed(2)} GiB ${dtype} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  if (p.flags.has("latent")) {
    const dims = str(p, "latent").split(",").map(Number);
    if (dims.length !== 3 || !dims.every((d) => Number.isInteger(d) && d > 0)) throw new UsageError(`--latent must be F,H,W, got ${str(p, "latent")}`);
    const inp = syntheticInputs(cfg, { F: dims[0], H: dims[1], W: dims[2] }, int(p, "text-len", 512), num(p, "timestep", 999));
    const path = str(p, "inputs", `${out}/io.safetensors`);
    await Deno.writeFile(path, encodeSafetensors({
      hidden_states: { dtype: "F32", shape: inp.hiddenStatesShape, data: inp.hiddenStates },
      encoder_hidden_states: { dtype: "F32", shape: inp.encoderHiddenStatesShape, data: inp.encoderHiddenStates },
      timestep: { dtype: "F32", shape: [1], data: inp.timestep },
    }));
    console.log(`${path}: hidden_states [${inp.hiddenStatesShape}], encoder_hidden_states [${inp.encoderHiddenStatesShape}], timestep ${inp.timestep[0]}`);
  } else if (p.flags.has("text-len") || p.flags.has("inputs") || p.flags.has("timestep")) {
    throw new UsageError("--text-len, --timestep and --inputs need --latent F,H,W");
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    console.error(`make-checkpoint: ${(e as Error)?.message ?? e}`);
    Deno.exit(e instanceof UsageError ? 2 : 1);
  }
}
