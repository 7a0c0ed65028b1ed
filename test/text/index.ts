// umT5: tokenizer, prompt_clean, encoder, loader, encode command.
import "./tokenizer.test.ts";
