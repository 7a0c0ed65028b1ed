// A strict JSON parser for safetensors headers, with serde_json's rules (what the Rust `safetensors` crate
// reads headers with), because JSON.parse loses what those rules look at:
//   - numbers keep their text: `1.0`, `1e2` and `-0` are floats to serde_json (never a usize), and integers
//     past 2^53 must be compared exactly (u64 arithmetic), so each number is a JNum with its lexeme;
//   - objects keep every entry in order, duplicates included (serde rejects a duplicated struct field such
//     as a second `__metadata__` or `dtype`; a duplicated tensor name is last-wins, as a HashMap);
//   - a byte-order mark is not whitespace; nesting stops at serde_json's recursion limit (128);
//   - a float that overflows to infinity and a lone UTF-16 surrogate escape are errors, as in serde_json.
// Errors are one short line with the byte position, never the header's text.

export class JNum {
  constructor(readonly text: string) {}
  /** The value as a u64 (serde's usize on 64-bit), or null when serde_json would not give an integer. */
  u64(): bigint | null {
    if (!/^(0|[1-9][0-9]*)$/.test(this.text)) return null; // a sign, fraction or exponent: not a usize
    const v = BigInt(this.text);
    return v <= 0xffff_ffff_ffff_ffffn ? v : null; // larger: serde_json parses it as f64
  }
}
export class JObj {
  constructor(readonly entries: [string, JValue][]) {}
}
export type JValue = null | boolean | string | JNum | JObj | JValue[];

/** serde_json's default recursion limit: the 128th nested array or object is an error. */
export const JSON_MAX_DEPTH = 128;

export class HeaderJsonError extends Error {}

/** Parses `text` (already valid UTF-8, a BOM kept) as one JSON value with nothing but whitespace around it. */
export function parseStrictJson(text: string): JValue {
  let i = 0, depth = 0;
  const fail = (what: string): never => {
    throw new HeaderJsonError(`${what} at character ${i}`);
  };
  const ws = () => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else return;
    }
  };
  const hex4 = (): number => {
    const h = text.slice(i, i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) fail("invalid \\u escape");
    i += 4;
    return parseInt(h, 16);
  };
  const str = (): string => {
    i++; // opening quote
    let out = "";
    let run = i;
    for (;;) {
      if (i >= text.length) fail("unterminated string");
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(run, i);
        i++;
        return out;
      }
      if (c < 0x20) fail("control character in a string");
      if (c !== 0x5c) {
        i++;
        continue;
      }
      out += text.slice(run, i);
      const e = text[i + 1];
      i += 2;
      const simple: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
      if (e !== undefined && Object.hasOwn(simple, e)) out += simple[e];
      else if (e === "u") {
        const u = hex4();
        if (u >= 0xdc00 && u <= 0xdfff) fail("lone trailing surrogate in a \\u escape");
        if (u >= 0xd800 && u <= 0xdbff) {
          if (text.slice(i, i + 2) !== "\\u") fail("lone leading surrogate in a \\u escape");
          i += 2;
          const lo = hex4();
          if (lo < 0xdc00 || lo > 0xdfff) fail("lone leading surrogate in a \\u escape");
          out += String.fromCharCode(u, lo);
        } else out += String.fromCharCode(u);
      } else fail("invalid escape");
      run = i;
    }
  };
  const NUMBER = /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;
  const num = (): JNum => {
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(text);
    if (!m) fail("invalid number");
    const t = m![0];
    // A digit right after a leading 0 ("01"), a bare "1." or "1e": invalid JSON; the regex stopped before it.
    if (/[0-9.eE+-]/.test(text[i + t.length] ?? "")) fail("invalid number");
    if (!Number.isFinite(Number(t))) fail("number out of range");
    i += t.length;
    return new JNum(t);
  };
  const value = (): JValue => {
    ws();
    const c = text[i];
    if (c === "{" || c === "[") {
      if (++depth >= JSON_MAX_DEPTH) fail(`nesting deeper than ${JSON_MAX_DEPTH - 1} levels`);
      i++;
      ws();
      const close = c === "{" ? "}" : "]";
      const entries: [string, JValue][] = [], items: JValue[] = [];
      if (text[i] === close) i++;
      else {
        for (;;) {
          if (c === "{") {
            ws();
            if (text[i] !== '"') fail("expected a string key");
            const k = str();
            ws();
            if (text[i] !== ":") fail("expected ':'");
            i++;
            entries.push([k, value()]);
          } else items.push(value());
          ws();
          if (text[i] === ",") { i++; continue; }
          if (text[i] === close) { i++; break; }
          fail(`expected ',' or '${close}'`);
        }
      }
      depth--;
      return c === "{" ? new JObj(entries) : items;
    }
    if (c === '"') return str();
    if (c === "-" || (c >= "0" && c <= "9")) return num();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    if (i >= text.length) fail("unexpected end of JSON");
    const cp = text.codePointAt(i)!;
    return fail(`unexpected character U+${cp.toString(16).toUpperCase().padStart(4, "0")}`);
  };
  const v = value();
  ws();
  if (i < text.length) fail("trailing characters after the JSON value");
  return v;
}

/** A short description of a value for messages: its kind, a number's text, a string's first characters. */
export function describeJson(v: JValue): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "..." : v);
  if (v instanceof JNum) return v.text.length > 30 ? v.text.slice(0, 30) + "..." : v.text;
  if (v instanceof JObj) return `an object of ${v.entries.length} entries`;
  return `an array of ${v.length}`;
}
