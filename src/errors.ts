// Error text a person reads: one line, bounded, no terminal control codes. Inputs reach messages (a prompt,
// a path, a header's JSON) and may be huge or hostile (a 100,000-character prompt, an ESC sequence that
// rewrites the terminal, a NUL), so every line the CLI prints from an error or from user input goes through
// these. Platform neutral (the library and the demo may use them too).

/** Longest error line printed, in characters, before it is cut with "...". */
export const MAX_ERROR_CHARS = 400;

/**
 * `s` with every control character (C0, DEL, C1; newlines and tabs included) and the bidirectional
 * overrides written as escapes (\n, \t, \x1b, \u202e): what a terminal shows can no longer be rewritten.
 */
export function escapeControl(s: string): string {
  return s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    if (Object.hasOwn(named, c)) return named[c];
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** At most `max` characters: the start, then "..." and how much was left out. */
export function capText(s: string, max = MAX_ERROR_CHARS): string {
  if (s.length <= max) return s;
  const note = `... (${s.length - max} more characters)`;
  return s.slice(0, Math.max(0, max - note.length)) + note;
}

/** An error's message as one printable line: control characters escaped, then capped. */
export function errorLine(e: unknown, max = MAX_ERROR_CHARS): string {
  const msg = e instanceof Error ? e.message : String(e);
  return capText(escapeControl(msg), max);
}

/**
 * Runs `fn` on `path`; an error from the operating system that does not name the path (Deno's "Is a
 * directory (os error 21)") is given it: `${path}: ${message}`.
 */
export async function withPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (msg.includes(path)) throw e;
    throw new Error(`${path}: ${msg}`, { cause: e });
  }
}
