// Golden fixtures (copied from ../shared/fixtures, produced by diffusers' WanTransformer3DModel in
// float64) are read the same way in Deno (file: URL fetch) and in the browser (served by Vite).
export type FixtureName = "wan-tiny" | "wan-small";
/** diffusers' AutoencoderKLWan fixtures (a vae/ folder + io.safetensors, ../shared/fixtures/README.md). */
export type VaeFixtureName = "wan-vae-tiny" | "wan-vae-small";

export function fixtureUrl(name: FixtureName | VaeFixtureName, file: string): URL {
  return new URL(`./fixtures/${name}/${file}`, import.meta.url);
}

export async function fixtureBytes(name: FixtureName | VaeFixtureName, file: string): Promise<Uint8Array> {
  const url = fixtureUrl(name, file);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`fixture ${url} could not be read: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
