// The sharded VAE decode: bands of latent rows over 1-4 workers, halo rows through shared memory before
// every 3x3 conv, the whole frame gathered for the mid block's attention. Sharded == one device (the
// decoder on one Gpu in this thread, no band; bitwise) == diffusers' float64 decode, for every device count and
// weighted bands; a crash names its device and a cancel rejects at once, and the pool goes on.
//
// Deno (lavapipe) runs the matrix on wan-vae-tiny (latent 3x4x6: up to 4 one-row bands); Chromium
// (SwiftShader) runs the 3-device case.
import type { Host } from "../../src/selftest/harness.ts";
import { expectBitwiseEqual, expectClose, skip, test, TOL, withGpu } from "../../src/selftest/harness.ts";
import { WanVaeDecoder } from "../../src/vae/decoder.ts";
import { planBands } from "../../src/parallel/vae_plan.ts";
import type { WorkerPool } from "../../src/parallel/pool.ts";
import { type DecodeChunkProgress, decodeLatents } from "../../src/pipeline/decode.ts";
import { loadVaeGolden } from "../vae/util.ts";
import { cancelInFlight, expectOwnCrash, SHARDED_TIMEOUT_MS, withSharedPool } from "./pools.ts";

const DENO_ONLY: Host[] = ["deno"];

let single: Promise<Float32Array> | null = null;
/** wan-vae-tiny decoded on one device in this thread (no workers, no band), once. */
function singleDevice(): Promise<Float32Array> {
  single ??= (async () => {
    const g = await loadVaeGolden("wan-vae-tiny");
    return await withGpu(async (gpu) => {
      const dec = new WanVaeDecoder(gpu, g.cfg, g.weights, "f32");
      try {
        return await dec.decode(g.z, g.latent);
      } finally {
        dec.dispose();
      }
    });
  })();
  return single;
}

async function shardedVsSingle(devices: number, weights?: number[]): Promise<void> {
  const g = await loadVaeGolden("wan-vae-tiny");
  const one = await singleDevice();
  expectClose("one device vs diffusers", one, g.expected, TOL.model.f32);
  await withSharedPool(devices, async (pool) => {
    await pool.loadVae(g.cfg, g.weights);
    const progress: DecodeChunkProgress[] = [];
    const run = await decodeLatents(pool, g.cfg, g.latents, g.latent, weights, (p) => progress.push(p));
    const bands = run.plan.bands.map((b) => `[${b.y0},${b.y1})`).join(" ");
    const what = `wan-vae-tiny on ${devices} device(s), bands ${bands}`;
    const want = { F: 9, H: 32, W: 48 };
    if (JSON.stringify(run.videoGrid) !== JSON.stringify(want)) throw new Error(`${what}: video ${JSON.stringify(run.videoGrid)}, expected ${JSON.stringify(want)}`);
    // Every output value comes from the same kernels over the same inputs in the same order: a band's conv
    // input with its halo rows is the whole frame's rows (zeros past the edge = the conv's padding), and
    // the attention runs its own queries over every key of the gathered frame. So: bitwise equal.
    expectBitwiseEqual(`${what} vs one device`, run.video, one);
    expectClose(`${what} vs diffusers`, run.video, g.expected, TOL.model.f32);
    run.stats.forEach((s, d) => {
      if (s.y0 !== run.plan.bands[d].y0 || s.y1 !== run.plan.bands[d].y1 || s.chunkMs.length !== g.latent.F) {
        throw new Error(`${what}: device ${d} reports rows [${s.y0}, ${s.y1}) and ${s.chunkMs.length} chunks`);
      }
      if (devices > 1 && !(s.bytesExchanged > 0)) throw new Error(`${what}: device ${d} exchanged no bytes`);
    });
    // Progress: each latent frame once, in order, once every device has finished it, with each device's
    // time for it (the times its stats list) and the slowest of them.
    const heard = progress.map((p) => p.chunk).join(",");
    const chunks = Array.from({ length: g.latent.F }, (_, t) => t).join(",");
    if (heard !== chunks) throw new Error(`${what}: progress reported chunks ${heard}, expected ${chunks}`);
    for (const p of progress) {
      const times = run.stats.map((s) => s.chunkMs[p.chunk]);
      if (p.chunks !== g.latent.F || p.deviceMs.join() !== times.join() || p.ms !== Math.max(...times)) {
        throw new Error(`${what}: progress of chunk ${p.chunk} ${JSON.stringify(p)}, the devices' stats say ${times.join(", ")} ms of ${g.latent.F} chunks`);
      }
    }
  });
}

