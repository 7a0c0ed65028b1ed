// Safetensors reader and writer over an abstract byte source, for Deno files (src/io/fs_deno.ts),
// fetch responses (Range requests when the server allows them), browser File objects and memory.
// Format: u64 little-endian header length n, n bytes of UTF-8 JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}}, then the data
// section; offsets are relative to the data section. Nothing in a header is trusted before it is checked:
// every violation is an error naming the file and the tensor or field.
import { numel } from "../shape.ts";
import { describeJson, HeaderJsonError, JNum, JObj, type JValue, parseStrictJson } from "./header_json.ts";

/** Random access to the bytes of one file. `read` returns exactly `length` bytes or throws. */
export interface ByteSource {
  name: string;
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases an OS handle, where there is one (Deno files). */
  close?(): void;
}

export type StDType = "F32" | "F16" | "BF16";
export const DTYPE_BYTES: Record<StDType, number> = { F32: 4, F16: 2, BF16: 2 };
/**
 * Integer tensors are listed but never read (SafetensorsFile.integers): `shardit encode` writes input_ids and
 * attention_mask beside prompt_embeds, as diffusers' users have them, and --text still reads that file.
 */
const INTEGER_DTYPES: Record<string, number> = { I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1 };
/**
 * Bits per element of every dtype Rust's safetensors 0.8 knows (Dtype::bitsize): the reader checks a file's
 * tensors as that library does (the rules below are Metadata::validate and read_metadata), then keeps the
 * dtypes shardit reads.
 */
const RUST_DTYPE_BITS: Record<string, number> = {
  BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8, F8_E4M3FNUZ: 8, F8_E5M2FNUZ: 8,
  I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, C64: 64, F64: 64, I64: 64, U64: 64,
};
/** Where a message cites the rule it applies. */
const RUST_RULES = "the safetensors format's rule, as Rust's safetensors reader checks it";
const quote = (s: string) => JSON.stringify(s.length > 80 ? s.slice(0, 80) + "..." : s);
const fmtDims = (d: readonly bigint[]) => `[${d.slice(0, 8).join(", ")}${d.length > 8 ? `, ... (${d.length} dims)` : ""}]`;
/** Largest header accepted (the safetensors library's own limit). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: StDType;
  shape: number[];
  /** Absolute byte offsets in `source` (header included), end exclusive. */
  begin: number;
  end: number;
  source: ByteSource;
}

/** The last path component of a source name (URL query/fragment removed): how index files name shards. */
export function baseName(name: string): string {
  const clean = name.replace(/[?#].*$/, "");
  const parts = clean.split(/[\\/]/);
  return parts[parts.length - 1];
}

function checkRead(src: ByteSource, offset: number, length: number, got: Uint8Array): Uint8Array {
  if (got.length !== length) {
    throw new Error(`${src.name}: read of ${length} bytes at offset ${offset} returned ${got.length} (file truncated or changed while reading?)`);
  }
  return got;
}

function checkRange(src: { name: string; size: number }, offset: number, length: number): void {
  if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= src.size)) {
    throw new Error(`${src.name}: read of ${length} bytes at offset ${offset} is outside the file (${src.size} bytes)`);
  }
}

// ---------------------------------------------------------------------------------------------
// Byte sources

export function bytesSource(name: string, bytes: Uint8Array): ByteSource {
  const src: ByteSource = {
    name,
    size: bytes.length,
    read(offset, length) {
      try {
        checkRange(src, offset, length);
      } catch (e) {
        return Promise.reject(e);
      }
      return Promise.resolve(bytes.subarray(offset, offset + length));
    },
  };
  return src;
}

/** A browser File or Blob: each read is a slice, so a multi-GB file is never held whole. */
export function fileObjectSource(file: Blob & { name?: string }): ByteSource {
  const name = file.name ?? "blob";
  const src: ByteSource = {
    name,
    size: file.size,
    async read(offset, length) {
      checkRange(src, offset, length);
      return checkRead(src, offset, length, new Uint8Array(await file.slice(offset, offset + length).arrayBuffer()));
    },
  };
  return src;
}

