// umT5: tokenizer, prompt_clean (its kernels rel_attention and gated_gelu are in src/selftest/kernels/index.ts),
// the encoder against transformers' goldens, the loader and the encode command.
import "./tokenizer.test.ts";
import "./encoder.test.ts";
import "./pipeline.test.ts";
import "./cli.test.ts";
import "./cache.test.ts";
