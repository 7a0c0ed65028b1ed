// Safetensors reader/writer: fixtures parse, round trips in F32/F16/BF16 against a Float64 model of the
// rounding, sharded checkpoints with an index, and every malformed input named in its error.
import {
  bytesSource,
  Checkpoint,
  decodeToF32,
  encodeFromF32,
  encodeSafetensors,
  fileObjectSource,
  SafetensorsFile,
  type StDType,
  urlSource,
} from "../../src/io/safetensors.ts";
import { test } from "../../src/selftest/harness.ts";
import { fixtureBytes, fixtureUrl } from "../../src/selftest/fixtures.ts";
import { assert, expectError, expectSame, fixtureCheckpoint, rawSafetensors, sameShape } from "./util.ts";

// ---- fixtures -------------------------------------------------------------------------------

test("safetensors: parse wan-small model and io fixtures", async () => {
  const m = await fixtureCheckpoint("wan-small");
  assert(m.names().length === 69, `wan-small model: ${m.names().length} tensors, expected 69 (15 + 27 per block)`);
  const pe = m.info("patch_embedding.weight");
  assert(pe.dtype === "F32" && sameShape(pe.shape, [96, 16, 1, 2, 2]), `patch_embedding.weight: ${pe.dtype} [${pe.shape}]`);
  assert(m.totalBytes === 1479808 - m.files[0].dataStart, `totalBytes ${m.totalBytes}`);
  const io = await fixtureCheckpoint("wan-small", "io.safetensors");
  assert(sameShape(io.info("expected").shape, [1, 16, 5, 12, 14]), `expected: [${io.info("expected").shape}]`);
  const t = await io.readF32("timestep");
  assert(t.length === 1 && t[0] === 999, `timestep ${t}`);
});

test("safetensors: parse wan-tiny fixtures", async () => {
  const m = await fixtureCheckpoint("wan-tiny");
  assert(sameShape(m.info("proj_out.weight").shape, [16, 24]), `proj_out.weight [${m.info("proj_out.weight").shape}]`);
  const io = await fixtureCheckpoint("wan-tiny", "io.safetensors");
  assert(sameShape(io.info("hidden_states").shape, [1, 4, 3, 6, 10]), `hidden_states [${io.info("hidden_states").shape}]`);
  assert((await io.readF32("timestep"))[0] === 637, "timestep");
});

test("safetensors: urlSource and fileObjectSource read the fixture like memory", async () => {
  const bytes = await fixtureBytes("wan-tiny", "model.safetensors");
  const ref = await Checkpoint.open([bytesSource("mem", bytes)]);
  for (const src of [await urlSource(fixtureUrl("wan-tiny", "model.safetensors")), fileObjectSource(new File([bytes as BlobPart], "model.safetensors"))]) {
    assert(src.size === bytes.length, `${src.name}: size ${src.size}, expected ${bytes.length}`);
    const ck = await Checkpoint.open([src]);
    for (const n of ref.names()) expectSame(`${src.name} ${n}`, await ck.readF32(n), await ref.readF32(n));
  }
});

// ---- conversions against a Float64 model of round-to-nearest-even ----------------------------

/** x (an f32 value) rounded to a float with `mant` stored mantissa bits, min exponent emin, max finite. */
function roundRef(x: number, mant: number, emin: number, maxFinite: number): number {
  if (Number.isNaN(x) || !Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, emin) - mant);
  const q = a / ulp; // exact: a has 24 significant bits, ulp is a power of two
  let r = Math.floor(q);
  const frac = q - r;
  if (frac > 0.5 || (frac === 0.5 && r % 2 === 1)) r++;
  let v = r * ulp;
  if (v > maxFinite) v = Infinity;
  return x < 0 ? -v : v;
}
const refF16 = (x: number) => roundRef(x, 10, -14, 65504);
const refBF16 = (x: number) => roundRef(x, 7, -126, (2 - 2 ** -7) * 2 ** 127);