function resolveUrl(url: string | URL): URL {
  if (url instanceof URL) return url;
  const base = typeof location !== "undefined" ? location.href : undefined;
  return new URL(url, base);
}

async function fetchAll(u: URL): Promise<ByteSource> {
  const res = await fetch(u);
  if (!res.ok) throw new Error(`${u}: HTTP ${res.status} ${res.statusText}`);
  return bytesSource(u.href, new Uint8Array(await res.arrayBuffer()));
}

/**
 * A file behind a URL. Over http(s), a HEAD request that reports `Accept-Ranges: bytes` and a length
 * (and no content encoding) gives a source that fetches each read with a Range request; otherwise, or
 * if the server later answers a Range request with the whole body, the body is downloaded once and
 * kept in memory. Other schemes (file:, blob:, data:) are read whole.
 */
export async function urlSource(url: string | URL): Promise<ByteSource> {
  const u = resolveUrl(url);
  if (u.protocol !== "http:" && u.protocol !== "https:") return await fetchAll(u);
  let head: Response | undefined;
  try {
    head = await fetch(u, { method: "HEAD" });
  } catch {
    head = undefined; // e.g. HEAD blocked: fall back to one GET
  }
  const size = Number(head?.headers.get("content-length") ?? NaN);
  const ranges = head?.ok && /\bbytes\b/i.test(head.headers.get("accept-ranges") ?? "") && !head.headers.get("content-encoding") &&
    Number.isSafeInteger(size) && size >= 0;
  if (!ranges) return await fetchAll(u);
  let whole: Uint8Array | undefined; // set if the server turns out to ignore Range
  const src: ByteSource = {
    name: u.href,
    size,
    async read(offset, length) {
      checkRange(src, offset, length);
      if (length === 0) return new Uint8Array(0);
      if (whole) return whole.subarray(offset, offset + length);
      const res = await fetch(u, { headers: { Range: `bytes=${offset}-${offset + length - 1}` } });
      if (res.status === 206) return checkRead(src, offset, length, new Uint8Array(await res.arrayBuffer()));
      if (res.status === 200) {
        const all = new Uint8Array(await res.arrayBuffer());
        if (all.length !== size) throw new Error(`${u}: body has ${all.length} bytes, HEAD said ${size}`);
        whole = all;
        return whole.subarray(offset, offset + length);
      }
      throw new Error(`${u}: HTTP ${res.status} ${res.statusText} for bytes ${offset}-${offset + length - 1}`);
    },
  };
  return src;
}

