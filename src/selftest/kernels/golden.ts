// Tiny safetensors reader for the golden-fixture checks in kernel tests (F32 tensors only):
// u64 LE header length n, n bytes of JSON {name: {dtype, shape, data_offsets}}, then the data.
// Kept minimal on purpose; src/io/safetensors.ts is the real reader.
import { fixtureBytes, type FixtureName, type VaeFixtureName } from "../fixtures.ts";

export interface GoldenTensor {
  shape: number[];
  data: Float64Array;
}

export async function readFixture(name: FixtureName | VaeFixtureName, file: string): Promise<Map<string, GoldenTensor>> {
  const bytes = await fixtureBytes(name, file);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  const out = new Map<string, GoldenTensor>();
  for (const [key, info] of Object.entries(header) as [string, { dtype: string; shape: number[]; data_offsets: [number, number] }][]) {
    if (key === "__metadata__") continue;
    if (info.dtype !== "F32") throw new Error(`fixture ${name}/${file} ${key}: expected dtype F32, found ${info.dtype}`);
    const [b, e] = info.data_offsets;
    const f32 = new Float32Array(bytes.slice(8 + n + b, 8 + n + e).buffer);
    out.set(key, { shape: info.shape, data: Float64Array.from(f32) });
  }
  return out;
}

export function golden(map: Map<string, GoldenTensor>, key: string): GoldenTensor {
  const t = map.get(key);
  if (!t) throw new Error(`fixture tensor ${key} is missing`);
  return t;
}

/** y [rows, out] = x [rows, in] W^T + b in Float64, W [out, in] (PyTorch Linear layout). */
export function linearF64(x: Float64Array, w: Float64Array, b: Float64Array, rows: number, inDim: number, outDim: number): Float64Array {
  const y = new Float64Array(rows * outDim);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let s = b[o];
      for (let k = 0; k < inDim; k++) s += x[r * inDim + k] * w[o * inDim + k];
      y[r * outDim + o] = s;
    }
  }
  return y;
}