/** Edge values: ties, subnormals, overflow, signed zeros, and random f32 bit patterns of every exponent. */
function conversionCases(): Float32Array {
  const special = [
    0, -0, 1, -1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20,
    2 ** -14, 2 ** -24, -(2 ** -24), 2 ** -25, -(2 ** -25), 3 * 2 ** -25, 2 ** -25 + 2 ** -40, 2 ** -26, 2 ** -14 - 2 ** -25, 2 ** -14 - 2 ** -24,
    65504, 65519, 65520, -65520, 65536, 1e30, 3.4e38, -3.4e38, 1e-40, -1e-40, 1e-45, 2 ** -149, 2 ** -126, Infinity, -Infinity, NaN,
    0.1, -0.1, 1 / 3, Math.PI, 1e-5, 6.1e-5,
  ];
  const out = new Float32Array(Math.ceil((special.length + 20000) / 8) * 8); // divisible for the shapes below
  out.set(special);
  const bits = new Uint32Array(out.buffer);
  let s = 12345;
  for (let i = special.length; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const h = Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) >>> 0;
    // half the cases: any bit pattern; half: exponents near the f16 range (2^-30 .. 2^18)
    bits[i] = i % 2 ? h : (h & 0x807fffff) | (((97 + (h >>> 8) % 48) & 0xff) << 23);
  }
  return out;
}

test("safetensors: F16 and BF16 encoding rounds to nearest even (f64 reference, subnormals, -0, inf, nan)", () => {
  const x = conversionCases();
  for (const [dtype, ref] of [["F16", refF16], ["BF16", refBF16]] as const) {
    const got = decodeToF32(dtype, encodeFromF32(dtype, x));
    const want = Float32Array.from(x, ref);
    let bad = 0, first = "";
    for (let i = 0; i < x.length; i++) {
      if (!Object.is(got[i], want[i])) {
        if (!bad) first = `x=${x[i]} got ${got[i]} expected ${want[i]}`;
        bad++;
      }
    }
    if (bad) throw new Error(`${dtype}: ${bad} of ${x.length} conversions wrong; first ${first}`);
  }
});

test("safetensors: F16 decode of all 65536 bit patterns, and encode(decode(h)) == h", () => {
  const h = new Uint16Array(65536).map((_, i) => i);
  const f = decodeToF32("F16", new Uint8Array(h.buffer));
  for (let i = 0; i < 65536; i++) {
    const sign = i & 0x8000 ? -1 : 1, e = (i >>> 10) & 31, m = i & 1023;
    const want = e === 31 ? (m ? NaN : sign * Infinity) : e === 0 ? sign * m * 2 ** -24 : sign * (1 + m / 1024) * 2 ** (e - 15);
    if (!Object.is(f[i], want)) throw new Error(`f16 0x${i.toString(16)}: decoded ${f[i]}, expected ${want}`);
  }
  const back = new Uint16Array(encodeFromF32("F16", f).buffer);
  for (let i = 0; i < 65536; i++) {
    const nan = (i & 0x7c00) === 0x7c00 && (i & 0x3ff);
    if (nan ? (back[i] & 0x7c00) !== 0x7c00 || !(back[i] & 0x3ff) : back[i] !== i) throw new Error(`f16 0x${i.toString(16)} re-encoded as 0x${back[i].toString(16)}`);
  }
});

test("safetensors: BF16 decode is a 16-bit shift", () => {
  const h = Uint16Array.of(0x0000, 0x8000, 0x3f80, 0xbf80, 0x7f80, 0xff80, 0x0001, 0x7f7f, 0x4049);
  const f = decodeToF32("BF16", new Uint8Array(h.buffer));
  expectSame("bf16", f, [0, -0, 1, -1, Infinity, -Infinity, 2 ** -133, (2 - 2 ** -7) * 2 ** 127, 3.140625]);
  assert(Number.isNaN(decodeToF32("BF16", new Uint8Array(Uint16Array.of(0x7fc0).buffer))[0]), "bf16 NaN");
});

test("safetensors: round trip through encodeSafetensors in F32, F16 and BF16 (unaligned reads)", async () => {
  const x = conversionCases();
  const shapes: Record<StDType, number[]> = { F32: [x.length], F16: [2, x.length / 2], BF16: [x.length / 4, 2, 2] };
  const odd = Float32Array.of(1.5, -2.25, 3); // 3 values: makes later tensors start unaligned for 2-byte types
  const tensors: Record<string, { dtype: StDType; shape: number[]; data: Float32Array }> = {};
  for (const dtype of ["F16", "F32", "BF16"] as StDType[]) {
    tensors[`odd.${dtype}`] = { dtype, shape: [3], data: odd };
    tensors[`x.${dtype}`] = { dtype, shape: shapes[dtype], data: x };
  }
  tensors["empty"] = { dtype: "F32", shape: [0, 4], data: new Float32Array(0) };
  const bytes = encodeSafetensors(tensors, { format: "pt", note: "round trip" });
  // The reader sees the file through a view at an odd offset of a larger buffer.
  const padded = new Uint8Array(bytes.length + 3);
  padded.set(bytes, 3);
  const st = await SafetensorsFile.open(bytesSource("roundtrip.safetensors", padded.subarray(3)));
  assert(st.metadata.format === "pt" && st.metadata.note === "round trip", `metadata ${JSON.stringify(st.metadata)}`);
  assert((st.dataStart % 8) === 0, `data section starts at ${st.dataStart}, not 8-aligned`);
  const ck = await Checkpoint.open([bytesSource("roundtrip.safetensors", padded.subarray(3))]);
  const ref = { F32: (v: number) => v, F16: refF16, BF16: refBF16 };
  for (const [name, t] of Object.entries(tensors)) {
    const info = ck.info(name);
    assert(info.dtype === t.dtype && sameShape(info.shape, t.shape), `${name}: ${info.dtype} [${info.shape}]`);
    const dt = t.dtype;
    expectSame(name, await ck.readF32(name), Float32Array.from(t.data, ref[dt]));
  }
});

