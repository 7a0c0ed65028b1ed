// Golden fixtures (copied from ../shared/fixtures, produced by diffusers' WanTransformer3DModel in
// float64) are read the same way in Deno (file: URL fetch) and in the browser (served by Vite). They live
// in the source checkout's test/fixtures (a few MB, not in the npm package): from an installed package the
// fixture-based kernel checks of `shardit selftest` fail naming the missing file.
export type FixtureName = "wan-tiny" | "wan-small";
/** diffusers' AutoencoderKLWan fixtures (a vae/ folder + io.safetensors, ../shared/fixtures/README.md). */
export type VaeFixtureName = "wan-vae-tiny" | "wan-vae-small";

export function fixtureUrl(name: FixtureName | VaeFixtureName, file: string): URL {
  return new URL(`../../test/fixtures/${name}/${file}`, import.meta.url);
}

export async function fixtureBytes(name: FixtureName | VaeFixtureName, file: string): Promise<Uint8Array> {
  const url = fixtureUrl(name, file);
  const where = "(the golden fixtures are in a source checkout's test/fixtures, not in the npm package)";
  const res = await fetch(url).catch((e) => {
    throw new Error(`fixture ${url} could not be read ${where}: ${(e as Error).message}`);
  });
  if (!res.ok) throw new Error(`fixture ${url} could not be read ${where}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