// ---------------------------------------------------------------------------------------------
// Header parsing and validation

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export class SafetensorsFile {
  private constructor(
    readonly source: ByteSource,
    readonly tensors: Map<string, TensorInfo>,
    readonly metadata: Record<string, string>,
    /** Bytes of header (8 + n): where the data section starts. */
    readonly dataStart: number,
    /** Integer tensors (I64, I32, U8, BOOL ...): their dtype and shape; not readable as weights. */
    readonly integers: Map<string, { dtype: string; shape: number[] }> = new Map(),
  ) {}

  static async open(src: ByteSource): Promise<SafetensorsFile> {
    const f = src.name;
    if (src.size < 8) throw new Error(`${f}: file is ${src.size} bytes, too short for a safetensors header (truncated?)`);
    const lenBytes = await src.read(0, 8);
    const dv = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
    const lo = dv.getUint32(0, true), hi = dv.getUint32(4, true);
    const n = hi * 2 ** 32 + lo;
    if (hi !== 0 || n > MAX_HEADER_BYTES) {
      throw new Error(`${f}: header length ${hi ? `${hi}*2^32+${lo}` : n} bytes is larger than the ${MAX_HEADER_BYTES}-byte limit (not a safetensors file?)`);
    }
    if (8 + n > src.size) throw new Error(`${f}: header length ${n} bytes runs past the end of the file (${src.size} bytes; truncated?)`);
    let text: string;
    try {
      // ignoreBOM keeps a byte-order mark in the text, where the JSON parser refuses it (as serde_json does).
      text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(await src.read(8, n));
    } catch {
      throw new Error(`${f}: header is not valid UTF-8`);
    }
    if (text.charCodeAt(0) === 0xfeff) throw new Error(`${f}: header starts with a byte-order mark (a safetensors header is bare JSON: ${RUST_RULES})`);
    let json: JValue;
    try {
      json = parseStrictJson(text);
    } catch (e) {
      if (!(e instanceof HeaderJsonError)) throw e;
      throw new Error(`${f}: header is not valid JSON: ${e.message}`);
    }
    if (!(json instanceof JObj)) throw new Error(`${f}: header JSON is ${describeJson(json)}, expected an object`);

    const dataStart = 8 + n, dataSize = src.size - dataStart;
    const metadata: Record<string, string> = {};
    // Every entry parsed as Rust's TensorInfo; a name given twice keeps its last entry (serde's HashMap).
    const entries = new Map<string, { dtype: string; shape: bigint[]; b: bigint; e: bigint }>();
    let metadataSeen = false;
    for (const [name, entry] of json.entries) {
      if (name === "__metadata__") {
        if (metadataSeen) throw new Error(`${f}: "__metadata__" appears twice in the header (${RUST_RULES})`);
        metadataSeen = true;
        if (entry === null) continue; // Option::None in Rust's reader
        if (!(entry instanceof JObj)) throw new Error(`${f}: __metadata__ is ${describeJson(entry)}, expected an object of strings`);
        for (const [k, v] of entry.entries) {
          if (typeof v !== "string") throw new Error(`${f}: __metadata__ field ${quote(k)} is ${describeJson(v)}, expected a string`);
          Object.defineProperty(metadata, k, { value: v, enumerable: true, writable: true, configurable: true });
        }
        continue;
      }
      const t = `${f}: tensor ${quote(name)}`;
      if (!(entry instanceof JObj)) throw new Error(`${t}: header entry is not an object ({dtype, shape, data_offsets}), found ${describeJson(entry)}`);
      const fields = new Map<string, JValue>();
      for (const [k, v] of entry.entries) {
        if (fields.has(k) && ["dtype", "shape", "data_offsets"].includes(k)) throw new Error(`${t}: field "${k}" appears twice (${RUST_RULES})`);
        fields.set(k, v);
      }
      for (const k of ["dtype", "shape", "data_offsets"]) if (!fields.has(k)) throw new Error(`${t}: field "${k}" is missing`);
      const dtype = fields.get("dtype")!, shape = fields.get("shape")!, offs = fields.get("data_offsets")!;
      if (typeof dtype !== "string") throw new Error(`${t}: field "dtype" is ${describeJson(dtype)}, expected a string`);
      // Own properties only: "constructor" or "__proto__" are not dtypes.
      if (!Object.hasOwn(RUST_DTYPE_BITS, dtype)) throw new Error(`${t}: unknown dtype ${quote(dtype)} (shardit reads F32, F16 and BF16)`);
      const dims = Array.isArray(shape) ? shape.map((d) => (d instanceof JNum ? d.u64() : null)) : null;
      if (!dims || !Array.isArray(shape)) throw new Error(`${t}: field "shape" is ${describeJson(shape)}, expected an array of non-negative integers`);
      const bad = dims.indexOf(null);
      if (bad >= 0) throw new Error(`${t}: shape[${bad}] is ${describeJson(shape[bad])}, expected a non-negative integer (no sign, fraction or exponent)`);
      const o = Array.isArray(offs) && offs.length === 2 ? offs.map((d) => (d instanceof JNum ? d.u64() : null)) : null;
      if (!o || o.includes(null)) {
        throw new Error(`${t}: field "data_offsets" must be [begin, end], two non-negative integers, found ${Array.isArray(offs) ? `[${offs.slice(0, 3).map(describeJson).join(", ")}${offs.length > 3 ? ", ..." : ""}]` : describeJson(offs)}`);
      }
      entries.set(name, { dtype, shape: dims as bigint[], b: o[0]!, e: o[1]! });
    }

    // Rust's Metadata::validate: sorted by offsets, each tensor begins where the previous ended (no gap, no
    // overlap), holds exactly its shape's bytes (products checked in u64), and the last ends at the file's end.
    const sorted = [...entries].sort(([, x], [, y]) => (x.b !== y.b ? (x.b < y.b ? -1 : 1) : x.e < y.e ? -1 : x.e > y.e ? 1 : 0));
    let at = 0n, prev = "";
    const U64_MAX = 0xffff_ffff_ffff_ffffn;
    for (const [name, x] of sorted) {
      const t = `${f}: tensor ${quote(name)}`;
      if (x.e < x.b) throw new Error(`${t}: data_offsets [${x.b}, ${x.e}] end before they begin`);
      if (x.b > at) throw new Error(`${t}: data_offsets [${x.b}, ${x.e}] leave a gap of ${x.b - at} bytes after the previous tensor, which ends at ${at} (${RUST_RULES})`);
      if (x.b < at) throw new Error(`${t}: data_offsets [${x.b}, ${x.e}] overlaps tensor ${quote(prev)}, which ends at ${at} (${RUST_RULES})`);
      let count = 1n;
      for (const d of x.shape) {
        count *= d;
        if (count > U64_MAX) throw new Error(`${t}: shape ${fmtDims(x.shape)} overflows 64 bits counting its elements (${RUST_RULES})`);
      }
      const bits = count * BigInt(RUST_DTYPE_BITS[x.dtype]);
      if (bits > U64_MAX) throw new Error(`${t}: ${x.dtype} ${fmtDims(x.shape)} overflows 64 bits counting its bytes (${RUST_RULES})`);
      if (x.e - x.b !== bits / 8n) {
        throw new Error(`${t}: data_offsets [${x.b}, ${x.e}] hold ${x.e - x.b} bytes, but ${x.dtype} ${fmtDims(x.shape)} needs ${bits / 8n}`);
      }
      if (x.e > BigInt(dataSize)) throw new Error(`${t}: data_offsets [${x.b}, ${x.e}] run past the data section (${dataSize} bytes; file truncated?)`);
      at = x.e;
      prev = name;
    }
    if (at < BigInt(dataSize)) {
      throw new Error(`${f}: ${BigInt(dataSize) - at} bytes after the last tensor: the tensors cover ${at} of the ${dataSize} data bytes (${RUST_RULES}: the data section must be covered exactly; a header length off by a few bytes shifts every tensor)`);
    }

    const tensors = new Map<string, TensorInfo>();
    const integers = new Map<string, { dtype: string; shape: number[] }>();
    for (const [name, x] of entries) {
      // Checked on the entry a repeated name keeps (the last, as in Rust's HashMap), not on the ones it replaced.
      if (!Object.hasOwn(DTYPE_BYTES, x.dtype) && !Object.hasOwn(INTEGER_DTYPES, x.dtype)) {
        throw new Error(`${f}: tensor ${quote(name)}: unsupported dtype ${quote(x.dtype)} (shardit reads F32, F16 and BF16)`);
      }
      // Only an empty tensor can have a dimension past 2^53 here (the product fits the file); shardit refuses it.
      if (x.shape.some((d) => d > BigInt(Number.MAX_SAFE_INTEGER))) throw new Error(`${f}: tensor ${quote(name)}: shape ${fmtDims(x.shape)} has a dimension past 2^53 (shardit's limit)`);
      const shape = x.shape.map(Number);
      if (Object.hasOwn(INTEGER_DTYPES, x.dtype)) integers.set(name, { dtype: x.dtype, shape });
      else tensors.set(name, { name, dtype: x.dtype as StDType, shape, begin: dataStart + Number(x.b), end: dataStart + Number(x.e), source: src });
    }
    return new SafetensorsFile(src, tensors, metadata, dataStart, integers);
  }
}

