// Minimal flag parsing for the CLI: `--name value` and boolean `--flag`, with clear errors.
export class UsageError extends Error {}

export interface Parsed {
  flags: Map<string, string | true>;
  positional: string[];
}

export function parseArgs(argv: string[], booleans: readonly string[] = []): Parsed {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) { positional.push(a); continue; }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (eq > 0) flags.set(name, a.slice(eq + 1));
    else if (booleans.includes(name)) flags.set(name, true);
    else {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`--${name} needs a value`);
      flags.set(name, v);
      i++;
    }
  }
  return { flags, positional };
}

/**
 * Checks that only `allowed` flags were given (catches typos such as --device) and no stray arguments
 * (`--overlap off` would otherwise read as --overlap plus an ignored "off": booleans take --flag=value).
 */
export function allowFlags(p: Parsed, command: string, allowed: readonly string[]): void {
  for (const k of p.flags.keys()) {
    if (!allowed.includes(k)) throw new UsageError(`${command}: unknown flag --${k} (allowed: ${allowed.map((a) => "--" + a).join(" ")})`);
  }
  if (p.positional.length) {
    throw new UsageError(`${command}: unexpected argument "${p.positional[0]}" (flags are --name value; on/off flags take --name=value, e.g. --overlap=off)`);
  }
}

export function str(p: Parsed, name: string, def?: string): string {
  const v = p.flags.get(name);
  if (v === undefined || v === true) {
    if (def === undefined) throw new UsageError(`--${name} is required`);
    return def;
  }
  return v;
}

export function int(p: Parsed, name: string, def: number, min = 1): number {
  const raw = p.flags.get(name);
  if (raw === undefined) return def;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${raw}`);
  return v;
}

export function num(p: Parsed, name: string, def: number): number {
  const raw = p.flags.get(name);
  if (raw === undefined) return def;
  const v = Number(raw);
  if (!Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got ${raw}`);
  return v;
}

export function oneOf<T extends string>(p: Parsed, name: string, options: readonly T[], def: T): T {
  const raw = p.flags.get(name) ?? def;
  if (!options.includes(raw as T)) throw new UsageError(`--${name} must be one of ${options.join("|")}, got ${raw}`);
  return raw as T;
}
