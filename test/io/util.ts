// Small helpers for the checkpoint I/O tests (pure CPU, both hosts).
import { bytesSource, Checkpoint } from "../../src/io/safetensors.ts";
import { fixtureBytes, type FixtureName } from "../../src/selftest/fixtures.ts";

/** Throws unless `fn` rejects/throws with a message containing every one of `parts`. */
export async function expectError(what: string, fn: () => unknown, ...parts: string[]): Promise<string> {
  let msg: string | undefined;
  try {
    await fn();
  } catch (e) {
    msg = (e as Error)?.message ?? String(e);
  }
  if (msg === undefined) throw new Error(`${what}: expected an error, none was thrown`);
  const missing = parts.filter((p) => !msg!.includes(p));
  if (missing.length) throw new Error(`${what}: error message lacks ${missing.map((p) => JSON.stringify(p)).join(", ")}: "${msg}"`);
  return msg;
}

export function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** Bit-for-bit equality (Object.is per element: -0 and NaN count), naming the first difference. */
export function expectSame(what: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} values, expected ${want.length}`);
  let bad = 0, first = -1;
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) {
      bad++;
      if (first < 0) first = i;
    }
  }
  if (bad) throw new Error(`${what}: ${bad} of ${want.length} values differ; first [${first}] got ${got[first]} expected ${want[first]}`);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** A safetensors file with an arbitrary header object (or raw header text) and data bytes. */
export function rawSafetensors(header: unknown, data: Uint8Array | number, headerLen?: number): Uint8Array {
  const text = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const d = typeof data === "number" ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + text.length + d.length);
  const dv = new DataView(out.buffer);
  const n = headerLen ?? text.length;
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(text, 8);
  out.set(d, 8 + text.length);
  return out;
}

export async function fixtureCheckpoint(name: FixtureName, file = "model.safetensors"): Promise<Checkpoint> {
  return await Checkpoint.open([bytesSource(`${name}/${file}`, await fixtureBytes(name, file))]);
}

export async function fixtureConfigJson(name: FixtureName): Promise<unknown> {
  return JSON.parse(new TextDecoder().decode(await fixtureBytes(name, "config.json")));
}