for (let n = 1; n <= 4; n++) {
  // Deno only (this case cost 104 s of SwiftShader in CI): equality with one device is asserted here; in Chromium
  // the sharded decode (workers, SharedArrayBuffer halos) still runs in the demo e2e, which decodes wan-vae-tiny's
  // latents on 2 workers and checks the bands and the clip's shape, not its values.
  test(`vae sharded: wan-vae-tiny on ${n} device(s) == one device == diffusers`, () => shardedVsSingle(n), { timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY, tags: n === 2 ? ["slow", "dawn"] : ["slow"] });
}
test("vae sharded: wan-vae-tiny on 2 devices with weights 1,3 (bands of 1 and 3 rows) == one device == diffusers", () => shardedVsSingle(2, [1, 3]), { tags: ["slow"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY });

async function withTinyOn3(fn: (pool: WorkerPool, decode: () => ReturnType<typeof decodeLatents>, expected: Float32Array) => Promise<void>): Promise<void> {
  const g = await loadVaeGolden("wan-vae-tiny");
  await withSharedPool(3, async (pool) => {
    await pool.loadVae(g.cfg, g.weights);
    await fn(pool, () => decodeLatents(pool, g.cfg, g.latents, g.latent), g.expected);
  });
}

test("vae sharded: a worker crashing mid-decode fails it naming its device, and the pool recovers", () =>
  withTinyOn3(async (pool, decode, expected) => {
    await expectOwnCrash(pool, 1, decode());
    expectClose("after recovery", (await decode()).video, expected, TOL.model.f32);
  }), { tags: ["slow"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY });

test("vae sharded: a cancelled decode rejects at once, its devices free their scratch, and the pool goes on", () =>
  withTinyOn3(async (pool, decode, expected) => {
    const before = await decode();
    const after = await cancelInFlight(pool, decode, before);
    expectClose("after the cancel", after.video, expected, TOL.model.f32);
  }), { tags: ["slow"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY });

test("vae sharded: a band plan for another device count or latent is refused naming both", async () => {
  const g = await loadVaeGolden("wan-vae-tiny");
  await withSharedPool(2, async (pool) => {
    await pool.loadVae(g.cfg, g.weights);
    let message = "";
    try {
      await pool.decode({ z: g.z, latent: g.latent, plan: planBands(4, 3) });
    } catch (e) {
      message = (e as Error).message;
    }
    if (!/the band plan has 3 devices, the pool 2/.test(message)) throw new Error(`expected a device-count error, got "${message || "success"}"`);
  });
}, { timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY });

// f16 (where the adapter has shader-f16; SwiftShader has none): the halo rows travel as f16.
test("vae sharded: wan-vae-tiny f16 on 3 devices == one device f16 (bitwise) == diffusers within the f16 bound", async () => {
  const g = await loadVaeGolden("wan-vae-tiny");
  const one = await withGpu(async (gpu) => {
    if (!gpu.features.f16) skip("adapter has no shader-f16");
    const dec = new WanVaeDecoder(gpu, g.cfg, g.weights, "f16");
    try {
      return await dec.decode(g.z, g.latent);
    } finally {
      dec.dispose();
    }
  });
  await withSharedPool(3, async (pool) => {
    await pool.loadVae(g.cfg, g.weights);
    const run = await decodeLatents(pool, g.cfg, g.latents, g.latent);
    expectBitwiseEqual("f16 on 3 devices vs one device f16", run.video, one);
    expectClose("f16 on 3 devices vs diffusers", run.video, g.expected, TOL.model.f16);
  }, "f16");
}, { tags: ["slow"], needs: ["f16"], timeoutMs: SHARDED_TIMEOUT_MS, hosts: DENO_ONLY });
