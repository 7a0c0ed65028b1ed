// The umT5 tokenizer: tokenizer.json (Unigram, Precompiled normalizer, Metaspace, "$A </s>") read by
// @huggingface/tokenizers (tokenizers.js: pure TypeScript, no dependencies, the tokenizer of transformers.js,
// kept by Hugging Face), plus what WanPipeline's call to T5TokenizerFast adds around it: truncation to
// max_length with </s> kept, padding with <pad> to max_length, the attention mask.
//
// Two fixes on top of the library (each found by the Python comparison, each with a test): its Precompiled
// normalizer approximates the charsmap with NFKC and regexes (precompiled.ts runs the charsmap itself), and
// its Unigram model ignores byte_fallback (tokenizers.js issue #26): an
// unknown piece becomes <unk> where Python's `tokenizers` spells it as its UTF-8 bytes <0xXX> (when every byte
// token exists). `withByteFallback` adds that; test/text/tokenizer.test.ts checks the ids against Python's
// `tokenizers` on test/fixtures/umt5-tokenizer/cases.json with byte_fallback off and on.
import { Tokenizer } from "@huggingface/tokenizers";
import { PrecompiledCharsmap } from "./precompiled.ts";

/** WanPipeline's max_sequence_length (its __call__ default). */
export const MAX_SEQUENCE_LENGTH = 512;

export interface PromptTokens {
  /** [maxLength]: the ids, then <pad> (0) */
  inputIds: Int32Array;
  /** [maxLength]: 1 for the first seqLen positions, 0 after */
  attentionMask: Int32Array;
  /** Tokens kept, </s> included (>= 1). */
  seqLen: number;
  /** Tokens the whole prompt has (</s> included): > seqLen when it was truncated. */
  fullLength: number;
}

// The library's model objects: only what the byte fallback touches.
interface LibModel {
  tokens_to_ids: Map<string, number>;
  _call(tokens: string[]): string[];
}

interface LibNormalizer {
  charsmap?: string | null;
  normalizers?: LibNormalizer[];
  normalize(text: string): string;
}

/** Every Precompiled normalizer in the (Sequence of) normalizers runs its charsmap exactly. */
function exactPrecompiled(n: LibNormalizer | null, source: string): void {
  if (!n) return;
  for (const inner of n.normalizers ?? []) exactPrecompiled(inner, source);
  if (typeof n.charsmap === "string" && n.charsmap.length > 0) {
    const map = new PrecompiledCharsmap(n.charsmap, source);
    n.normalize = (text: string) => map.normalize(text);
  }
}

/** Rust tokenizers' Unigram byte fallback: an unknown piece -> its UTF-8 bytes as <0xXX> tokens, if all exist. */
function withByteFallback(model: LibModel): void {
  const call = model._call.bind(model);
  const enc = new TextEncoder();
  model._call = (tokens: string[]) =>
    call(tokens).flatMap((t) => {
      if (model.tokens_to_ids.has(t)) return [t];
      const bytes = Array.from(enc.encode(t), (b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
      return bytes.every((b) => model.tokens_to_ids.has(b)) ? bytes : [t];
    });
}

interface TemplatePiece {
  Sequence?: { id: string };
  SpecialToken?: { id: string };
}

export class Umt5Tokenizer {
  private readonly tok: Tokenizer;
  /** Special ids the post-processor puts before / after the sequence ("$A </s>": none / [1]). */
  private readonly prefix: number[];
  private readonly suffix: number[];
  /** One more than the largest id the tokenizer can produce. */
  readonly vocabSize: number;
  readonly padId: number;

  constructor(json: unknown, config: unknown, readonly source: string) {
    const j = json as Record<string, any>;
    if (!j || typeof j !== "object" || !j.model || typeof j.model !== "object") throw new Error(`${source}: not a tokenizer.json (no "model" object)`);
    try {
      this.tok = new Tokenizer(j, (config ?? {}) as Record<string, unknown>);
    } catch (e) {
      throw new Error(`${source}: tokenizers.js cannot read it: ${(e as Error).message}`);
    }
    const lib = this.tok as unknown as { model: LibModel; normalizer: LibNormalizer | null };
    exactPrecompiled(lib.normalizer, source);
    const model = lib.model;
    if (j.model.type === "Unigram" && j.model.byte_fallback === true) withByteFallback(model);
    // Truncation keeps the post-processor's special tokens (HF truncates the sequence, then adds them).
    const pp = j.post_processor;
    this.prefix = [];
    this.suffix = [];
    if (pp) {
      if (pp.type !== "TemplateProcessing") throw new Error(`${source}: post_processor ${pp.type} is not supported (umT5's is TemplateProcessing "$A </s>")`);
      const single = pp.single as TemplatePiece[];
      const at = single.findIndex((p) => p.Sequence);
      single.forEach((p, i) => {
        if (!p.SpecialToken) return;
        const ids = pp.special_tokens?.[p.SpecialToken.id]?.ids as number[] | undefined;
        if (!ids) throw new Error(`${source}: post_processor names special token ${p.SpecialToken.id} without ids`);
        (i < at ? this.prefix : this.suffix).push(...ids);
      });
    }
    let maxId = -1;
    const vocab = this.tok.get_vocab(true) as Map<string, number>;
    for (const id of vocab.values()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    this.padId = vocab.get("<pad>") ?? 0;
  }

  /** The ids of `text` with the special tokens, not truncated (Python's Tokenizer.encode(text).ids). */
  encode(text: string): number[] {
    const body = this.tok.encode(text, { add_special_tokens: false }).ids;
    return [...this.prefix, ...body, ...this.suffix];
  }

  /** The ids truncated to maxLength with the special tokens kept (Python's with enable_truncation(maxLength)). */
  encodeTruncated(text: string, maxLength: number): { ids: number[]; fullLength: number } {
    const body = this.tok.encode(text, { add_special_tokens: false }).ids;
    const room = maxLength - this.prefix.length - this.suffix.length;
    if (room < 0) throw new Error(`${this.source}: max length ${maxLength} is shorter than the ${this.prefix.length + this.suffix.length} special tokens`);
    return { ids: [...this.prefix, ...body.slice(0, room), ...this.suffix], fullLength: body.length + this.prefix.length + this.suffix.length };
  }

  /** WanPipeline's tokenizer call: padding="max_length", truncation, add_special_tokens, the attention mask. */
  tokenize(text: string, maxLength = MAX_SEQUENCE_LENGTH): PromptTokens {
    const { ids, fullLength } = this.encodeTruncated(text, maxLength);
    const inputIds = new Int32Array(maxLength).fill(this.padId);
    const attentionMask = new Int32Array(maxLength);
    inputIds.set(ids);
    attentionMask.fill(1, 0, ids.length);
    return { inputIds, attentionMask, seqLen: ids.length, fullLength };
  }
}
