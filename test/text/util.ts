// Fixture access for the umT5 tests (Deno: file: URLs; the browser: served by Vite).
import { bytesSource, Checkpoint } from "../../src/io/safetensors.ts";
export type Umt5Fixture = "umt5-tokenizer" | "umt5-tiny" | "umt5-odd";

export function umt5FixtureUrl(name: Umt5Fixture, file: string): URL {
  // bundled for the GPU host (.gpu/*.js), this module's URL is the bundle's: the fixtures are then under the
  // working directory (the repository root the bundle runs from)
  const here = import.meta.url.endsWith("/test/text/util.ts") || typeof Deno === "undefined";
  return here ? new URL(`../fixtures/${name}/${file}`, import.meta.url) : new URL(`test/fixtures/${name}/${file}`, `file://${Deno.cwd()}/`);
}

export async function umt5FixtureBytes(name: Umt5Fixture, file: string): Promise<Uint8Array> {
  const url = umt5FixtureUrl(name, file);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`fixture ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
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