test("safetensors: checkpoint split into two files with an index reads back equal", async () => {
  const ref = await fixtureCheckpoint("wan-small");
  const names = ref.names();
  const parts: Record<string, { dtype: StDType; shape: number[]; data: Float32Array }>[] = [{}, {}];
  const weightMap: Record<string, string> = {};
  const files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
  for (let i = 0; i < names.length; i++) {
    const p = i % 2;
    parts[p][names[i]] = { dtype: "F32", shape: ref.info(names[i]).shape, data: await ref.readF32(names[i]) };
    weightMap[names[i]] = files[p];
  }
  const index = bytesSource("dir/model.safetensors.index.json", new TextEncoder().encode(JSON.stringify({ metadata: { total_size: ref.totalBytes }, weight_map: weightMap })));
  const srcs = files.map((f, p) => bytesSource(`dir/${f}`, encodeSafetensors(parts[p])));
  const ck = await Checkpoint.open(srcs, index);
  assert(ck.names().length === names.length && ck.totalBytes === ref.totalBytes, `${ck.names().length} tensors, ${ck.totalBytes} bytes`);
  const all = await ck.readAllF32(undefined, (done, total) => assert(done <= total && total === ref.totalBytes, `progress ${done}/${total}`));
  for (const n of names) {
    expectSame(n, all.get(n)!, await ref.readF32(n));
    assert(ck.info(n).source === srcs[names.indexOf(n) % 2], `${n} read from the wrong shard`);
  }
  // Without the index, the two halves still form one checkpoint (no duplicates).
  assert((await Checkpoint.open(srcs)).names().length === names.length, "no-index open");
  // The index naming a file that was not given.
  await expectError("index names a missing shard", () => Checkpoint.open([srcs[0]], index), "model.safetensors.index.json", "model-00002-of-00002.safetensors", "not given");
  // The index mapping a tensor to a shard that lacks it.
  const wrong = { ...weightMap, [names[0]]: files[1] };
  await expectError(
    "index maps to the wrong shard",
    () => Checkpoint.open(srcs, bytesSource("bad.index.json", new TextEncoder().encode(JSON.stringify({ weight_map: wrong })))),
    "bad.index.json",
    names[0],
    files[1],
  );
  await expectError("index without weight_map", () => Checkpoint.open(srcs, bytesSource("x.index.json", new TextEncoder().encode("{}"))), "x.index.json", "weight_map");
  await expectError("duplicate tensor without index", () => Checkpoint.open([srcs[0], bytesSource("copy.safetensors", encodeSafetensors(parts[0]))]), names[0], "copy.safetensors");
});

// ---- malformed files ------------------------------------------------------------------------

const good = (): Uint8Array =>
  encodeSafetensors({ a: { dtype: "F32", shape: [2, 3], data: new Float32Array(6).fill(1) }, b: { dtype: "BF16", shape: [4], data: new Float32Array(4) } });

async function openBytes(name: string, bytes: Uint8Array) {
  return await SafetensorsFile.open(bytesSource(name, bytes));
}

test("safetensors: truncated files are errors naming the file and the tensor", async () => {
  const b = good();
  await expectError("truncated data", () => openBytes("cut.safetensors", b.subarray(0, b.length - 1)), "cut.safetensors", `"b"`, "truncated");
  await expectError("truncated header", () => openBytes("cut2.safetensors", b.subarray(0, 20)), "cut2.safetensors", "header length", "truncated");
  await expectError("shorter than 8 bytes", () => openBytes("tiny.safetensors", b.subarray(0, 5)), "tiny.safetensors", "5 bytes");
  await expectError("empty file", () => openBytes("empty.safetensors", new Uint8Array(0)), "empty.safetensors");
});

