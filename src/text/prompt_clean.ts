// diffusers' WanPipeline prompt_clean, without ftfy: html.unescape twice, strip, every whitespace run to one
// space, strip. Python's html.unescape and str.isspace are reproduced exactly (their tables are generated from
// Python's html module into html_entities.gen.ts); test/text/tokenizer.test.ts checks the result against
// Python's on test/fixtures/umt5-tokenizer/cases.json.
//
// What leaving ftfy out changes (diffusers calls ftfy.fix_text only where ftfy is installed; it is not one of
// diffusers' dependencies): mojibake is not repaired ("cafÃ©" stays as it is), curly quotes are not uncurled
// (“ ” ‘ ’ stay; umT5's NFKC normalizer keeps them, so their ids differ from an ftfy run), terminal escapes
// and C1 controls are not removed before tokenizing (umT5's normalizer drops most controls anyway), and
// ligatures / full-width forms are left to the normalizer's NFKC (which maps them the same way).
import { HTML5_ENTITIES, INVALID_CHARREFS, INVALID_CODEPOINTS } from "./html_entities.gen.ts";

const INVALID = new Set(INVALID_CODEPOINTS);
// html._charref: '&' then a decimal or hex reference, or a name of 1 to 32 code points; ';' optional.
const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function replaceCharref(s: string): string {
  if (s[0] === "#") {
    const hex = s[1] === "x" || s[1] === "X";
    const digits = s.slice(hex ? 2 : 1).replace(/;$/, "");
    const num = parseInt(digits, hex ? 16 : 10);
    if (Object.hasOwn(INVALID_CHARREFS, num)) return INVALID_CHARREFS[num];
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return "\ufffd";
    if (INVALID.has(num)) return "";
    return String.fromCodePoint(num);
  }
  if (Object.hasOwn(HTML5_ENTITIES, s)) return HTML5_ENTITIES[s];
  // The longest prefix that is a name (the legacy names without ';', "&notit;" -> "¬it;").
  const cps = Array.from(s);
  for (let x = cps.length - 1; x > 1; x--) {
    const head = cps.slice(0, x).join("");
    if (Object.hasOwn(HTML5_ENTITIES, head)) return HTML5_ENTITIES[head] + cps.slice(x).join("");
  }
  return "&" + s;
}

/** Python's html.unescape. */
export function htmlUnescape(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(CHARREF, (_m, ref: string) => replaceCharref(ref));
}

// Python's str.isspace() set (what re's \s and str.strip() use on str): JavaScript's \s lacks \x1c-\x1f and
// \x85 and has \ufeff, which Python's has not.
const PY_SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, "g");
const STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, "g");

/** Python's str.strip() with no argument. */
export function pyStrip(s: string): string {
  return s.replace(STRIP, "");
}

/** diffusers' prompt_clean (pipelines/wan/pipeline_wan.py) without ftfy. */
export function promptClean(text: string): string {
  const basic = pyStrip(htmlUnescape(htmlUnescape(text)));
  return pyStrip(basic.replace(SPACE_RUN, " "));
}
