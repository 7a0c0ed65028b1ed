// The buffer pool of one Gpu: storage buffers handed out by size bucket and taken back for reuse, the set
// handed out now (a failed run gives back everything it took since a mark), and the buffers caches pin for
// the Gpu's lifetime. Allocation failures are reported through `onError` (Gpu.sync throws the first one).

/** Pool buckets: powers of two up to 1 MiB, then steps of 1/8 of the power of two (<= 12.5% waste). */
export function bucketSize(bytes: number): number {
  const p = 2 ** Math.ceil(Math.log2(bytes));
  if (p <= 1 << 20) return p;
  const step = p / 16;
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private live = new Set<GPUBuffer>();
  /** Buffers that caches keep for the Gpu's lifetime (rope3d's tables): never a run's scratch. */
  private pinned = new Set<GPUBuffer>();

  /**
   * `label` names the device in buffer labels; `onError` gets an out-of-memory message (asynchronous);
   * `tooBig(size, what)` returns the error to throw for a size over the adapter's maxBufferSize.
   */
  constructor(
    private readonly device: GPUDevice,
    private readonly label: string,
    private readonly maxBufferSize: number,
    private readonly onError: (message: string) => void,
    private readonly tooBig: (size: number, what: string) => Error,
  ) {}

  /** A storage buffer of at least `bytes` (sizes rounded to buckets so reuse hits). */
  acquire(bytes: number, what = "buffer"): GPUBuffer {
    const size = bucketSize(Math.max(bytes, 16));
    if (size > this.maxBufferSize) throw this.tooBig(size, what);
    const buf = this.free.get(size)?.pop() ?? this.create(size, what);
    this.live.add(buf);
    return buf;
  }

  /** Takes a buffer back. Safe while queued work still uses it (the queue orders). */
  release(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) return;
    const list = this.free.get(buf.size) ?? [];
    list.push(buf);
    this.free.set(buf.size, list);
  }

  /**
   * Destroys a handed-out buffer instead of pooling it: for memory that nothing will reuse at that size (a text
   * encoder's weights, given back before the DiT loads). The caller submits the work that uses it first.
   */
  discard(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) return;
    this.pinned.delete(buf);
    buf.destroy();
  }

  /** Bytes in the pool's buffers, handed out or free (what this pool holds of the device's memory). */
  get heldBytes(): number {
    let n = 0;
    for (const b of this.live) n += b.size;
    for (const list of this.free.values()) for (const b of list) n += b.size;
    return n;
  }

  /** How many buffers are handed out now. */
  get liveCount(): number {
    return this.live.size;
  }

  /** The buffers handed out now (for releaseSince). */
  mark(): ReadonlySet<GPUBuffer> {
    return new Set(this.live);
  }

  /** Takes back every buffer handed out after `mark`, except pinned ones. */
  releaseSince(mark: ReadonlySet<GPUBuffer>): void {
    for (const b of [...this.live]) if (!mark.has(b) && !this.pinned.has(b)) this.release(b);
  }

  /** Keeps `buf` out of releaseSince for the pool's lifetime. */
  pin(buf: GPUBuffer): void {
    this.pinned.add(buf);
  }

  private create(size: number, what: string): GPUBuffer {
    this.device.pushErrorScope("out-of-memory");
    const buffer = this.device.createBuffer({
      label: `${this.label} ${what}`,
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.device.popErrorScope().then((e) => {
      if (e) this.onError(`${this.label}: out of GPU memory allocating ${size} bytes for ${what}: ${e.message}`);
    });
    return buffer;
  }

  /** Destroys every buffer, free or handed out. */
  destroy(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    for (const b of this.live) b.destroy();
    this.free.clear();
    this.live.clear();
  }
}