test("safetensors: header length too large", async () => {
  await expectError("over 100 MB", () => openBytes("huge.safetensors", rawSafetensors({}, 0, 200_000_000)), "huge.safetensors", "header length", "limit");
  await expectError("u64 high word", () => openBytes("huge2.safetensors", rawSafetensors({}, 0, 2 ** 33)), "huge2.safetensors", "limit");
});

test("safetensors: bad JSON and non-object headers", async () => {
  await expectError("bad JSON", () => openBytes("bad.safetensors", rawSafetensors(`{"a": {"dtype": "F32",`, 0)), "bad.safetensors", "JSON");
  await expectError("array header", () => openBytes("arr.safetensors", rawSafetensors(`[1, 2]`, 0)), "arr.safetensors", "array");
  const notUtf8 = Uint8Array.of(3, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0xff, 0x7d);
  await expectError("bad UTF-8", () => openBytes("utf.safetensors", notUtf8), "utf.safetensors", "UTF-8");
  await expectError("null header", () => openBytes("null.safetensors", rawSafetensors(`null`, 0)), "null.safetensors", "expected an object");
});

test("safetensors: integer tensors (shardit encode's input_ids) are listed apart, not as weights", async () => {
  const f = await SafetensorsFile.open(bytesSource("i.safetensors", rawSafetensors({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, ids: { dtype: "I64", shape: [1, 2], data_offsets: [4, 20] } }, 20)));
  assert([...f.tensors.keys()].join() === "w" && f.integers.get("ids")?.dtype === "I64" && f.integers.get("ids")?.shape.join() === "1,2", "integers apart");
});

test("safetensors: bad entries name the tensor and the field", async () => {
  const bad = async (what: string, entry: unknown, data: number, ...parts: string[]) =>
    await expectError(what, () => openBytes("e.safetensors", rawSafetensors({ w: { dtype: "F32", shape: [1], data_offsets: [0, 4] }, t: entry }, data)), "e.safetensors", `"t"`, ...parts);
  await bad("F64", { dtype: "F64", shape: [2], data_offsets: [4, 20] }, 20, "F64", "unsupported");
  await bad("I64 of the wrong size", { dtype: "I64", shape: [2], data_offsets: [4, 12] }, 12, "I64", "needs 16");
  await bad("unknown dtype", { dtype: "Q4_K", shape: [2], data_offsets: [4, 12] }, 12, "Q4_K", "unknown dtype");
  await bad("dtype not a string", { dtype: 5, shape: [2], data_offsets: [4, 12] }, 12, "dtype");
  await bad("no shape", { dtype: "F32", data_offsets: [4, 12] }, 12, "shape");
  await bad("bad shape", { dtype: "F32", shape: [2, -1], data_offsets: [4, 12] }, 12, "shape");
  await bad("bad offsets", { dtype: "F32", shape: [2], data_offsets: [4] }, 12, "data_offsets");
  await bad("end before begin", { dtype: "F32", shape: [0], data_offsets: [8, 4] }, 12, "data_offsets", "[8, 4]");
  await bad("offsets past data", { dtype: "F32", shape: [2], data_offsets: [4, 12] }, 8, "data section");
  await bad("wrong byte length", { dtype: "F32", shape: [3], data_offsets: [4, 12] }, 12, "8 bytes", "needs 12");
  await bad("overlap", { dtype: "F32", shape: [2], data_offsets: [0, 8] }, 8, "overlaps", `"w"`);
  await bad("not an object", [1, 2], 4, "not an object");
  await expectError("metadata not strings", () => openBytes("m.safetensors", rawSafetensors({ __metadata__: { a: 1 } }, 0)), "m.safetensors", "__metadata__", `"a"`);
});

test("safetensors: missing tensor on read names the tensor and the files", async () => {
  const ck = await Checkpoint.open([bytesSource("one.safetensors", good()), bytesSource("two.safetensors", encodeSafetensors({ c: { dtype: "F32", shape: [1], data: Float32Array.of(2) } }))]);
  await expectError("missing tensor", () => ck.readF32("blocks.0.attn1.to_q.weight"), `tensor "blocks.0.attn1.to_q.weight" not found in one.safetensors, two.safetensors`);
  await expectError("read past end", () => bytesSource("m", new Uint8Array(4)).read(2, 4), "m", "outside");
});
