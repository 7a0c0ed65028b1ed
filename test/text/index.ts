// umT5: tokenizer, prompt_clean, its kernels (also for `shardit selftest` once listed in src/selftest/kernels/index.ts),
// the encoder against transformers' goldens, the loader and the encode command.
import "./tokenizer.test.ts";
import "../../src/selftest/kernels/rel_attention.test.ts";
import "../../src/selftest/kernels/gated_gelu.test.ts";
import "./encoder.test.ts";
import "./pipeline.test.ts";
import "./cli.test.ts";