// ---------------------------------------------------------------------------------------------
// Element conversions (little-endian hosts: every WebGPU platform)

let f16Table: Float32Array | undefined;
/** f32 value of every f16 bit pattern (subnormals, ±0, ±inf and NaN exact): 256 KiB, built once. */
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16, exp = (h >>> 10) & 0x1f;
    let m = h & 0x3ff;
    if (exp === 0) {
      if (m === 0) bits[h] = sign;
      else { // subnormal: normalise into an f32 exponent
        let e = 113;
        while (!(m & 0x400)) { m <<= 1; e--; }
        bits[h] = sign | (e << 23) | ((m & 0x3ff) << 13);
      }
    } else if (exp === 31) bits[h] = sign | 0x7f800000 | (m << 13);
    else bits[h] = sign | ((exp + 112) << 23) | (m << 13);
  }
  return (f16Table = new Float32Array(bits.buffer));
}

/** f32 bits -> f16 bits, round to nearest even; overflow to inf, NaN stays NaN. */
export function f32ToF16Bits(b: number): number {
  const sign = (b >>> 16) & 0x8000, exp = (b >>> 23) & 0xff;
  const mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // f16 biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) { // f16 subnormal (or zero): drop 14 - e bits of the 24-bit significand
    if (e < -10) return sign;
    const m = mant | 0x800000, shift = 14 - e, half = 1 << (shift - 1);
    const rem = m & ((1 << shift) - 1);
    let q = m >>> shift;
    if (rem > half || (rem === half && (q & 1))) q++; // q = 0x400 is the smallest normal: still correct
    return sign | q;
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++; // a carry into the exponent (even to inf) is right
  return h;
}

