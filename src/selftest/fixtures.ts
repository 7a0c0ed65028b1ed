// Golden fixtures (copied from ../shared/fixtures, produced by diffusers' WanTransformer3DModel in
// float64) are read the same way in Deno (file: URL fetch) and in the browser (served by Vite). Their home
// is the source checkout's test/fixtures. The npm package carries no test/: `npm pack` (tools/build-lib.mjs)
// copies the goldens the kernel checks read (SELFTEST_GOLDENS) into lib/selftest/goldens/, so `shardit
// selftest` from an installed package finds them beside this module.
export type FixtureName = "wan-tiny" | "wan-small";
/** diffusers' AutoencoderKLWan fixtures (a vae/ folder + io.safetensors, ../shared/fixtures/README.md). */
export type VaeFixtureName = "wan-vae-tiny" | "wan-vae-small";
/** transformers' umT5 fixtures (tools/umt5/make_fixtures.py): the tokenizer's cases, two small encoders. */
export type Umt5FixtureName = "umt5-tokenizer" | "umt5-tiny" | "umt5-odd";
type AnyFixtureName = FixtureName | VaeFixtureName | Umt5FixtureName;

/** The fixtures `shardit selftest` reads, and so the ones the package carries (tools/build-lib.mjs). */
export const SELFTEST_GOLDENS: { name: FixtureName; files: string[] }[] = [
  { name: "wan-tiny", files: ["io.safetensors", "model.safetensors"] },
  { name: "wan-small", files: ["io.safetensors", "model.safetensors"] },
];

/** A fixture file in the source checkout (test/fixtures). */
export function fixtureUrl(name: AnyFixtureName, file: string): URL {
  return new URL(`../../test/fixtures/${name}/${file}`, import.meta.url);
}

/** Where the package keeps its copy (lib/selftest/goldens/, beside the built module). */
function packagedUrl(name: AnyFixtureName, file: string): URL {
  return new URL(`./goldens/${name}/${file}`, import.meta.url);
}

async function fetchBytes(url: URL): Promise<Uint8Array | string> {
  try {
    const res = await fetch(url);
    if (!res.ok) return `HTTP ${res.status}`;
    return new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    return (e as Error).message;
  }
}

/** test/fixtures under Deno's working directory: a bundle (.gpu/*.js on the GPU host) runs from the repository
 * root, where its own URL no longer says where the checkout is. null outside Deno (the browser). */
function workingDirUrl(name: AnyFixtureName, file: string): URL | null {
  const deno = (globalThis as { Deno?: { cwd(): string } }).Deno;
  return deno ? new URL(`test/fixtures/${name}/${file}`, `file://${deno.cwd()}/`) : null;
}

/** A fixture file's bytes: from the checkout's test/fixtures, else the package's copy, else (a bundle) the
 * working directory's test/fixtures. */
export async function fixtureBytes(name: AnyFixtureName, file: string): Promise<Uint8Array> {
  const checkout = fixtureUrl(name, file);
  const first = await fetchBytes(checkout);
  if (typeof first !== "string") return first;
  const packaged = packagedUrl(name, file);
  const second = await fetchBytes(packaged);
  if (typeof second !== "string") return second;
  const cwd = workingDirUrl(name, file);
  const third = cwd && cwd.href !== checkout.href ? await fetchBytes(cwd) : "";
  if (typeof third !== "string") return third;
  throw new Error(`fixture ${name}/${file} could not be read: not at ${checkout} (a source checkout's test/fixtures: ${first}) nor at ${packaged} (the npm package's copy: ${second})${cwd && third ? ` nor at ${cwd} (the working directory's: ${third})` : ""}`);
}
