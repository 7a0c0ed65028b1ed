// The embedded model's text encoder (tools/train/text.py, trained jointly with the DiT): a word-level
// vocabulary, a learned embedding table and learned positions. It stands where umT5 stands for the real
// Wan2.1: a prompt becomes encoder_hidden_states [Lt, text_dim], row i = token_embedding[word i] +
// position_embedding[i] for the prompt's words and zero rows after them (as WanPipeline pads umT5's output
// with zeros). The empty prompt (every row zero) is the unconditional branch of classifier-free guidance.
// Real Wan checkpoints keep taking umT5 embeddings from a file (--text).
import type { Checkpoint } from "../io/safetensors.ts";

export interface WordEncoder {
  vocab: readonly string[];
  /** [vocab, text_dim] row-major. */
  tokenEmbedding: Float32Array;
  /** [maxWords, text_dim] row-major. */
  positionEmbedding: Float32Array;
  textDim: number;
  /** Lt: every prompt encodes to this many rows. */
  maxWords: number;
}

/** Builds the encoder from vocab.json (a JSON list of words) and model.safetensors; `source` names the folder in errors. */
export async function loadWordEncoder(vocabJson: unknown, weights: Checkpoint, source: string): Promise<WordEncoder> {
  if (!Array.isArray(vocabJson) || vocabJson.length === 0 || vocabJson.some((w) => typeof w !== "string" || !/^[a-z]+$/.test(w))) {
    throw new Error(`${source}/vocab.json: expected a non-empty JSON list of lower-case words`);
  }
  const vocab = vocabJson as string[];
  for (const name of ["token_embedding", "position_embedding"]) {
    if (!weights.has(name)) throw new Error(`${source}/model.safetensors: tensor "${name}" is missing`);
  }
  const tok = weights.info("token_embedding"), pos = weights.info("position_embedding");
  if (tok.shape.length !== 2 || tok.shape[0] !== vocab.length) {
    throw new Error(`${source}/model.safetensors: token_embedding must be [${vocab.length} (vocab), text_dim], found [${tok.shape.join(", ")}]`);
  }
  const textDim = tok.shape[1];
  if (pos.shape.length !== 2 || pos.shape[1] !== textDim) {
    throw new Error(`${source}/model.safetensors: position_embedding must be [max_words, ${textDim}], found [${pos.shape.join(", ")}]`);
  }
  return { vocab, tokenEmbedding: await weights.readF32("token_embedding"), positionEmbedding: await weights.readF32("position_embedding"), textDim, maxWords: pos.shape[0] };
}

/**
 * The words of a prompt: lower case, split on white space, sentence punctuation ignored ("A red circle,
 * moving up." is the same prompt as "a red circle moving up"; the vocabulary has no punctuation).
 */
export function promptWords(prompt: string): string[] {
  return prompt.toLowerCase().replace(/[.,;:!?"'`()\[\]]/g, " ").split(/\s+/).filter((w) => w.length > 0);
}

/** At most `max` characters of user text for an error message (a long prompt must not echo itself whole). */
export function quoteShort(text: string, max = 60): string {
  return text.length <= max ? `"${text}"` : `"${text.slice(0, max)}..." (${text.length} characters)`;
}

/** prompt -> [maxWords, textDim]; "" gives all zeros (the unconditional branch). Unknown words are an error listing the vocabulary. */
export function encodePrompt(enc: WordEncoder, prompt: string): Float32Array {
  const words = promptWords(prompt);
  const unknown = words.filter((w) => !enc.vocab.includes(w));
  if (unknown.length) {
    const shown = unknown.slice(0, 5).map((w) => quoteShort(w, 20)).join(", ") + (unknown.length > 5 ? ` and ${unknown.length - 5} more` : "");
    throw new Error(`prompt ${quoteShort(prompt)}: unknown word${unknown.length > 1 ? "s" : ""} ${shown}; the embedded model knows only: ${enc.vocab.join(" ")}`);
  }
  if (words.length > enc.maxWords) throw new Error(`prompt ${quoteShort(prompt)} has ${words.length} words, the embedded model takes at most ${enc.maxWords}`);
  const d = enc.textDim;
  const out = new Float32Array(enc.maxWords * d);
  words.forEach((w, i) => {
    const t = enc.vocab.indexOf(w);
    for (let c = 0; c < d; c++) out[i * d + c] = enc.tokenEmbedding[t * d + c] + enc.positionEmbedding[i * d + c];
  });
  return out;
}
