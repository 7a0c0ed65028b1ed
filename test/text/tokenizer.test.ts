// The umT5 tokenizer and prompt_clean against Python: test/fixtures/umt5-tokenizer/cases.json holds the ids of
// Python's `tokenizers` (0.23) reading the same tokenizer.json with byte_fallback off and on, truncated to 512,
// and diffusers' prompt_clean (minus ftfy) of tricky inputs (tools/umt5/make_fixtures.py made them).
import { MAX_SEQUENCE_LENGTH, Umt5Tokenizer } from "../../src/text/tokenizer.ts";
import { htmlUnescape, promptClean } from "../../src/text/prompt_clean.ts";
import { PrecompiledCharsmap } from "../../src/text/precompiled.ts";
import { assert } from "../io/util.ts";
import { test } from "../../src/selftest/harness.ts";
import { umt5FixtureJson } from "./util.ts";

interface Cases {
  max_length: number;
  vocab_size: number;
  strings: { text: string; off: number[]; on: number[] }[];
  clean: { raw: string; clean: string }[];
}

const cases = () => umt5FixtureJson<Cases>("umt5-tokenizer", "cases.json");
async function tokenizer(byteFallback: boolean): Promise<Umt5Tokenizer> {
  const json = await umt5FixtureJson<Record<string, any>>("umt5-tokenizer", "tokenizer.json");
  json.model.byte_fallback = byteFallback;
  return new Umt5Tokenizer(json, await umt5FixtureJson("umt5-tokenizer", "tokenizer_config.json"), `tokenizer.json (byte_fallback ${byteFallback})`);
}

const show = (s: string) => JSON.stringify(s.length > 60 ? s.slice(0, 60) + "..." : s);

for (const byteFallback of [false, true]) {
  test(`tokenizer: ids == Python tokenizers on ${"the fixture's strings"}, byte_fallback ${byteFallback ? "on" : "off"}`, async () => {
    const c = await cases();
    const tok = await tokenizer(byteFallback);
    assert(c.strings.length >= 200, `only ${c.strings.length} strings`);
    const bad: string[] = [];
    for (const s of c.strings) {
      const want = byteFallback ? s.on : s.off;
      const got = tok.encodeTruncated(s.text, c.max_length).ids;
      if (got.join() !== want.join()) bad.push(`${show(s.text)}: got [${got.slice(0, 12)}${got.length > 12 ? ",..." : ""}] (${got.length}), Python [${want.slice(0, 12)}${want.length > 12 ? ",..." : ""}] (${want.length})`);
    }
    assert(bad.length === 0, `${bad.length} of ${c.strings.length} strings differ from Python:\n  ${bad.slice(0, 8).join("\n  ")}`);
  }, { tags: ["slow"] });
}

test("tokenizer: byte_fallback spells an unknown character as its UTF-8 bytes (tokenizers.js issue #26 regression)", async () => {
  const on = await tokenizer(true), off = await tokenizer(false);
  // "€" is not in the fixture's vocabulary: <unk> (3) without the fallback, <0xE2> <0x82> <0xAC> with it
  const vocab = (await umt5FixtureJson<Record<string, any>>("umt5-tokenizer", "tokenizer.json")).model.vocab as [string, number][];
  const id = (t: string) => vocab.findIndex(([p]) => p === t);
  assert(id("€") < 0 && id("▁€") < 0 && id("<0xE2>") > 0, "fixture: € must be unknown and the byte tokens present");
  const offIds = off.encode("€"), onIds = on.encode("€");
  assert(offIds.includes(3), `off: [${offIds}] should hold <unk> 3`);
  const bytes = [id("<0xE2>"), id("<0x82>"), id("<0xAC>")].join();
  assert(onIds.join().includes(bytes) && !onIds.includes(3), `on: [${onIds}] should hold the bytes ${bytes} and no <unk>`);
});

test("tokenizer: tokenize pads to 512 with <pad> and masks; a long prompt keeps 511 tokens and </s>; the empty prompt is [</s>]", async () => {
  const c = await cases();
  const tok = await tokenizer(false);
  assert(c.max_length === MAX_SEQUENCE_LENGTH, `fixture max_length ${c.max_length}`);
  const long = c.strings.find((s) => s.off.length === 512)!;
  const t = tok.tokenize(long.text);
  assert(t.seqLen === 512 && t.fullLength > 512 && t.inputIds[511] === 1 && t.attentionMask.every((m) => m === 1), `long: seqLen ${t.seqLen}, full ${t.fullLength}, last ${t.inputIds[511]}`);
  assert(Array.from(t.inputIds).join() === long.off.join(), "long prompt ids != Python's");
  const e = tok.tokenize("");
  assert(e.seqLen === 1 && e.inputIds[0] === 1 && e.inputIds.slice(1).every((v) => v === 0) && e.attentionMask[0] === 1 && e.attentionMask.slice(1).every((v) => v === 0), `empty: seqLen ${e.seqLen}, ids ${e.inputIds.slice(0, 4)}`);
  const s = c.strings[3];
  const p = tok.tokenize(s.text);
  assert(p.seqLen === s.off.length && Array.from(p.inputIds.slice(0, p.seqLen)).join() === s.off.join() && p.inputIds[p.seqLen] === 0, `short: ${show(s.text)}`);
  assert(tok.vocabSize === c.vocab_size, `vocabSize ${tok.vocabSize}, Python ${c.vocab_size}`);
});

test("prompt_clean: == diffusers' prompt_clean without ftfy (Python's html.unescape twice, whitespace runs)", async () => {
  const c = await cases();
  const bad = c.clean.filter((k) => promptClean(k.raw) !== k.clean).map((k) => `${show(k.raw)}: got ${show(promptClean(k.raw))}, Python ${show(k.clean)}`);
  assert(bad.length === 0, `${bad.length} of ${c.clean.length} differ:\n  ${bad.join("\n  ")}`);
  assert(htmlUnescape("&notit; &amp") === "¬it; &", "longest-prefix legacy names");
});

test("tokenizer: the Precompiled charsmap runs exactly (regression: tokenizers.js turns U+200D into a space, the charsmap keeps it)", async () => {
  const json = await umt5FixtureJson<Record<string, any>>("umt5-tokenizer", "tokenizer.json");
  const map = new PrecompiledCharsmap(json.normalizer.normalizers[0].precompiled_charsmap, "fixture");
  // expected: Python tokenizers' Precompiled(charsmap).normalize_str on the same strings
  const cases: [string, string][] = [["ＡＢＣ\u200d１", "ABC\u200d1"], ["a\u200bb", "a b"], ["e\u0301", "é"], ["ﬁ ½", "fi 1⁄2"]];
  for (const [s, want] of cases) assert(map.normalize(s) === want, `${JSON.stringify(s)} -> ${JSON.stringify(map.normalize(s))}, Python ${JSON.stringify(want)}`);
});
