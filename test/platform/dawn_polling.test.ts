// Dawn's poll scheduler (src/platform/dawn_polling.ts) on a made-up clock: which polls of a wait stay
// immediate and which go through timers, and that the installed setImmediate still behaves as one.
import { installDawnPolling, pollingScheduler } from "../../src/platform/dawn_polling.ts";
import { expectEqual, test } from "../../src/selftest/harness.ts";

/**
 * Simulates dawn.node waiting: a wait starts with one schedule() from outside, and every poll re-arms from
 * inside itself until `polls` polls have run. Each poll advances the clock by the queue's delay (immediate
 * `stepMs`, timer `timerMs`). Returns how each poll was queued: "i" immediate, "t" timer.
 */
function simulate(waits: number[], opts: { spinMs?: number; stepMs?: number; timerMs?: number; gapMs?: number } = {}): string[] {
  const { spinMs = 1, stepMs = 0.25, timerMs = 1.5, gapMs = 0.1 } = opts;
  let now = 0;
  const queue: { fn: () => void; delay: number }[] = [];
  const schedule = pollingScheduler({
    now: () => now,
    immediate: (fn) => (queue.push({ fn, delay: stepMs }), "i"),
    timeout: (fn) => (queue.push({ fn, delay: timerMs }), "t"),
  }, spinMs);
  return waits.map((polls) => {
    const kinds: string[] = [];
    let left = polls;
    const poll = () => {
      if (--left > 0) kinds.push(schedule(poll) as string);
    };
    kinds.push(schedule(poll) as string);
    while (queue.length) {
      const next = queue.shift()!;
      now += next.delay;
      next.fn();
    }
    now += gapMs; // the next wait starts right after this one: back to back
    return kinds.join("");
  });
}

test("dawn polling: the first 1 ms of a wait polls at once, then through timers", () => {
  // Polls 0.25 ms apart while immediate: t = 0, 0.25, 0.5, 0.75 immediate, from t = 1 on timers.
  expectEqual("one long wait", simulate([8]), ["iiiitttt"]);
  expectEqual("a short wait", simulate([3]), ["iii"]);
}, { tags: ["dawn"] });

test("dawn polling: every wait starts immediate, even right after a long one", () => {
  // The second and third waits begin 0.1 ms after the previous ended: each is a new chain, so a short wait
  // right after a long one keeps its latency.
  expectEqual("three waits", simulate([8, 2, 6]), ["iiiitttt", "ii", "iiiitt"]);
  expectEqual("spinMs 0: every poll on timers", simulate([3, 2], { spinMs: 0 }), ["ttt", "tt"]);
}, { tags: ["dawn"] });

test("dawn polling: the installed setImmediate passes arguments, and clearImmediate cancels both kinds", async () => {
  installDawnPolling();
  const g = globalThis as unknown as { setImmediate(fn: (...a: unknown[]) => void, ...a: unknown[]): unknown; clearImmediate(h: unknown): void };
  const got: unknown[][] = [];
  await new Promise<void>((resolve) => g.setImmediate((a, b) => (got.push([a, b]), resolve()), 1, "two"));
  expectEqual("arguments", got, [[1, "two"]]);
  // A chain of re-arms longer than 1 ms reaches the timer path; then cancel one handle of each kind.
  const kinds = await new Promise<unknown[]>((resolve) => {
    const handles: unknown[] = [];
    const start = performance.now();
    const poll = () => {
      if (performance.now() - start < 3) handles.push(g.setImmediate(poll));
      else resolve(handles);
    };
    handles.push(g.setImmediate(poll));
  });
  const isTimer = (h: unknown) => typeof h === "object" && h !== null && "id" in h;
  expectEqual("the chain's first handle is setImmediate's, its last a timer's", [isTimer(kinds[0]), isTimer(kinds[kinds.length - 1])], [false, true]);
  let ran = 0;
  const outside = g.setImmediate(() => ran++); // a new wait: immediate
  g.clearImmediate(outside);
  let timerRan = 0;
  await new Promise<void>((resolve) => {
    const start = performance.now();
    let h: unknown = null;
    const poll = () => {
      if (performance.now() - start < 2) h = g.setImmediate(poll);
      else {
        h = g.setImmediate(() => timerRan++); // a re-arm past 1 ms: a timer
        g.clearImmediate(h);
        setTimeout(resolve, 20);
      }
    };
    h = g.setImmediate(poll);
  });
  expectEqual("cancelled callbacks did not run (immediate, timer)", [ran, timerRan], [0, 0]);
}, { tags: ["dawn"], hosts: ["deno"] });
