// An independent transcription of what Rust's safetensors 0.8 accepts (huggingface/safetensors,
// safetensors/src/tensor.rs: SafeTensors::read_metadata, HashMetadata, TensorInfo, Metadata::validate,
// Dtype::bitsize), read through serde_json's rules. Written apart from src/io/safetensors.ts on purpose:
// it works on bytes, builds serde's `Content` values (U64 / I64 / F64 numbers as serde_json classifies
// them) and deserializes the derived structs from them, so the fuzz test can compare the two readers.
// It answers accept/reject and, for an accepted file, each tensor's dtype and shape; it never reads data.
//
// Known leniencies of serde this transcription leaves out (shardit refuses them too; no writer makes them):
// a TensorInfo given as a JSON array ([dtype, shape, offsets]), a dtype given as {"F32": null}.

type Content =
  | { k: "u64"; v: bigint }
  | { k: "i64"; v: bigint }
  | { k: "f64"; v: number }
  | { k: "str"; v: string }
  | { k: "bool"; v: boolean }
  | { k: "unit" }
  | { k: "seq"; v: Content[] }
  | { k: "map"; v: [string, Content][] };

export type RustVerdict = { ok: true; tensors: Map<string, { dtype: string; shape: bigint[] }> } | { ok: false; error: string };

const MAX_HEADER_SIZE = 100_000_000n;
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const BITS: Record<string, bigint> = {
  BOOL: 8n, F4: 4n, F6_E2M3: 6n, F6_E3M2: 6n, U8: 8n, I8: 8n, F8_E5M2: 8n, F8_E4M3: 8n, F8_E8M0: 8n, F8_E4M3FNUZ: 8n,
  F8_E5M2FNUZ: 8n, I16: 16n, U16: 16n, F16: 16n, BF16: 16n, I32: 32n, U32: 32n, F32: 32n, C64: 64n, F64: 64n, I64: 64n, U64: 64n,
};

class Reject extends Error {}
const reject = (why: string): never => {
  throw new Reject(why);
};

