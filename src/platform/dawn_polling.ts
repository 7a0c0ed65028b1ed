// How often dawn.node looks for finished GPU work while a promise of its waits (onSubmittedWorkDone, mapAsync,
// popErrorScope). Its AsyncRunner calls ProcessEvents and re-arms itself through the global setImmediate for
// as long as any such promise is pending: a busy loop on the JS thread for the whole wait. On a CPU adapter
// (bench/variants/dawn_wait.ts, bench/RESULTS.md "Dawn's polling") long dispatches took about twice the wall
// clock with the busy loop as with the polls through timers, because the loop took a core from the driver's
// threads. On a GPU the loop costs a core too (what else it costs there is not yet measured: bench/
// RESULTS.md "Behind the defaults").
//
// pollingScheduler keeps the busy loop for the first spinMs of a wait (short waits keep their latency: a
// timer costs 1-2 ms) and polls through setTimeout(0) after that. A wait is a chain of re-arms: the addon
// re-arms from inside the poll it is running, so a call from anywhere else starts a new wait.
// installDawnPolling puts it in place of this JS realm's setImmediate (each worker has its own realm).

/** The clock and queues the scheduler uses (real ones in installDawnPolling; fakes in its unit test). */
export interface PollingHost {
  now(): number;
  immediate(fn: () => void): unknown;
  timeout(fn: () => void): unknown;
}

/** Milliseconds of a wait that poll at once; later polls go through timers. */
export const DAWN_SPIN_MS = 1;

/** A setImmediate replacement: immediate for the first spinMs of a wait, then through timers. */
export function pollingScheduler(host: PollingHost, spinMs = DAWN_SPIN_MS): (fn: () => void) => unknown {
  let waitStart = 0, inPoll = false;
  return (fn) => {
    const t = host.now();
    if (!inPoll) waitStart = t; // not a re-arm from inside a poll: a new wait
    const poll = () => {
      inPoll = true;
      try {
        fn();
      } finally {
        inPoll = false;
      }
    };
    return t - waitStart < spinMs ? host.immediate(poll) : host.timeout(poll);
  };
}

type ImmediateGlobals = {
  setImmediate?: (fn: (...args: unknown[]) => void, ...args: unknown[]) => unknown;
  clearImmediate?: (handle: unknown) => void;
};

let installed = false;

/**
 * Replaces this realm's setImmediate (which dawn.node looks up on every re-arm) with the scheduler; other
 * callers keep working: arguments pass through, and clearImmediate clears either kind of handle. Once per
 * realm; a no-op where there is no setImmediate.
 */
export function installDawnPolling(spinMs = DAWN_SPIN_MS): void {
  const g = globalThis as unknown as ImmediateGlobals;
  const realImmediate = g.setImmediate, realClear = g.clearImmediate;
  if (installed || !realImmediate) return;
  installed = true;
  const timers = new WeakSet<object>();
  const schedule = pollingScheduler({
    now: () => performance.now(),
    immediate: (fn) => realImmediate(fn),
    timeout: (fn) => {
      const id = setTimeout(fn, 0);
      const handle = { id };
      timers.add(handle);
      return handle;
    },
  }, spinMs);
  g.setImmediate = (fn, ...args) => schedule(() => fn(...args));
  g.clearImmediate = (handle) => {
    if (handle && typeof handle === "object" && timers.has(handle)) clearTimeout((handle as { id: number }).id);
    else realClear?.(handle);
  };
}
