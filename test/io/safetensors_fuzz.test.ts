// The safetensors reader against Rust's rules (issue 20, finding 1): the files the fault campaign found
// accepted where Rust's safetensors 0.8 refuses them, as named regression cases, then a seeded fuzz test
// comparing SafetensorsFile.open with an independent transcription of Rust's reader
// (safetensors_rust_reference.ts) over mutated files: no untyped exception, no hang, nothing accepted that
// Rust refuses, and nothing Rust accepts refused except for shardit's own limits (dtype, 2^53).
// CI runs 3000 mutations (a few seconds); SHARDIT_FUZZ=N runs N, SHARDIT_FUZZ_SEED=S another seed.
import { bytesSource, encodeSafetensors, SafetensorsFile } from "../../src/io/safetensors.ts";
import { test } from "../../src/selftest/harness.ts";
import { rustReadMetadata } from "./safetensors_rust_reference.ts";
import { assert, expectError, rawSafetensors } from "./util.ts";

const open = (name: string, bytes: Uint8Array) => SafetensorsFile.open(bytesSource(name, bytes));
const enc = new TextEncoder();

/** A header text (not re-serialised: duplicates, BOMs and number spellings survive) and its data bytes. */
function file(header: string, data: Uint8Array | number, headerLen?: number): Uint8Array {
  return rawSafetensors(header, data, headerLen);
}

/** Both readers refuse it; ours names the file and the words given. */
async function refused(what: string, bytes: Uint8Array, ...parts: string[]) {
  const rust = rustReadMetadata(bytes);
  assert(!rust.ok, `${what}: the Rust reference accepts this file; the regression case is wrong`);
  await expectError(what, () => open("r.safetensors", bytes), "r.safetensors", ...parts);
}

test("safetensors: a header length 1-2 bytes short is refused (it shifted every tensor: a stored 1.5 read as -2)", async () => {
  // The writer pads the header with spaces to a multiple of 8: a length a little short still parses as JSON.
  const header = `{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}    `;
  const good = file(header, new Uint8Array(Float32Array.of(1.5, 1.5, 1.5, 1.5).buffer));
  for (const short of [1, 2]) {
    await refused(`${short} short`, file(header, new Uint8Array(Float32Array.of(1.5, 1.5, 1.5, 1.5).buffer), header.length - short), `${short} bytes after the last tensor`, "covered exactly");
  }
  const ok = await open("ok.safetensors", good); // the unshifted file reads 1.5
  const v = new Float32Array((await ok.source.read(ok.tensors.get("w")!.begin, 16)).slice().buffer);
  assert(v.every((x) => x === 1.5), `good file reads ${v}`);
});

test("safetensors: trailing bytes, a gap between tensors, data after an empty header are refused", async () => {
  const w = `"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`;
  await refused("trailing", file(`{${w}}`, 5), "1 bytes after the last tensor");
  await refused("gap", file(`{${w},"v":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12), `"v"`, "gap of 4 bytes");
  await refused("empty header with data", file(`{}`, 8), "8 bytes after the last tensor");
  await refused("metadata only, with data", file(`{"__metadata__":{"a":"b"}}`, 3), "3 bytes after");
});

test("safetensors: a duplicated __metadata__, a byte-order mark, -0, 1.0 and 1e0 where integers belong are refused", async () => {
  const w = `"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`;
  await refused("two __metadata__", file(`{"__metadata__":{"a":"b"},${w},"__metadata__":{"c":"d"}}`, 4), `"__metadata__" appears twice`);
  await refused("BOM", file(`\ufeff{${w}}`, 4), "byte-order mark");
  await refused("-0 in shape", file(`{"w":{"dtype":"F32","shape":[-0],"data_offsets":[0,0]}}`, 0), `"w"`, "shape[0] is -0");
  await refused("1.0 in shape", file(`{"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}`, 4), "shape[0] is 1.0");
  await refused("1e0 in offsets", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4e0]}}`, 4), "data_offsets", "4e0");
  await refused("-0 in offsets", file(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[-0,4]}}`, 4), "data_offsets", "-0");
  await refused("dtype twice", file(`{"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}}`, 4), `field "dtype" appears twice`);
});

