// Every test file, imported statically so Deno and Vite (the browser suite) load the same list.
import "./kernels/index.ts";
import "./parallel/plan.test.ts";
import "./parallel/vae_plan.test.ts";
import "./parallel/barrier.test.ts";
import "./sampler/flow_match.test.ts";
import "./io/index.ts";
import "./model/forward.test.ts";
import "./model/finite.test.ts";
import "./parallel/sharded.test.ts";
import "./parallel/vae_sharded.test.ts";
import "./pipeline/generate.test.ts";
import "./pipeline/embedded.test.ts";
import "./cli/cli.test.ts";
import "./cli/decode.test.ts";
import "./parallel/gpus.test.ts";
import "./platform/dawn_polling.test.ts";
import "./vae/index.ts";
