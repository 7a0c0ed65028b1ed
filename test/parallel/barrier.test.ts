// The run's control words (barrier.ts), without GPUs or workers: an abort carries the failing device
// and its cause in shared memory, the first abort wins, and a barrier on an aborted run reports both.
// Regression: the browser crash test once got "device 0: run aborted: device 1 failed" because device 1's
// own message arrived after the coordinator's grace period; the cause now travels with the abort.
import { abortRun, BarrierTimeout, controlBuffer, RunAborted, runFailure, ShardBarrier } from "../../src/parallel/barrier.ts";
import { expectEqual, test } from "../../src/selftest/harness.ts";


function thrown(fn: () => void): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected an error, got none");
}

test("barrier: a run that was not aborted has no failure", () => {
  expectEqual("failure", runFailure(controlBuffer(3)), null);
});

test("barrier: the first abort's device and cause win, later aborts keep them", () => {
  const ctrl = controlBuffer(4);
  abortRun(ctrl, 2, "device 2 was lost: out of memory");
  abortRun(ctrl, 0, "a later failure");
  expectEqual("failure", runFailure(ctrl), { device: 2, cause: "device 2 was lost: out of memory" });
});

test("barrier: an abort without a cause (the coordinator's) names the device only", () => {
  const ctrl = controlBuffer(2);
  abortRun(ctrl, 1);
  expectEqual("failure", runFailure(ctrl), { device: 1, cause: "" });
});

test("barrier: a long multi-byte cause is cut at a character boundary, as a prefix", () => {
  const ctrl = controlBuffer(5);
  const cause = "é€😀x".repeat(200); // 2-, 3-, 4- and 1-byte characters, 2000 bytes in all
  abortRun(ctrl, 3, cause);
  const got = runFailure(ctrl)!.cause;
  if (got.length === 0 || !cause.startsWith(got)) throw new Error(`cause is not a non-empty prefix: ${JSON.stringify(got.slice(-8))}`);
  if (got.includes("\uFFFD")) throw new Error("cause was cut inside a character");
  const bytes = new TextEncoder().encode(got).length;
  if (bytes > 1020 || bytes < 1020 - 3) throw new Error(`cause keeps ${bytes} bytes, expected 1017..1020`);
});

test("barrier: arriving at an aborted run throws RunAborted naming the failing device and its cause", () => {
  const ctrl = controlBuffer(3);
  abortRun(ctrl, 1, "simulated device failure");
  const barrier = new ShardBarrier(ctrl, 3, 0, 1000, (d) => `device ${d} (test adapter)`);
  const e = thrown(() => barrier.arrive(1, "the K/V exchange of layer 0"));
  if (!(e instanceof RunAborted)) throw new Error(`expected RunAborted, got ${e.constructor.name}: ${e.message}`);
  expectEqual("message", e.message, "run aborted: device 1 (test adapter) failed: simulated device failure");
});

// Atomics.wait may block a Deno thread but not a browser page's main thread, where these tests run.
test("barrier: a wait that runs out aborts the run naming the late devices", () => {
  const ctrl = controlBuffer(2);
  const e = thrown(() => new ShardBarrier(ctrl, 2, 0, 50).arrive(1, "the K/V exchange of layer 0")); // device 1 never comes
  if (!(e instanceof BarrierTimeout)) throw new Error(`expected BarrierTimeout, got ${e.constructor.name}: ${e.message}`);
  expectEqual("message", e.message, "device 1 did not reach the K/V exchange of layer 0 within 50 ms");
  expectEqual("failure", runFailure(ctrl), { device: 0, cause: e.message });
}, { hosts: ["deno"] });
