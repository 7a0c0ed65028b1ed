// A barrier over SharedArrayBuffer for the workers of one sharded forward, with a timeout and an
// abort flag, so a dead or stuck device fails the run with its name instead of hanging it.
// Only workers block (Atomics.wait); the coordinator (possibly a browser main thread) only aborts.
//
// control: Int32Array [3 + devices + CAUSE_WORDS]: ABORT (0/1), FAILED (device that failed, or -1),
// COUNT (arrivals so far, monotonic over the run), ARRIVED[device] = the last sequence number that
// device reached, then the failure's cause: its UTF-8 byte length, then the bytes (truncated to fit).
// The cause travels in shared memory, not in a message, so every device and the coordinator can report
// the failing device's own error at once, whatever order the workers' messages arrive in.

const ABORT = 0, FAILED = 1, COUNT = 2, ARRIVED = 3;
/** Room for the cause: one length word, then up to 1020 bytes of UTF-8. */
const CAUSE_WORDS = 256;

export function controlBuffer(devices: number): Int32Array {
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * (ARRIVED + devices + CAUSE_WORDS)));
  ctrl[FAILED] = -1;
  return ctrl;
}

/** FAILED's value when the coordinator cancelled the run (no device failed). */
export const CANCELLED = -2;

/** This device stopped because another device failed: that device's error is the one to report. */
export class RunAborted extends Error {}
/** A barrier wait ran out: names the devices that never arrived. */
export class BarrierTimeout extends Error {}

function causeStart(ctrl: Int32Array): number {
  return ctrl.length - CAUSE_WORDS;
}

/**
 * Marks the run failed because of `device` (or CANCELLED) and wakes every waiting worker (never blocks).
 * The first caller wins: its device and cause are the ones every other device and the coordinator report.
 */
export function abortRun(ctrl: Int32Array, device: number, cause = ""): void {
  if (Atomics.compareExchange(ctrl, FAILED, -1, device) === -1 && cause) {
    const at = causeStart(ctrl);
    const room = new Uint8Array(ctrl.buffer, ctrl.byteOffset + 4 * (at + 1), 4 * (CAUSE_WORDS - 1));
    // Browsers refuse to encode into shared memory: encode (whole characters only, truncated to fit), then copy.
    const bytes = new Uint8Array(room.length);
    const { written } = new TextEncoder().encodeInto(cause, bytes);
    room.set(bytes.subarray(0, written));
    Atomics.store(ctrl, at, written); // published before ABORT, so a reader who sees ABORT sees the cause
  }
  Atomics.store(ctrl, ABORT, 1);
  Atomics.add(ctrl, COUNT, 1 << 24);
  Atomics.notify(ctrl, COUNT);
}

/** The device that failed the run and its cause ("" when it gave none), or null if the run was not aborted. */
export function runFailure(ctrl: Int32Array): { device: number; cause: string } | null {
  if (!Atomics.load(ctrl, ABORT)) return null;
  const at = causeStart(ctrl);
  const bytes = Atomics.load(ctrl, at);
  // TextDecoder refuses views of shared memory: copy the bytes out first.
  const cause = new TextDecoder().decode(new Uint8Array(ctrl.buffer, ctrl.byteOffset + 4 * (at + 1), bytes).slice());
  return { device: Atomics.load(ctrl, FAILED), cause };
}

export class ShardBarrier {
  constructor(
    private ctrl: Int32Array,
    private devices: number,
    private device: number,
    private timeoutMs: number,
    private deviceName: (d: number) => string = (d) => `device ${d}`,
    /** The pool's device id of each of the `devices` barrier places (a CFG-parallel group; default 0..devices-1):
     * `device` is the place, the failure words and deviceName take pool ids. */
    private members?: number[],
  ) {}

  private id(place: number): number {
    return this.members ? this.members[place] : place;
  }

  private checkAbort(): void {
    const f = runFailure(this.ctrl);
    if (f) {
      if (f.device === CANCELLED) throw new RunAborted(`run cancelled${f.cause ? `: ${f.cause}` : ""}`);
      const who = f.device >= 0 ? this.deviceName(f.device) : "a device";
      throw new RunAborted(`run aborted: ${who} failed${f.cause ? `: ${f.cause}` : ""}`);
    }
  }

  /** Blocks until every device has arrived at sequence number `seq` (1, 2, ... within a run). */
  arrive(seq: number, what: string): void {
    this.checkAbort();
    Atomics.store(this.ctrl, ARRIVED + this.device, seq);
    const target = seq * this.devices;
    let count = Atomics.add(this.ctrl, COUNT, 1) + 1;
    if (count >= target) {
      Atomics.notify(this.ctrl, COUNT);
      return;
    }
    const deadline = performance.now() + this.timeoutMs;
    while (count < target) {
      const left = deadline - performance.now();
      if (left <= 0) {
        const late = [];
        for (let d = 0; d < this.devices; d++) if (Atomics.load(this.ctrl, ARRIVED + d) < seq) late.push(this.deviceName(this.id(d)));
        const message = `${late.join(", ") || "a device"} did not reach ${what} within ${this.timeoutMs} ms`;
        abortRun(this.ctrl, this.id(this.device), message);
        throw new BarrierTimeout(message);
      }
      Atomics.wait(this.ctrl, COUNT, count, left);
      this.checkAbort();
      count = Atomics.load(this.ctrl, COUNT);
    }
  }
}
