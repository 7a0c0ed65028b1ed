// How a CLI run hears that it should stop: SIGINT (Ctrl-C), SIGTERM (kill, containers, supervisors) and
// SIGHUP (the terminal closed) are one event, and so is the death of bin/shardit.cjs, the Node wrapper that
// started this process (it forwards signals; if it is killed with SIGKILL nothing can be forwarded, so the
// wrapper's pid comes in SHARDIT_WRAPPER_PID and is watched). A terminal's Ctrl-C reaches deno twice (once
// from the terminal, once forwarded by the wrapper, once more under npx): signals within DEDUPE_MS of the
// last one count once, so "Ctrl-C again to quit at once" means a second press by a person.

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
const DEDUPE_MS = 400;

/**
 * Calls `handler(count, why)` on each interrupt (count 1 for the first, 2 for the next ...) until the
 * returned function is called. That function removes the listeners, and Deno (2.9) then restores each signal's
 * default action: a signal after it kills the process at once, even inside synchronous code. So a command
 * cleans up its outputs (OutputSet.close: staging, reference, lock) BEFORE calling it; a signal during that
 * cleanup waits for the handler, which ignores it (CI saw a group Ctrl-C leave the lock and reference behind).
 */
export function onInterrupt(handler: (count: number, why: string) => void): () => void {
  let count = 0, last = -Infinity;
  const fire = (why: string) => {
    const now = performance.now();
    if (now - last < DEDUPE_MS) return;
    last = now;
    handler(++count, why);
  };
  const listeners = SIGNALS.map((s) => [s, () => fire(s)] as const);
  for (const [s, l] of listeners) {
    try {
      Deno.addSignalListener(s, l);
    } catch { /* SIGHUP/SIGTERM are not listenable on Windows */ }
  }
  const wrapper = Number(Deno.env.get("SHARDIT_WRAPPER_PID") ?? NaN);
  let timer: ReturnType<typeof setInterval> | undefined;
  if (Number.isInteger(wrapper) && wrapper > 1) {
    timer = setInterval(() => {
      if (Deno.ppid !== wrapper) {
        clearInterval(timer);
        fire("the wrapper process ended");
        last = -Infinity; // nobody can press Ctrl-C again: a second interrupt, if wanted, is not deduplicated
      }
    }, 250);
    Deno.unrefTimer(timer as unknown as number);
  }
  return () => {
    for (const [s, l] of listeners) {
      try {
        Deno.removeSignalListener(s, l);
      } catch { /* not registered */ }
    }
    if (timer !== undefined) clearInterval(timer);
  };
}
