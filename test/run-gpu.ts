// The GPU host's check of the matrix kernels and the f16 model (`npm run test:gpu`, or on the GPU host
// `deno run -A test/run-gpu.ts --log bench/results/test_gpu.log`): on Dawn by default ($SHARDIT_WEBGPU
// overrides), it runs every test whose name has "matrix" (gemm_matrix, attention_matrix: Float64 references),
// the f16 gemm tests (the automatic choice, i.e. the matrix kernel where the device has one), the f16 golden
// forwards and the sharded f16 forward on 2 workers == one device. Fails when the device has no subgroup
// matrices: on such a device the matrix tests would only skip.
// Only the test files it runs (the whole suite imports npm packages that do not travel to the GPU host).
import "./kernels/index.ts";
import "./model/forward.test.ts";
import "./parallel/sharded.test.ts";
import { registeredTests } from "./harness.ts";
import { runTests } from "./runner.ts";
import { useWebGpu, webGpuChoice, WEBGPU_ENV } from "../src/platform/webgpu_deno.ts";
import { Gpu } from "../src/gpu/device.ts";

const args = Deno.args;
const logPath = args.includes("--log") ? args[args.indexOf("--log") + 1] : "";
// Written line by line, so a crash (Deno has aborted at exit with workers that held devices) keeps the log.
if (logPath) Deno.writeTextFileSync(logPath, "");
const log = (line: string) => {
  console.log(line);
  if (logPath) Deno.writeTextFileSync(logPath, line + "\n", { append: true });
};

const backend = await useWebGpu(webGpuChoice(Deno.env.get(WEBGPU_ENV) ?? "dawn"));
const gpu = await Gpu.create({ label: "test:gpu" });
const d = gpu.describe();
gpu.destroy();
log(`webgpu: ${backend.implementation}; adapter: ${JSON.stringify(d)}`);
log(`date: ${new Date().toISOString()}; deno ${Deno.version.deno}`);

const wanted = (name: string) =>
  name.includes("matrix") ||
  (name.startsWith("gemm ") && name.endsWith(" f16")) ||
  /forward f16 vs diffusers/.test(name) ||
  name.startsWith("sharded wan-small f16 on 2 devices");
const summary = await runTests(registeredTests().filter((c) => wanted(c.name)), "deno", "", log);
log(`test:gpu: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
const noMatrix = !gpu.features.subgroupMatrix;
if (noMatrix) log(`test:gpu: this device has no subgroup matrices: the matrix kernels were not tested`);
Deno.exit(summary.failed || noMatrix ? 1 : 0);
