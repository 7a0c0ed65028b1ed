// Per-dispatch GPU time (profile mode): each dispatch gets its own compute pass with timestamp writes into a
// query set; at each submit the recorded pairs are resolved and read back, and the milliseconds accumulate
// per op name. Costs one pass per dispatch, so only when asked (GpuOptions.profile) and where the adapter
// has timestamp-query.

const QUERY_PAIRS = 2048; // 4096 timestamps per query set

export class Profiler {
  /** Accumulated GPU milliseconds per op name. */
  readonly opTimes = new Map<string, { ms: number; count: number }>();
  private querySet: GPUQuerySet | null = null;
  private resolveBuffer: GPUBuffer | null = null;
  private ops: string[] = [];
  private pending: Promise<void>[] = [];

  constructor(private readonly device: GPUDevice) {}

  /** Whether the query set is full: resolve (submitRecorded) before the next pass. */
  get full(): boolean {
    return this.ops.length >= QUERY_PAIRS;
  }

  /** The timestamp writes of the next pass, which runs `op`. */
  timestampWrites(op: string): GPUComputePassTimestampWrites {
    this.querySet ??= this.device.createQuerySet({ type: "timestamp", count: QUERY_PAIRS * 2 });
    const i = this.ops.length;
    this.ops.push(op);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Whether passes were timed since the last resolve. */
  get recorded(): boolean {
    return this.ops.length > 0;
  }

  /**
   * Appends to `enc` (whose passes are ended) the resolve of the recorded timestamps and their copy to a
   * staging buffer; once the caller has submitted `enc`, `afterSubmit` maps it and adds the times.
   */
  resolveInto(enc: GPUCommandEncoder): () => void {
    if (!this.querySet || this.ops.length === 0) return () => {};
    const n = this.ops.length * 2;
    const ops = this.ops;
    this.ops = [];
    this.resolveBuffer ??= this.device.createBuffer({ size: QUERY_PAIRS * 2 * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    const staging = this.device.createBuffer({ size: n * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    enc.resolveQuerySet(this.querySet, 0, n, this.resolveBuffer, 0);
    enc.copyBufferToBuffer(this.resolveBuffer, 0, staging, 0, n * 8);
    return () => {
      this.pending.push(
        staging.mapAsync(GPUMapMode.READ).then(() => {
          const t = new BigInt64Array(staging.getMappedRange());
          ops.forEach((op, i) => {
            const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
            const acc = this.opTimes.get(op) ?? { ms: 0, count: 0 };
            acc.ms += ms > 0 && ms < 1e6 ? ms : 0;
            acc.count++;
            this.opTimes.set(op, acc);
          });
          staging.destroy();
        }),
      );
    };
  }

  /** Waits for the times of everything resolved so far. */
  async settle(): Promise<void> {
    await Promise.all(this.pending);
    this.pending = [];
  }

  /** GPU time per op, sorted by time. */
  table(): { op: string; ms: number; count: number }[] {
    return [...this.opTimes].map(([op, v]) => ({ op, ...v })).sort((a, b) => b.ms - a.ms);
  }

  destroy(): void {
    this.querySet?.destroy();
    this.resolveBuffer?.destroy();
  }
}
