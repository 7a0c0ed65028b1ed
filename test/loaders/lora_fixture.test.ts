// LoRA files written by Python (test/fixtures/lora-small/make_lora.py: numpy + safetensors, keys named as
// LightX2V/ComfyUI and diffusers/PEFT files name them, with sources in the script) for the wan-small golden
// model. expected.json, written by the same script, says which model tensor each update changes, from which
// keys and with what scale: the update is formed here in Float64 from the file's own tensors and compared with
// what shardit merged, per file and both at once through the library's loadModel(..., { loras }).
import { bytesSource, Checkpoint } from "../../src/io/safetensors.ts";
import { type LoraFile, mergeLoras, weightArrays } from "../../src/loaders/lora.ts";
import { forwardOnDevice } from "../../src/model/forward.ts";
import { WanModel } from "../../src/model/wan.ts";
import { uploadWanWeights } from "../../src/model/weights_gpu.ts";
import type { WanWeights } from "../../src/model/weights.ts";
import type { WanConfig } from "../../src/model/config.ts";
import { expectBitwiseEqual, expectClose, expectEqual, relL2, test, TOL, withGpu } from "../../src/selftest/harness.ts";
import { loadGolden } from "../model/util.ts";

const FILES = ["wan_layout.safetensors", "diffusers_layout.safetensors"] as const;
type FileName = typeof FILES[number];
interface Entry { target: string; down?: string; up?: string; delta?: string; scale: number }

const here = (f: string) => new URL(`../fixtures/lora-small/${f}`, import.meta.url);
async function bytes(f: string): Promise<Uint8Array> {
  const res = await fetch(here(f));
  if (!res.ok) throw new Error(`${here(f)}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
const expected = async (): Promise<Record<FileName, Entry[]>> => JSON.parse(new TextDecoder().decode(await bytes("expected.json")));
const open = async (f: FileName, strength: number): Promise<LoraFile> => ({ name: f, checkpoint: await Checkpoint.open([bytesSource(f, await bytes(f))]), strength });

/** The Float64 updates of `files` (at their strengths) per model tensor, from expected.json and the files' tensors. */
async function updatesF64(cfg: WanConfig, files: LoraFile[]): Promise<Map<string, Float64Array>> {
  const exp = await expected();
  const sizes = new Map([...weightArrays(cfg, (await loadGolden("wan-small")).weights)].map(([k, v]) => [k, v.length]));
  const out = new Map<string, Float64Array>();
  for (const f of files) {
    for (const e of exp[f.name as FileName]) {
      const n = sizes.get(e.target);
      if (n === undefined) throw new Error(`expected.json: ${e.target} is not a tensor of wan-small`);
      const u = out.get(e.target) ?? new Float64Array(n);
      const s = f.strength * e.scale;
      if (e.delta) {
        const d = await f.checkpoint.readF32(e.delta);
        for (let i = 0; i < n; i++) u[i] += s * d[i];
      } else {
        const a = await f.checkpoint.readF32(e.down!), b = await f.checkpoint.readF32(e.up!);
        const r = f.checkpoint.info(e.down!).shape[0], rows = b.length / r, cols = a.length / r;
        if (rows * cols !== n) throw new Error(`${e.target}: ${rows} x ${cols} update for ${n} values`);
        for (let o = 0; o < rows; o++) {
          for (let i = 0; i < cols; i++) {
            let acc = 0;
            for (let k = 0; k < r; k++) acc += b[o * r + k] * a[k * cols + i];
            u[o * cols + i] += s * acc;
          }
        }
      }
      out.set(e.target, u);
    }
  }
  return out;
}

/** Every tensor: the updated ones' updates vs Float64, the others untouched bit for bit. */
function checkMerged(cfg: WanConfig, base: WanWeights, got: WanWeights, updates: Map<string, Float64Array>, what: string) {
  const b = weightArrays(cfg, base), g = weightArrays(cfg, got);
  for (const [name, gv] of g) {
    const bv = b.get(name)!, u = updates.get(name);
    if (!u) expectBitwiseEqual(`${what}: ${name} (no update)`, gv, bv);
    else expectClose(`${what}: the update of ${name}`, Float64Array.from(gv, (v, i) => v - bv[i]), u, TOL.matmul.f32);
  }
}

for (const f of FILES) {
  test(`lora fixture (Python-written): ${f} merged vs its Float64 updates`, async () => {
    const g = await loadGolden("wan-small");
    const file = await open(f, 0.7);
    const merged = structuredClone(g.weights);
    const report = await withGpu((gpu) => mergeLoras(gpu, g.cfg, merged, [file]));
    const updates = await updatesF64(g.cfg, [file]);
    expectEqual(`${f}: layout`, report.files[0].layout, f.startsWith("wan") ? "wan" : "diffusers");
    expectEqual(`${f}: tensors changed`, report.tensors, updates.size);
    checkMerged(g.cfg, g.weights, merged, updates, f);
  });
}

test("lora fixture: loadModel(folder, { loras: [wan:0.8, diffusers:1.25] }) merges both; its forward vs the Float64 merge's", async () => {
  const { loadModel } = await import("../../src/deno.ts");
  const g = await loadGolden("wan-small");
  const path = (f: string) => decodeURIComponent(here(f).pathname);
  const model = await loadModel(path("../wan-small"), { loras: [`${path(FILES[0])}:0.8`, { source: path(FILES[1]), strength: 1.25 }] });
  const updates = await updatesF64(g.cfg, [await open(FILES[0], 0.8), await open(FILES[1], 1.25)]);
  expectEqual("tensors changed", model.loras?.tensors, updates.size);
  checkMerged(g.cfg, g.weights, model.weights, updates, "both files");
  const ref = structuredClone(g.weights);
  const arrays = weightArrays(g.cfg, ref);
  for (const [name, u] of updates) {
    const w = arrays.get(name)!;
    w.set(Float64Array.from(w, (v, i) => v + u[i]));
  }
  const run = (w: WanWeights) => withGpu((gpu) => forwardOnDevice(new WanModel(gpu, g.cfg, uploadWanWeights(gpu, g.cfg, w, "f32"), "f32"), g.inputs));
  const got = await run(model.weights);
  expectClose("forward over loadModel's merge vs over the Float64 merge", got, await run(ref), TOL.model.f32);
  const moved = relL2(got, g.expected);
  if (!(moved > 1e-2)) throw new Error(`the LoRAs moved the output by only ${moved.toExponential(2)}: they changed nothing`);
}, { hosts: ["deno"], tags: ["slow"] });
