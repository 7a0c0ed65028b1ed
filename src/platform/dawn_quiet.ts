// Keeps Dawn's start-up warnings out of the user's terminal. dawn.node's native code prints them straight to
// file descriptor 2 (Dawn's dawn::WarningLog, fprintf(stderr)) when an instance first enumerates its adapters,
// e.g. on Mesa 25's lavapipe, twice per worker:
//   Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.
// and "Warning: Couldn't load Vulkan: libvulkan.so.1 ..." where no Vulkan loader exists. The addon has no flag
// or toggle that silences them (its flags are backend, adapter, dlldir, validate and the toggle lists), and a
// JavaScript console filter never sees them, so around that first enumeration fd 2 is pointed at a temporary
// file (libc dup/dup2 through Deno's FFI), and afterwards whatever is not Dawn's is written back to stderr.
// Workers are threads of one process and fd 2 is shared, so the window is serialised by flock on the addon
// file (a lock per open file description: it excludes other threads of this process too).
// SHARDIT_VERBOSE=1 (the CLI's --verbose) or SHARDIT_DAWN_LOG=1 leaves stderr alone; so does any platform
// other than Linux, or an FFI that does not load (then the warnings show, nothing else changes).

/** Lines Dawn's logging prints ("Warning: ...", and the "    at f (file.cpp:N)" line that may follow). */
export function isDawnLogLine(line: string): boolean {
  return /^(Warning|Info|Debug): /.test(line) || /^\s+at .*\(.*\.(cc|cpp|h):\d+\)\s*$/.test(line);
}

/**
 * `text` without Dawn's log messages: a "Warning: ..." line, the context lines under it (" - While initializing
 * adapter ...", "    at f (file.cpp:N)") and the blank line that ends it.
 */
export function withoutDawnLog(text: string): string {
  const out: string[] = [];
  let inMessage = false;
  for (const line of text.split("\n")) {
    if (isDawnLogLine(line) || (inMessage && /^\s+- /.test(line))) {
      inMessage = true;
      continue;
    }
    if (inMessage && line === "") { // the blank line that ends Dawn's message
      inMessage = false;
      continue;
    }
    inMessage = false;
    out.push(line);
  }
  return out.join("\n");
}

const O_RDONLY = 0, O_WRONLY = 1, O_TRUNC = 0o1000, LOCK_EX = 2, LOCK_UN = 8;

function libc() {
  return Deno.dlopen("libc.so.6", {
    open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    dup: { parameters: ["i32"], result: "i32" },
    dup2: { parameters: ["i32", "i32"], result: "i32" },
    flock: { parameters: ["i32", "i32"], result: "i32" },
  });
}

export function dawnLogShown(): boolean {
  return Deno.env.get("SHARDIT_VERBOSE") === "1" || Deno.env.get("SHARDIT_DAWN_LOG") === "1";
}

/**
 * Runs `fn` with fd 2 captured, then writes back what was not Dawn's log. `lockPath` names an existing file
 * to flock (the addon). Falls back to plain `fn()` where this cannot work.
 */
export async function withDawnLogHidden<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  if (dawnLogShown() || Deno.build.os !== "linux") return await fn();
  let lib: ReturnType<typeof libc>;
  try {
    lib = libc();
  } catch {
    return await fn();
  }
  const c = (s: string) => new TextEncoder().encode(s + "\0");
  const lockFd = lib.symbols.open(c(lockPath), O_RDONLY, 0);
  const capture = Deno.makeTempFileSync({ prefix: "shardit-dawn-log-" });
  const captureFd = lib.symbols.open(c(capture), O_WRONLY | O_TRUNC, 0);
  let saved = -1;
  try {
    if (lockFd < 0 || captureFd < 0) return await fn();
    lib.symbols.flock(lockFd, LOCK_EX);
    saved = lib.symbols.dup(2);
    if (saved < 0 || lib.symbols.dup2(captureFd, 2) < 0) return await fn();
    return await fn();
  } finally {
    if (saved >= 0) {
      lib.symbols.dup2(saved, 2);
      lib.symbols.close(saved);
    }
    if (lockFd >= 0) {
      lib.symbols.flock(lockFd, LOCK_UN);
      lib.symbols.close(lockFd);
    }
    if (captureFd >= 0) lib.symbols.close(captureFd);
    try {
      const rest = withoutDawnLog(Deno.readTextFileSync(capture));
      if (rest.trim()) Deno.stderr.writeSync(new TextEncoder().encode(rest.endsWith("\n") ? rest : rest + "\n"));
      Deno.removeSync(capture);
    } catch { /* nothing captured */ }
    lib.close();
  }
}
