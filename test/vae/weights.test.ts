// Loading a diffusers vae/ folder whose weights are stored F32, F16 or BF16, through the same folder
// resolver as the transformer (here a picked File list, as in the page): every decoder tensor arrives
// widened to f32, equal to the F32 fixture's values rounded to the stored type (the writer's rounding:
// f16 to nearest even, bf16 to nearest even on the top 16 bits); the encoder's tensors beside them are ignored.
import { fileListFolder } from "../../src/io/model_folder.ts";
import { bytesSource, Checkpoint, encodeSafetensors, type StDType } from "../../src/io/safetensors.ts";
import { expectedVaeTensors, mapWanVaeWeights, openWanVaeFolder } from "../../src/vae/weights.ts";
import { expectEqual, test } from "../../src/selftest/harness.ts";
import { fixtureBytes } from "../../src/selftest/fixtures.ts";
import { loadVaeGolden } from "./util.ts";

function roundTo(dtype: StDType, a: Float32Array): Float32Array {
  if (dtype === "F32") return a;
  if (dtype === "F16") return Float32Array.from(new Float16Array(a));
  const bits = new Uint32Array(Float32Array.from(a).buffer);
  for (let i = 0; i < bits.length; i++) bits[i] = (((bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16) << 16) >>> 0;
  return new Float32Array(bits.buffer);
}

/** Every Float32Array of a weight tree, in the order mapWanVaeWeights builds it. */
function leaves(v: unknown, out: Float32Array[] = []): Float32Array[] {
  if (v instanceof Float32Array) out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => leaves(x, out));
  else if (v && typeof v === "object") Object.values(v).forEach((x) => leaves(x, out));
  return out;
}

for (const dtype of ["F32", "F16", "BF16"] as StDType[]) {
  test(`vae weights load from a vae/ folder stored ${dtype}`, async () => {
    const g = await loadVaeGolden("wan-vae-tiny");
    const src = await Checkpoint.open([bytesSource("tiny", await fixtureBytes("wan-vae-tiny", "diffusion_pytorch_model.safetensors"))]);
    const f32 = new Map<string, Float32Array>();
    const tensors: Record<string, { dtype: StDType; shape: number[]; data: Float32Array }> = {};
    for (const { name, shape } of expectedVaeTensors(g.cfg)) {
      f32.set(name, await src.readF32(name));
      tensors[name] = { dtype, shape, data: f32.get(name)! };
    }
    tensors["encoder.conv1.weight"] = { dtype, shape: [2, 3], data: new Float32Array(6) }; // ignored
    const files = [
      new File([new Uint8Array(await fixtureBytes("wan-vae-tiny", "config.json"))], "config.json"),
      new File([new Uint8Array(encodeSafetensors(tensors))], "diffusion_pytorch_model.safetensors"),
    ];
    const { config, weights } = await openWanVaeFolder(fileListFolder(files));
    expectEqual("config", config, g.cfg);
    const want = leaves(mapWanVaeWeights(g.cfg, (name) => roundTo(dtype, f32.get(name)!)));
    const got = leaves(weights);
    expectEqual("tensor count", got.length, want.length);
    const bad = got.findIndex((a, i) => a.length !== want[i].length || a.some((v, j) => v !== want[i][j]));
    expectEqual(`first ${dtype} tensor that differs`, bad, -1);
  });
}
