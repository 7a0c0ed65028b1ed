// The GPU host's check of the matrix kernels and the f16 model (`npm run test:gpu`, or on the GPU host
// `deno run -A test/run-gpu.ts --log bench/results/test_gpu.log`): on Dawn by default ($SHARDIT_WEBGPU
// overrides), it runs every test tagged `needs: subgroupMatrix` or `needs: f16` (the matrix kernels against
// their Float64 references, the f16 kernels, i.e. the matrix kernel where gemm() picks it, the f16 golden
// forwards, the sharded f16 forward on 2 workers == one device): chosen by tag, so a renamed test stays in.
// Fails when the device has no subgroup matrices: on such a device the matrix tests would only skip.
// Only the test files it runs (the whole suite imports npm packages that do not travel to the GPU host).
import "./kernels/index.ts";
import "./model/forward.test.ts";
import "./parallel/sharded.test.ts";
// The VAE decode in f16 (its convs on the matrix units where the device has them) against its goldens.
import "./vae/index.ts";
// umT5's encoder on the matrix units (w16 / w8 through gemm_wx_matrix) and in f16, against the Float64 reference.
import "./text/encoder.test.ts";
import { registeredTests, type TestCase } from "../src/selftest/harness.ts";
import { runTests } from "../src/selftest/runner.ts";
import { useWebGpu, webGpuChoice, WEBGPU_ENV } from "../src/platform/webgpu_deno.ts";
import { Gpu } from "../src/gpu/device.ts";

const args = Deno.args;
const logPath = args.includes("--log") ? args[args.indexOf("--log") + 1] : "";
// --filter a|b: only the wanted tests whose name contains one of the |-separated substrings (e.g. attention_matrix)
const only = args.includes("--filter") ? args[args.indexOf("--filter") + 1].split("|").filter(Boolean) : [];
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

const wanted = (c: TestCase) => (c.needs ?? []).some((n) => n === "subgroupMatrix" || n === "f16") && (!c.hosts || c.hosts.includes("deno")) &&
  (only.length === 0 || only.some((s) => c.name.includes(s)));
const selected = registeredTests().filter(wanted);
log(`test:gpu: ${selected.length} tests need subgroupMatrix or f16`);
const summary = await runTests(selected, "deno", "", log, { name: `${d.implementation} on ${d.adapter}`, features: gpu.features });
log(`test:gpu: ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
const noMatrix = !gpu.features.subgroupMatrix;
if (noMatrix) log(`test:gpu: this device has no subgroup matrices: the matrix kernels were not tested`);
Deno.exit(summary.failed || noMatrix ? 1 : 0);
