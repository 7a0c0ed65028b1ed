// Loads a golden fixture (config, weights, inputs, expected output and intermediates) through the
// product's own readers, for the model and sharding tests in both hosts.
import { bytesSource, Checkpoint } from "../../src/io/safetensors.ts";
import { type WanWeights } from "../../src/model/weights.ts";
import { loadWanWeights } from "../../src/loaders/checkpoint.ts";
import { type WanConfig } from "../../src/model/config.ts";
import { parseWanConfig } from "../../src/loaders/config.ts";
import { type ForwardInputs } from "../../src/model/forward.ts";
import { readForwardInputs } from "../../src/loaders/inputs.ts";
import { fixtureBytes, type FixtureName } from "../../src/selftest/fixtures.ts";

export interface Golden {
  cfg: WanConfig;
  weights: WanWeights;
  inputs: ForwardInputs;
  io: Checkpoint;
  expected: Float32Array;
}

const cache = new Map<FixtureName, Promise<Golden>>();

export function loadGolden(name: FixtureName): Promise<Golden> {
  let p = cache.get(name);
  if (!p) {
    p = (async () => {
      const cfg = parseWanConfig(JSON.parse(new TextDecoder().decode(await fixtureBytes(name, "config.json"))), `${name}/config.json`);
      const ckpt = await Checkpoint.open([bytesSource(`${name}/model.safetensors`, await fixtureBytes(name, "model.safetensors"))]);
      const ioSrc = bytesSource(`${name}/io.safetensors`, await fixtureBytes(name, "io.safetensors"));
      const io = await Checkpoint.open([ioSrc]);
      return { cfg, weights: await loadWanWeights(ckpt, cfg), inputs: await readForwardInputs(ioSrc, cfg), io, expected: await io.readF32("expected") };
    })();
    cache.set(name, p);
  }
  return p;
}