/** f32 bits -> bf16 bits, round to nearest even; NaN stays (quiet) NaN. */
export function f32ToBf16Bits(b: number): number {
  if ((b & 0x7fffffff) > 0x7f800000) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Raw little-endian bytes of `dtype` -> f32. `bytes` need not be aligned. */
export function decodeToF32(dtype: StDType, bytes: Uint8Array): Float32Array {
  const n = bytes.length / DTYPE_BYTES[dtype];
  // An aligned private copy (reads may return views into shared buffers at any offset).
  const copy = bytes.slice();
  if (dtype === "F32") return new Float32Array(copy.buffer, 0, n);
  const u16 = new Uint16Array(copy.buffer, 0, n);
  const out = new Float32Array(n);
  if (dtype === "F16") {
    const table = f16ToF32Table();
    for (let i = 0; i < n; i++) out[i] = table[u16[i]];
  } else {
    const o32 = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) o32[i] = u16[i] << 16;
  }
  return out;
}

/** f32 values -> raw little-endian bytes of `dtype` (F16/BF16 rounded to nearest even). */
export function encodeFromF32(dtype: StDType, data: Float32Array): Uint8Array {
  if (dtype === "F32") return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const bits = new Uint32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const out = new Uint16Array(data.length);
  const conv = dtype === "F16" ? f32ToF16Bits : f32ToBf16Bits;
  for (let i = 0; i < bits.length; i++) out[i] = conv(bits[i]);
  return new Uint8Array(out.buffer);
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface TensorSpec { name: string; dtype: StDType; shape: number[] }

/**
 * The header of a safetensors file holding `specs` in order, padded with spaces to a multiple of 8
 * bytes (so the data section is aligned), and each tensor's offset in the data section. Lets a tool
 * stream tensors to disk one at a time after writing the header.
 */
export function safetensorsHeader(specs: readonly TensorSpec[], metadata?: Record<string, string>): { header: Uint8Array; offsets: number[]; dataBytes: number } {
  const json: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) json.__metadata__ = metadata;
  const offsets: number[] = [];
  let at = 0;
  for (const s of specs) {
    if (s.name === "__metadata__" || Object.hasOwn(json, s.name)) throw new Error(`safetensors writer: duplicate or reserved tensor name "${s.name}"`);
    if (!Object.hasOwn(DTYPE_BYTES, s.dtype)) throw new Error(`safetensors writer: tensor "${s.name}": unsupported dtype "${s.dtype}"`);
    const bytes = numel(s.shape) * DTYPE_BYTES[s.dtype];
    // defineProperty: a tensor named "__proto__" is a key like any other, not the prototype.
    Object.defineProperty(json, s.name, { value: { dtype: s.dtype, shape: s.shape, data_offsets: [at, at + bytes] }, enumerable: true });
    offsets.push(at);
    at += bytes;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const n = Math.ceil(text.length / 8) * 8;
  const header = new Uint8Array(8 + n).fill(0x20, 8);
  const dv = new DataView(header.buffer);
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  header.set(text, 8);
  return { header, offsets, dataBytes: at };
}

/** A whole safetensors file in memory (outputs, tests, small checkpoints). */
export function encodeSafetensors(
  tensors: Record<string, { dtype: StDType; shape: number[]; data: Float32Array }>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (t.data.length !== numel(t.shape)) throw new Error(`safetensors writer: tensor "${name}" has ${t.data.length} values, shape [${t.shape}] needs ${numel(t.shape)}`);
  }
  const { header, offsets, dataBytes } = safetensorsHeader(entries.map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape })), metadata);
  const out = new Uint8Array(header.length + dataBytes);
  out.set(header);
  entries.forEach(([, t], i) => out.set(encodeFromF32(t.dtype, t.data), header.length + offsets[i]));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint: one file, or several with an index json

