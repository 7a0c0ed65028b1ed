// The kernel overrides' environment variables ($SHARDIT_GEMM, $SHARDIT_CONV): read in Deno, absent elsewhere
// (a browser, or Deno without env permission: the default).

/** $name in Deno, else undefined. */
export function readEnv(name: string): string | undefined {
  const env = (globalThis as { Deno?: { env: { get(k: string): string | undefined } } }).Deno?.env;
  try {
    return env?.get(name);
  } catch {
    return undefined; // no env permission: the default
  }
}
