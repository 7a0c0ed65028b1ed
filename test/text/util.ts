// Fixture access for the umT5 tests (Deno: file: URLs; the browser: served by Vite).
export type Umt5Fixture = "umt5-tokenizer" | "umt5-tiny" | "umt5-odd";

export function umt5FixtureUrl(name: Umt5Fixture, file: string): URL {
  return new URL(`../fixtures/${name}/${file}`, import.meta.url);
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
