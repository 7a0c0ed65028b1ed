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

/**
 * One row of a command's flag table. The table is the single source of a command's flags: parseCommand
 * takes the allowed names and the on/off switches from it, and `--help` prints it, so a flag cannot be
 * accepted without being documented. Add a row to add a flag.
 */
export interface FlagSpec {
  name: string;
  /** The value's placeholder in help (N, DIR, "f32|f16"); absent: an on/off switch (--name, or --name=on|off). */
  value?: string;
  /** The default as help shows it (absent: none, or the flag is required when `required`). */
  default?: string;
  required?: boolean;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** One line: what the command does. */
  summary: string;
  flags: readonly FlagSpec[];
  /** Whole command lines, shown under "examples". */
  examples: readonly string[];
  /** Extra lines after the table (what the output is, vocabularies). */
  notes?: readonly string[];
}

/** Flags every command takes (main.ts handles them before the command's own parser). */
export const COMMON_FLAGS: readonly FlagSpec[] = [
  { name: "webgpu", value: "auto|dawn|deno", default: "$SHARDIT_WEBGPU, else auto", help: "WebGPU implementation: Dawn (the webgpu package: subgroups, matrix units) or Deno's own (wgpu); auto takes Dawn where it finds an adapter" },
  { name: "verbose", help: "stack traces on error, and Dawn's own log lines (kept off the terminal otherwise)" },
  { name: "help", help: "the command's flags, defaults and examples" },
];

/** Thrown by parseCommand for --help / -h: main prints the text and exits 0. */
export class HelpRequested extends Error {
  constructor(readonly text: string) {
    super("help");
  }
}

export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes("--help") || argv.includes("-h");
}

function flagLeft(f: FlagSpec): string {
  return f.value ? `--${f.name} ${f.value}` : `--${f.name}[=on|off]`.replace("--help[=on|off]", "--help, -h").replace("--verbose[=on|off]", "--verbose");
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const w of text.split(" ")) {
    if (line && line.length + 1 + w.length > width) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines;
}

/** The table printed by `shardit <command> --help`: usage, each flag with its default, examples, notes. */
export function commandHelp(spec: CommandSpec): string {
  const rows = [...spec.flags, ...COMMON_FLAGS];
  const left = Math.min(34, Math.max(...rows.map((f) => flagLeft(f).length)) + 2);
  const out = [`usage: shardit ${spec.name} [flags]`, `  ${spec.summary}`, "", "flags:"];
  for (const f of rows) {
    if (f === COMMON_FLAGS[0]) out.push("", "on every command:");
    const def = f.required ? " (required)" : f.default !== undefined ? ` (default: ${f.default})` : "";
    const name = flagLeft(f);
    const text = wrap(f.help + def, 110 - left);
    if (name.length + 2 > left) out.push(`  ${name}`, ...text.map((t) => `  ${" ".repeat(left)}${t}`));
    else out.push(`  ${name.padEnd(left)}${text[0]}`, ...text.slice(1).map((t) => `  ${" ".repeat(left)}${t}`));
  }
  if (spec.notes?.length) out.push("", ...spec.notes);
  out.push("", "examples:", ...spec.examples.map((e) => `  ${e}`));
  return out.join("\n");
}

/**
 * Parses argv against the command's table: --help/-h throws HelpRequested, unknown flags and stray
 * arguments are a UsageError, switches (rows without a value) take no value unless written --name=value.
 */
export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  if (wantsHelp(argv)) throw new HelpRequested(commandHelp(spec));
  const p = parseArgs(argv, spec.flags.filter((f) => !f.value).map((f) => f.name));
  allowFlags(p, spec.name, spec.flags.map((f) => f.name));
  for (const f of spec.flags) if (f.required && !p.flags.has(f.name)) throw new UsageError(`${spec.name}: --${f.name} is required (shardit ${spec.name} --help)`);
  return p;
}