test("safetensors: a shape whose product overflows 64 bits on its way to zero is refused; own-property dtypes only", async () => {
  await refused("[2^52, 2^52, 0]", file(`{"w":{"dtype":"F32","shape":[4503599627370496,4503599627370496,0],"data_offsets":[0,0]}}`, 0), "overflows 64 bits");
  await refused("[2^32, 2^32, 0]", file(`{"w":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}`, 0), "overflows 64 bits");
  await refused("2^64 in shape", file(`{"w":{"dtype":"F32","shape":[18446744073709551616,0],"data_offsets":[0,0]}}`, 0), "shape[0]");
  for (const d of ["constructor", "__proto__", "toString", "hasOwnProperty"]) {
    await refused(`dtype ${d}`, file(`{"w":{"dtype":"${d}","shape":[1],"data_offsets":[0,4]}}`, 4), `unknown dtype "${d}"`);
  }
});

test("safetensors: what Rust's reader accepts still opens (null __metadata__, empty tensors sharing an offset, unknown fields)", async () => {
  const cases = [
    `{"__metadata__":null,"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
    `{"e":{"dtype":"F16","shape":[0,3],"data_offsets":[0,0]},"f":{"dtype":"BF16","shape":[2,0],"data_offsets":[0,0]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
    `{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":[1.5,{"x":null}]}}`,
    `{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
    `{"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
    // found by the fuzz test (seed 7, case 35538): a repeated name keeps its last entry, so an earlier
    // entry's dtype (F64 here) is not the tensor's
    `{"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
  ];
  for (const h of cases) {
    const b = file(h, 4);
    assert(rustReadMetadata(b).ok, `reference refuses ${h}`);
    const f = await open("a.safetensors", b);
    assert(f.tensors.size >= 1, `${h}: no tensors`);
  }
  const f = await open("p.safetensors", file(cases[4], 4));
  assert(f.tensors.has("__proto__") && f.tensors.get("__proto__")!.shape[0] === 1, "a tensor named __proto__ is a tensor");
});

// ---- the fuzz test ----------------------------------------------------------------------------

/** mulberry32: a small seeded generator (the same cases on every run of one seed). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS: Uint8Array[] = [
  encodeSafetensors({ a: { dtype: "F32", shape: [2, 3], data: new Float32Array(6).fill(1.5) }, b: { dtype: "BF16", shape: [4], data: new Float32Array(4) } }, { k: "v" }),
  encodeSafetensors({ x: { dtype: "F16", shape: [3], data: Float32Array.of(1, 2, 3) }, e: { dtype: "F32", shape: [0, 2], data: new Float32Array(0) } }),
  rawSafetensors({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, ids: { dtype: "I64", shape: [1, 2], data_offsets: [4, 20] } }, 20),
  rawSafetensors({}, 0),
];
/** Spellings the campaign found misread, spliced in where a number or a key stands. */
const TOKENS = ["-0", "1.0", "1e0", "0.5", "01", "-1", "4503599627370496", "9007199254740993", "18446744073709551615", "18446744073709551616", "1e400",
  `"constructor"`, `"__proto__"`, `"__metadata__"`, `"F64"`, `"I64"`, `"F4"`, `"U8"`, `"BOOL"`, "null", "[]", "{}", "[0,0]", "\ufeff", "\\ud800", "\u0000", " ", ",", ":", "[", "]", "{", "}", `"`];

function mutate(r: () => number, seed: Uint8Array): Uint8Array {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const n = Number(new DataView(seed.buffer, seed.byteOffset).getBigUint64(0, true));
  let header = new TextDecoder().decode(seed.subarray(8, 8 + n));
  let data = seed.slice(8 + n);
  let len: number | undefined;
  const rounds = 1 + Math.floor(r() * 3);
  for (let k = 0; k < rounds; k++) {
    const at = Math.floor(r() * (header.length + 1));
    switch (Math.floor(r() * 9)) {
      case 0: { // a number in the header replaced by another spelling or value
        const nums = [...header.matchAll(/-?\d+(\.\d+)?([eE][+-]?\d+)?/g)];
        if (nums.length) {
          const m = pick(nums);
          const repl = r() < 0.5 ? pick(TOKENS.slice(0, 11)) : String(Math.max(0, Number(m[0]) + Math.floor(r() * 9) - 4));
          header = header.slice(0, m.index!) + repl + header.slice(m.index! + m[0].length);
        }
        break;
      }
      case 1: // a string replaced (dtype, name, key)
        {
          const strs = [...header.matchAll(/"[^"]*"/g)];
          if (strs.length) {
            const m = pick(strs);
            header = header.slice(0, m.index!) + pick(TOKENS.slice(11, 19)) + header.slice(m.index! + m[0].length);
          }
        }
        break;
      case 2: // a token inserted anywhere
        header = header.slice(0, at) + pick(TOKENS) + header.slice(at);
        break;
      case 3: // a span deleted
        header = header.slice(0, at) + header.slice(at + 1 + Math.floor(r() * 6));
        break;
      case 4: { // an entry duplicated (a second __metadata__, a repeated tensor or field)
        const m = pick([...header.matchAll(/"[^"]*":(\{[^{}]*\}|"[^"]*"|\[[^\]]*\])/g)] as RegExpMatchArray[]);
        if (m) header = header.slice(0, header.length - 1).trimEnd() + (header.trim() === "{}" ? "" : ",") + m[0] + "}";
        break;
      }
      case 5: // the header length off by a little
        len = new TextEncoder().encode(header).length + Math.floor(r() * 7) - 3;
        break;
      case 6: { // data bytes added or removed
        const d = Math.floor(r() * 9) - 4;
        data = d >= 0 ? Uint8Array.from([...data, ...new Array(d).fill(7)]) : data.slice(0, Math.max(0, data.length + d));
        break;
      }
      case 7: // deep nesting
        header = header.slice(0, at) + "[".repeat(120 + Math.floor(r() * 20)) + header.slice(at);
        break;
      case 8: { // a raw byte flipped in the encoded file (may break UTF-8)
        const b = enc.encode(header);
        if (b.length) {
          b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
          header = new TextDecoder().decode(b); // invalid bytes become U+FFFD; UTF-8 errors below
          if (r() < 0.2) return file(header, data, len).map((x, i) => (i === 8 + Math.floor(r() * b.length) ? 0xff : x));
        }
        break;
      }
    }
  }
  return file(header, data, len);
}

const SUPPORTED = new Set(["F32", "F16", "BF16", "I64", "U64", "I32", "U32", "I16", "U16", "I8", "U8", "BOOL"]);

test("safetensors: fuzz (seeded): every mutated file is refused with one line naming it, or accepted only where Rust's reader accepts it", async () => {
  const env = (k: string) => (typeof Deno !== "undefined" ? Deno.env.get(k) : undefined);
  const count = Number(env("SHARDIT_FUZZ") ?? 3000), seed = Number(env("SHARDIT_FUZZ_SEED") ?? 20);
  const r = rng(seed);
  let accepted = 0, worstMs = 0;
  for (let i = 0; i < count; i++) {
    const bytes = mutate(r, SEEDS[i % SEEDS.length]);
    const rust = rustReadMetadata(bytes);
    const t0 = performance.now();
    let ours: SafetensorsFile | Error;
    try {
      ours = await open(`fuzz${i}.safetensors`, bytes);
    } catch (e) {
      ours = e as Error;
    }
    const ms = performance.now() - t0;
    worstMs = Math.max(worstMs, ms);
    const where = () => `case ${i} (seed ${seed}): header ${JSON.stringify(new TextDecoder().decode(bytes.subarray(8, 8 + 200)))}`;
    if (ms > 1000) throw new Error(`${where()}: took ${ms.toFixed(0)} ms`);
    if (ours instanceof Error) {
      if (ours.constructor !== Error) throw new Error(`${where()}: untyped ${ours.constructor.name}: ${ours.message}`);
      if (!ours.message.startsWith(`fuzz${i}.safetensors`) || ours.message.includes("\n") || ours.message.length > 600) {
        throw new Error(`${where()}: message not one short line naming the file: ${JSON.stringify(ours.message.slice(0, 300))}`);
      }
      if (rust.ok) {
        // Refusing what Rust accepts is allowed only for shardit's own limits.
        const own = [...rust.tensors.values()].some((t) => !SUPPORTED.has(t.dtype) || t.shape.some((d) => d > BigInt(Number.MAX_SAFE_INTEGER)));
        if (!own) throw new Error(`${where()}: Rust accepts, shardit refuses: ${ours.message}`);
      }
    } else {
      accepted++;
      if (!rust.ok) throw new Error(`${where()}: shardit accepts a file Rust refuses (${rust.error})`);
      const names = [...ours.tensors.keys(), ...ours.integers.keys()].sort(), want = [...rust.tensors.keys()].sort();
      if (names.join("\n") !== want.join("\n")) throw new Error(`${where()}: tensors ${names} vs Rust's ${want}`);
    }
  }
  assert(accepted > count / 50 && accepted < count, `only ${accepted} of ${count} mutated files accepted: the mutations are too blunt or too mild`);
  console.log(`  fuzz: ${count} files, ${accepted} accepted by both, slowest ${worstMs.toFixed(1)} ms`);
});
