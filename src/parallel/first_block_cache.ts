// First-block caching's decision (diffusers' FirstBlockCache; the policy and its sources: src/pipeline/step_cache.ts),
// reduced over every device of one forwardMany: all shards of all groups, so both CFG branches (and every batch
// item) decide together and no device decides on its own tokens. Each device writes its partial sums into its
// slot of a shared buffer, waits until every device has, then adds the slots in slot order in Float64: the same
// numbers in the same order on every device, hence the same decision everywhere with no coordinator round trip.
//
// Buffer: Int32 [ARRIVED] (devices that wrote their slot), padding to 8 bytes, then Float64 [participants][3]:
// sum |r0 - r0_prev| over the device's real tokens, sum |r0_prev|, and 1 if the device had a previous residual.
import { abortRun, BarrierTimeout, RunAborted, runFailure, CANCELLED } from "./barrier.ts";

const HEADER = 8;
const FIELDS = 3;

export interface FirstBlockSums {
  /** sum |r0 - r0_prev| over this device's real tokens (every batch item). */
  diff: number;
  /** sum |r0_prev| over the same tokens. */
  base: number;
  /** false before the first computed step of this cache key. */
  hasPrev: boolean;
}

export interface FirstBlockDecision {
  /** Run blocks 1.. (true) or reuse their residual of the last computed step. */
  compute: boolean;
  /** sum diff / sum base over every participant (NaN before the first computed step). */
  distance: number;
}

/** diffusers' rule: compute when there is no previous residual or the relative L1 distance exceeds the threshold. */
export function firstBlockDecision(parts: FirstBlockSums[], threshold: number): FirstBlockDecision {
  let diff = 0, base = 0, hasPrev = parts.length > 0;
  for (const p of parts) {
    diff += p.diff;
    base += p.base;
    hasPrev &&= p.hasPrev;
  }
  if (!hasPrev) return { compute: true, distance: NaN };
  const distance = diff / base;
  // base 0 (an all-zero residual) gives NaN or Infinity: compute (diffusers' NaN > threshold would skip).
  return { compute: !(distance <= threshold), distance };
}

export function decisionBuffer(participants: number): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER + 8 * FIELDS * participants);
}

/** Writes a device's sums into its slot and counts it in; returns how many devices have arrived (it included). */
export function publishSums(buffer: SharedArrayBuffer, slot: number, participants: number, mine: FirstBlockSums): number {
  if (!(slot >= 0 && slot < participants)) throw new Error(`first-block cache: slot ${slot} of ${participants}`);
  const arrived = new Int32Array(buffer, 0, 1);
  new Float64Array(buffer, HEADER, FIELDS * participants).set([mine.diff, mine.base, mine.hasPrev ? 1 : 0], FIELDS * slot);
  const count = Atomics.add(arrived, 0, 1) + 1; // the add publishes the slot written before it
  if (count >= participants) Atomics.notify(arrived, 0);
  return count;
}

/**
 * Writes this device's sums into `slot`, waits (blocking this worker, like the barrier) until all `participants`
 * have written theirs, and returns the decision over all of them. Polls `control` (this device's run) so that a
 * failure or cancel anywhere in the forward stops the wait; past `timeoutMs` it fails the run naming the wait.
 */
export function decideTogether(
  buffer: SharedArrayBuffer,
  slot: number,
  participants: number,
  mine: FirstBlockSums,
  threshold: number,
  control: Int32Array,
  device: number,
  timeoutMs: number,
): FirstBlockDecision {
  const arrived = new Int32Array(buffer, 0, 1);
  const sums = new Float64Array(buffer, HEADER, FIELDS * participants);
  let count = publishSums(buffer, slot, participants, mine);
  const deadline = performance.now() + timeoutMs;
  while (count < participants) {
    const f = runFailure(control);
    if (f) throw new RunAborted(f.device === CANCELLED ? "run cancelled" : `run aborted${f.cause ? `: ${f.cause}` : ""}`);
    const left = deadline - performance.now();
    if (left <= 0) {
      const message = `${participants - count} of ${participants} devices did not reach the first-block cache's decision within ${timeoutMs} ms`;
      abortRun(control, device, message);
      throw new BarrierTimeout(message);
    }
    Atomics.wait(arrived, 0, count, Math.min(left, 20));
    count = Atomics.load(arrived, 0);
  }
  const parts: FirstBlockSums[] = [];
  for (let s = 0; s < participants; s++) parts.push({ diff: sums[FIELDS * s], base: sums[FIELDS * s + 1], hasPrev: sums[FIELDS * s + 2] === 1 });
  return firstBlockDecision(parts, threshold);
}