/** serde_json::from_str into Content: recursion limit 128, serde_json's number classes, strict strings. */
function serdeJson(s: string): Content {
  let p = 0, remaining = 128;
  const peek = () => (p < s.length ? s[p] : "");
  const skipWs = () => {
    while (p < s.length && " \t\n\r".includes(s[p])) p++;
  };
  const expect = (c: string) => {
    if (s[p] !== c) reject(`expected ${c}`);
    p++;
  };
  function parseString(): string {
    expect('"');
    const units: number[] = [];
    while (true) {
      if (p >= s.length) reject("EOF while parsing a string");
      const c = s.charCodeAt(p++);
      if (c === 34) break;
      if (c < 32) reject("control character while parsing a string");
      if (c !== 92) {
        units.push(c);
        continue;
      }
      const e = s[p++];
      const map: { [k: string]: number } = { '"': 34, "\\": 92, "/": 47, b: 8, f: 12, n: 10, r: 13, t: 9 };
      if (e in map && e.length === 1 && Object.prototype.hasOwnProperty.call(map, e)) {
        units.push(map[e]);
        continue;
      }
      if (e !== "u") reject("invalid escape");
      const hex = () => {
        const h = s.slice(p, p + 4);
        if (h.length < 4 || /[^0-9a-fA-F]/.test(h)) reject("invalid unicode escape");
        p += 4;
        return Number("0x" + h);
      };
      const u1 = hex();
      if (u1 >= 0xdc00 && u1 < 0xe000) reject("lone trailing surrogate");
      if (u1 >= 0xd800 && u1 < 0xdc00) {
        if (s[p] !== "\\" || s[p + 1] !== "u") reject("lone leading surrogate");
        p += 2;
        const u2 = hex();
        if (!(u2 >= 0xdc00 && u2 < 0xe000)) reject("lone leading surrogate");
        units.push(u1, u2);
      } else units.push(u1);
    }
    let out = "";
    for (let i = 0; i < units.length; i += 4096) out += String.fromCharCode(...units.slice(i, i + 4096));
    return out;
  }
  function parseNumber(): Content {
    const start = p;
    const neg = s[p] === "-";
    if (neg) p++;
    const digits = () => {
      const b = p;
      while (p < s.length && s[p] >= "0" && s[p] <= "9") p++;
      return p - b;
    };
    if (s[p] === "0") {
      p++;
      if (s[p] >= "0" && s[p] <= "9") reject("invalid number (leading zero)");
    } else if (digits() === 0) reject("invalid number");
    let float = false;
    if (s[p] === ".") {
      p++;
      float = true;
      if (digits() === 0) reject("invalid number");
    }
    if (s[p] === "e" || s[p] === "E") {
      p++;
      float = true;
      if (s[p] === "+" || s[p] === "-") p++;
      if (digits() === 0) reject("invalid number");
    }
    const text = s.slice(start, p);
    if (!float) {
      const v = BigInt(text);
      if (!neg && v <= U64_MAX) return { k: "u64", v };
      if (neg && v !== 0n && v >= I64_MIN) return { k: "i64", v };
      // "-0" and integers out of the 64-bit ranges become f64 in serde_json.
    }
    const f = parseFloat(text);
    if (!isFinite(f)) reject("number out of range");
    return { k: "f64", v: f };
  }
  function parseValue(): Content {
    skipWs();
    const c = peek();
    if (c === "{" || c === "[") {
      remaining--;
      if (remaining === 0) reject("recursion limit exceeded");
      p++;
      skipWs();
      let out: Content;
      if (c === "[") {
        const items: Content[] = [];
        if (peek() === "]") p++;
        else {
          for (;;) {
            items.push(parseValue());
            skipWs();
            if (peek() === ",") { p++; continue; }
            expect("]");
            break;
          }
        }
        out = { k: "seq", v: items };
      } else {
        const entries: [string, Content][] = [];
        if (peek() === "}") p++;
        else {
          for (;;) {
            skipWs();
            const key = parseString();
            skipWs();
            expect(":");
            entries.push([key, parseValue()]);
            skipWs();
            if (peek() === ",") { p++; continue; }
            expect("}");
            break;
          }
        }
        out = { k: "map", v: entries };
      }
      remaining++;
      return out;
    }
    if (c === '"') return { k: "str", v: parseString() };
    if (c === "-" || (c >= "0" && c <= "9")) return parseNumber();
    if (s.startsWith("true", p)) { p += 4; return { k: "bool", v: true }; }
    if (s.startsWith("false", p)) { p += 5; return { k: "bool", v: false }; }
    if (s.startsWith("null", p)) { p += 4; return { k: "unit" }; }
    return reject("expected value");
  }
  const v = parseValue();
  skipWs();
  if (p !== s.length) reject("trailing characters");
  return v;
}

/** usize from Content (u64 only; serde rejects i64 < 0 and any f64). */
function usize(c: Content): bigint {
  if (c.k === "u64") return c.v;
  return reject("invalid type: expected usize");
}

/** #[derive(Deserialize)] struct TensorInfo { dtype: Dtype, shape: Vec<usize>, data_offsets: (usize, usize) } */
function tensorInfo(c: Content): { dtype: string; shape: bigint[]; offsets: [bigint, bigint] } {
  if (c.k !== "map") return reject("invalid type: expected struct TensorInfo");
  let dtype: string | undefined, shape: bigint[] | undefined, offsets: [bigint, bigint] | undefined;
  for (const [key, v] of c.v) {
    if (key === "dtype") {
      if (dtype !== undefined) reject("duplicate field `dtype`");
      if (v.k !== "str" || !Object.prototype.hasOwnProperty.call(BITS, v.v)) reject("unknown variant");
      dtype = (v as { v: string }).v;
    } else if (key === "shape") {
      if (shape !== undefined) reject("duplicate field `shape`");
      if (v.k !== "seq") reject("invalid type: expected a sequence");
      shape = (v as { v: Content[] }).v.map(usize);
    } else if (key === "data_offsets") {
      if (offsets !== undefined) reject("duplicate field `data_offsets`");
      if (v.k !== "seq" || v.v.length !== 2) reject("invalid length: expected a tuple of size 2");
      const items = (v as { v: Content[] }).v;
      offsets = [usize(items[0]), usize(items[1])];
    } // other fields: ignored (no deny_unknown_fields)
  }
  if (dtype === undefined) reject("missing field `dtype`");
  if (shape === undefined) reject("missing field `shape`");
  if (offsets === undefined) reject("missing field `data_offsets`");
  return { dtype: dtype!, shape: shape!, offsets: offsets! };
}

