// Fixture access for the umT5 tests (Deno: file: URLs; the browser: served by Vite).
import { bytesSource, Checkpoint } from "../../src/io/safetensors.ts";
import { fixtureBytes, type Umt5FixtureName } from "../../src/selftest/fixtures.ts";
export type Umt5Fixture = Umt5FixtureName;

/** A umT5 fixture file, found as every golden is (src/selftest/fixtures.ts: the checkout, or a bundle's working directory). */
export function umt5FixtureBytes(name: Umt5Fixture, file: string): Promise<Uint8Array> {
  return fixtureBytes(name, file);
}

export async function umt5FixtureJson<T = unknown>(name: Umt5Fixture, file: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await umt5FixtureBytes(name, file))) as T;
}

/** umt5-tiny's goldens: io.safetensors (transformers' embeddings per case) and io.json (the cases). */
export interface Umt5IoJson {
  cases: { prompt: string; input_ids: number[]; seq_len: number }[];
}
export async function umt5TinyGolden(): Promise<{ io: Checkpoint; meta: Umt5IoJson }> {
  const io = await Checkpoint.open([bytesSource("io.safetensors", await umt5FixtureBytes("umt5-tiny", "io.safetensors"))]);
  return { io, meta: await umt5FixtureJson<Umt5IoJson>("umt5-tiny", "io.json") };
}
