// A barrier over SharedArrayBuffer for the workers of one sharded forward, with a timeout and an
// abort flag, so a dead or stuck device fails the run with its name instead of hanging it.
// Only workers block (Atomics.wait); the coordinator (possibly a browser main thread) only aborts.
//
// control: Int32Array [3 + devices]: ABORT (0/1), FAILED (device that failed, or -1), COUNT (arrivals
// so far, monotonic over the run), then ARRIVED[device] = the last sequence number that device reached.

const ABORT = 0, FAILED = 1, COUNT = 2, ARRIVED = 3;

export function controlBuffer(devices: number): Int32Array {
  const ctrl = new Int32Array(new SharedArrayBuffer(4 * (ARRIVED + devices)));
  ctrl[FAILED] = -1;
  return ctrl;
}

/** This device stopped because another device failed: that device's error is the one to report. */
export class RunAborted extends Error {}
/** A barrier wait ran out: names the devices that never arrived. */
export class BarrierTimeout extends Error {}

/** Marks the run failed because of `device` and wakes every waiting worker (never blocks). */
export function abortRun(ctrl: Int32Array, device: number): void {
  Atomics.compareExchange(ctrl, FAILED, -1, device);
  Atomics.store(ctrl, ABORT, 1);
  Atomics.add(ctrl, COUNT, 1 << 24);
  Atomics.notify(ctrl, COUNT);
}

export class ShardBarrier {
  constructor(
    private ctrl: Int32Array,
    private devices: number,
    private device: number,
    private timeoutMs: number,
    private deviceName: (d: number) => string = (d) => `device ${d}`,
  ) {}

  private checkAbort(): void {
    if (Atomics.load(this.ctrl, ABORT)) {
      const failed = Atomics.load(this.ctrl, FAILED);
      throw new RunAborted(`run aborted: ${failed >= 0 ? this.deviceName(failed) : "a device"} failed`);
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
        for (let d = 0; d < this.devices; d++) if (Atomics.load(this.ctrl, ARRIVED + d) < seq) late.push(this.deviceName(d));
        abortRun(this.ctrl, this.device);
        throw new BarrierTimeout(`${late.join(", ") || "a device"} did not reach ${what} within ${this.timeoutMs} ms`);
      }
      Atomics.wait(this.ctrl, COUNT, count, left);
      this.checkAbort();
      count = Atomics.load(this.ctrl, COUNT);
    }
  }
}