/** SafeTensors::read_metadata(buffer): Ok with the tensors, or the reason it fails. */
export function rustReadMetadata(buffer: Uint8Array): RustVerdict {
  try {
    if (buffer.length < 8) reject("HeaderTooSmall");
    const n = new DataView(buffer.buffer, buffer.byteOffset, 8).getBigUint64(0, true);
    if (n > MAX_HEADER_SIZE) reject("HeaderTooLarge");
    const stop = 8n + n;
    if (stop > BigInt(buffer.length)) reject("InvalidHeaderLength");
    let text: string;
    try {
      // core::str::from_utf8 keeps a BOM as U+FEFF (the JSON parser then refuses it).
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(buffer.subarray(8, Number(stop)));
    } catch {
      return { ok: false, error: "InvalidHeader (UTF-8)" };
    }
    const root = serdeJson(text);
    // HashMetadata { #[serde(rename = "__metadata__")] metadata: Option<HashMap<String, String>>,
    //                #[serde(flatten)] tensors: HashMap<String, TensorInfo> }
    if (root.k !== "map") return reject("invalid type: expected a map");
    let seenMetadata = false;
    const tensors = new Map<string, { dtype: string; shape: bigint[]; offsets: [bigint, bigint] }>();
    for (const [key, v] of root.v) {
      if (key === "__metadata__") {
        if (seenMetadata) reject("duplicate field `__metadata__`");
        seenMetadata = true;
        if (v.k === "unit") continue;
        if (v.k !== "map") reject("invalid type: expected a map of strings");
        for (const [, mv] of (v as { v: [string, Content][] }).v) if (mv.k !== "str") reject("invalid type: expected a string");
        continue;
      }
      tensors.set(key, tensorInfo(v)); // HashMap::insert: a repeated name keeps the last
    }
    // Metadata::new -> validate, tensors sorted by data_offsets.
    const list = [...tensors.values()].sort((a, b) =>
      a.offsets[0] < b.offsets[0] ? -1 : a.offsets[0] > b.offsets[0] ? 1 : a.offsets[1] < b.offsets[1] ? -1 : a.offsets[1] > b.offsets[1] ? 1 : 0
    );
    let start = 0n;
    for (const info of list) {
      const [s, e] = info.offsets;
      if (s !== start || e < s) reject("InvalidOffset");
      start = e;
      let nelements = 1n;
      for (const d of info.shape) {
        nelements *= d;
        if (nelements > U64_MAX) reject("ValidationOverflow");
      }
      const nbits = nelements * BITS[info.dtype];
      if (nbits > U64_MAX) reject("ValidationOverflow");
      if (nbits % 8n !== 0n) reject("MisalignedSlice");
      if (e - s !== nbits / 8n) reject("TensorInvalidInfo");
    }
    if (start + 8n + n !== BigInt(buffer.length)) reject("MetadataIncompleteBuffer");
    const out = new Map<string, { dtype: string; shape: bigint[] }>();
    for (const [name, t] of tensors) out.set(name, { dtype: t.dtype, shape: t.shape });
    return { ok: true, tensors: out };
  } catch (e) {
    if (e instanceof Reject) return { ok: false, error: e.message };
    throw e;
  }
}
