import { videoFrames, videoRgba8 } from "../../ops/video_frames.ts";
import { videoFramesRef, videoRgba8Ref } from "../reference/video_frames.ts";
import { expectClose, expectEqual, f64, randomArray, roundF16, test, withGpu, withGpuF16 } from "../harness.ts";
import type { Gpu } from "../../gpu/device.ts";
import type { DType } from "../../shape.ts";

async function check(gpu: Gpu, T: number, H: number, W: number, dtype: DType) {
  const P = T * H * W;
  const round = dtype === "f16" ? roundF16 : (a: Float32Array) => a;
  // Values beyond [-1, 1] (clamped) and, for the bytes, values whose 8-bit level is k + f with f away from
  // one half, so the f32 arithmetic on the GPU must land on the reference's level exactly.
  const x = round(randomArray(P * 3, P + dtype.length, 1.4));
  const fracs = [0.1, 0.3, 0.7, 0.9];
  const levels = Float32Array.from({ length: P * 3 }, (_, i) => (2 * ((i * 37) % 256 + fracs[i % 4]) / 255) - 1);
  const planar = gpu.empty([3, T, H, W], "f32");
  videoFrames(gpu, gpu.upload(x, [T, H, W, 3], dtype), planar);
  expectClose(`videoFrames ${T}x${H}x${W} ${dtype}`, await gpu.read(planar), videoFramesRef(f64(x), P), 0);
  const lv = round(levels);
  const rgba = gpu.acquire(P * 4);
  videoRgba8(gpu, gpu.upload(lv, [T, H, W, 3], dtype), rgba);
  const got = new Uint8Array(await gpu.readBytes(rgba, 0, P * 4));
  const want = videoRgba8Ref(f64(lv), P);
  const diff = got.findIndex((v, i) => v !== want[i]);
  expectEqual(`videoRgba8 ${T}x${H}x${W} ${dtype}: first differing byte`, diff === -1 ? null : { at: diff, got: got[diff], want: want[diff] }, null);
}

for (const [T, H, W] of [[1, 1, 1], [2, 3, 5], [4, 17, 15]]) {
  test(`video_frames ${T}x${H}x${W} f32`, () => withGpu((gpu) => check(gpu, T, H, W, "f32")));
  test(`video_frames ${T}x${H}x${W} f16`, () => withGpuF16((gpu) => check(gpu, T, H, W, "f16")), { needs: ["f16"], hosts: ["deno"] });
}