export type Progress = (bytesDone: number, bytesTotal: number) => void;

/** A list of problems as one message: the first, then how many more and up to three of them. */
export function summarizeProblems(problems: readonly string[]): string {
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more: ${problems.slice(1, 4).join("; ")}${problems.length > 4 ? "; ..." : ""})` : "";
  return `${problems[0]}${more}`;
}

export class Checkpoint {
  private constructor(
    readonly files: SafetensorsFile[],
    private readonly tensors: Map<string, TensorInfo>,
    /** Sum of every tensor's bytes, as stored. */
    readonly totalBytes: number,
  ) {}

  /**
   * Opens `files` (shards; basenames must be unique). With `index` (model.safetensors.index.json:
   * {"weight_map": {tensor: file}}), each file it names must be among `files` and hold the tensor it
   * maps there; without it, a tensor name appearing in two files is an error.
   */
  static async open(files: ByteSource[], index?: ByteSource): Promise<Checkpoint> {
    if (files.length === 0) throw new Error(`checkpoint: no safetensors files given${index ? ` (index ${index.name})` : ""}`);
    const byBase = new Map<string, SafetensorsFile>();
    const opened: SafetensorsFile[] = [];
    for (const src of files) {
      const base = baseName(src.name);
      if (byBase.has(base)) throw new Error(`checkpoint: two files named "${base}" (${byBase.get(base)!.source.name}, ${src.name})`);
      const st = await SafetensorsFile.open(src);
      byBase.set(base, st);
      opened.push(st);
    }
    const tensors = new Map<string, TensorInfo>();
    if (index) {
      const weightMap = await readIndex(index);
      for (const file of new Set(Object.values(weightMap))) {
        if (!byBase.has(baseName(file))) {
          throw new Error(`${index.name}: names file "${file}", which was not given (files: ${[...byBase.keys()].join(", ")})`);
        }
      }
      for (const [name, file] of Object.entries(weightMap)) {
        const st = byBase.get(baseName(file))!;
        const info = st.tensors.get(name);
        if (!info) throw new Error(`${index.name}: maps tensor "${name}" to ${st.source.name}, which has no such tensor`);
        tensors.set(name, info);
      }
      // Tensors present in a shard but absent from the index are still readable (first file wins).
      for (const st of opened) for (const [name, info] of st.tensors) if (!tensors.has(name)) tensors.set(name, info);
    } else {
      for (const st of opened) {
        for (const [name, info] of st.tensors) {
          const prev = tensors.get(name);
          if (prev) throw new Error(`checkpoint: tensor "${name}" is in both ${prev.source.name} and ${st.source.name} (give an index json to choose)`);
          tensors.set(name, info);
        }
      }
    }
    let total = 0;
    for (const t of tensors.values()) total += t.end - t.begin;
    return new Checkpoint(opened, tensors, total);
  }

  /** File names, for messages. */
  describe(): string {
    return this.files.map((f) => f.source.name).join(", ");
  }
  has(name: string): boolean {
    return this.tensors.has(name);
  }
  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`tensor "${name}" not found in ${this.describe()}`);
    return t;
  }
  /**
   * Checks each wanted tensor's presence and shape from the headers only (no data read): one line a
   * problem, expected vs found, and the stored bytes of the wanted tensors present.
   */
  checkShapes(want: readonly { name: string; shape: readonly number[] }[]): { problems: string[]; bytes: number } {
    const fmt = (s: readonly number[]) => `[${s.join(", ")}]`;
    const problems: string[] = [];
    let bytes = 0;
    for (const { name, shape } of want) {
      const info = this.tensors.get(name);
      if (!info) {
        problems.push(`tensor "${name}" ${fmt(shape)} not found`);
        continue;
      }
      if (info.shape.length !== shape.length || info.shape.some((v, i) => v !== shape[i])) {
        problems.push(`tensor "${name}" has shape ${fmt(info.shape)}, expected ${fmt(shape)} (in ${info.source.name})`);
      }
      bytes += info.end - info.begin;
    }
    return { problems, bytes };
  }
  names(): string[] {
    return [...this.tensors.keys()];
  }
  /** The tensor's bytes as stored. */
  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    return await t.source.read(t.begin, t.end - t.begin);
  }
  /** Reads a tensor converted to f32 (F16/BF16 widened). */
  async readF32(name: string): Promise<Float32Array> {
    return decodeToF32(this.info(name).dtype, await this.readBytes(name));
  }
  /**
   * Reads every named tensor (all of them by default) as f32, a few at a time, calling
   * onProgress(bytesDone, bytesTotal) in stored bytes after each.
   */
  async readAllF32(names: readonly string[] = this.names(), onProgress?: Progress, concurrency = 4): Promise<Map<string, Float32Array>> {
    const infos = names.map((n) => this.info(n));
    const total = infos.reduce((a, t) => a + t.end - t.begin, 0);
    const out = new Map<string, Float32Array>();
    let next = 0, done = 0;
    onProgress?.(0, total);
    const worker = async () => {
      while (next < infos.length) {
        const t = infos[next++];
        out.set(t.name, await this.readF32(t.name));
        done += t.end - t.begin;
        onProgress?.(done, total);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, infos.length)) }, worker));
    return out;
  }
  close(): void {
    for (const f of this.files) f.source.close?.();
  }
}

async function readIndex(index: ByteSource): Promise<Record<string, string>> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(await index.read(0, index.size)));
  } catch (e) {
    throw new Error(`${index.name}: index is not valid JSON: ${(e as Error).message}`);
  }
  if (!isObject(json) || !isObject(json.weight_map)) throw new Error(`${index.name}: index has no "weight_map" object`);
  for (const [k, v] of Object.entries(json.weight_map)) {
    if (typeof v !== "string") throw new Error(`${index.name}: weight_map entry "${k}" is ${typeof v}, expected a file name`);
  }
  return json.weight_map as Record<string, string>;
}
