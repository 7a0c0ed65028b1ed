// The umT5 tokenizer at the real vocabulary's size (issue 21 gap: the real 16.8 MB tokenizer.json was never
// loaded here, no network): test/fixtures/umt5-tokenizer/tokenizer.json (648 pieces, its Precompiled charsmap)
// with pieces appended up to umT5's 256,384, each made of supplementary private-use characters that no test
// string contains (so Python's ids stay the reference), then the parse and construct time and the fixture's
// 201 strings against Python's ids, byte_fallback off and on.
// usage: node bin/deno.cjs run -A tools/umt5/tokenizer_scale.ts   (log: bench/results/umt5_tokenizer_scale_*.log)
import { Umt5Tokenizer } from "../../src/text/tokenizer.ts";

const dir = new URL("../../test/fixtures/umt5-tokenizer/", import.meta.url);
const read = (f: string) => JSON.parse(Deno.readTextFileSync(new URL(f, dir)));
const json = read("tokenizer.json"), cases = read("cases.json"), cfg = read("tokenizer_config.json");
if (cases.strings.some((s: { text: string }) => /[\u{F0000}-\u{10FFFF}]/u.test(s.text))) throw new Error("a test string holds a supplementary private-use character: the appended pieces could match it");
export const UMT5_VOCAB = 256384;
const vocab = json.model.vocab as [string, number][];
for (let i = vocab.length; i < UMT5_VOCAB; i++) {
  let s = "\u2581", k = i;
  do {
    s += String.fromCodePoint(0xF0000 + (k % 60000));
    k = Math.floor(k / 60000);
  } while (k > 0);
  vocab.push([s + String.fromCodePoint(0xF0000 + (i % 7)), -10 - (i % 1000) / 100]);
}
const text = JSON.stringify(json);
console.log(`tokenizer.json with ${vocab.length} pieces: ${(text.length / 1e6).toFixed(1)} MB (the real one: 16.8 MB)`);
let bad = 0;
for (const bf of [false, true]) {
  const t0 = performance.now();
  const j = JSON.parse(text);
  j.model.byte_fallback = bf;
  const t1 = performance.now();
  const tok = new Umt5Tokenizer(j, cfg, "scaled tokenizer.json");
  const t2 = performance.now();
  let differ = 0;
  for (const s of cases.strings) if (tok.encodeTruncated(s.text, cases.max_length).ids.join() !== (bf ? s.on : s.off).join()) differ++;
  const t3 = performance.now();
  bad += differ + (tok.vocabSize === UMT5_VOCAB ? 0 : 1);
  console.log(`byte_fallback ${bf ? "on" : "off"}: JSON.parse ${(t1 - t0).toFixed(0)} ms, Umt5Tokenizer ${(t2 - t1).toFixed(0)} ms, ${cases.strings.length} strings ${(t3 - t2).toFixed(0)} ms, ${differ} differ from Python's ids, vocabSize ${tok.vocabSize}`);
}
console.log(`${Deno.build.os} ${navigator.hardwareConcurrency} cores, deno ${Deno.version.deno}`);
Deno.exit(bad ? 1 : 0);
