// Weights are parsed once (by the coordinator) and shared with every worker: all Float32Arrays of the
// weight tree are packed into one SharedArrayBuffer, and workers rebuild the same tree of views.

type Tree = Float32Array | null | number | string | boolean | Tree[] | { [k: string]: Tree };

export interface SharedTree {
  buffer: SharedArrayBuffer;
  /** The tree with every Float32Array replaced by { $f32: [elementOffset, length] }. */
  layout: unknown;
}

export function shareTree(tree: unknown): SharedTree {
  let total = 0;
  const count = (t: unknown): void => {
    if (t instanceof Float32Array) total += t.length;
    else if (Array.isArray(t)) t.forEach(count);
    else if (t && typeof t === "object") Object.values(t).forEach(count);
  };
  count(tree);
  const buffer = new SharedArrayBuffer(total * 4);
  const all = new Float32Array(buffer);
  let at = 0;
  const pack = (t: unknown): unknown => {
    if (t instanceof Float32Array) {
      all.set(t, at);
      at += t.length;
      return { $f32: [at - t.length, t.length] };
    }
    if (Array.isArray(t)) return t.map(pack);
    if (t && typeof t === "object") return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, pack(v)]));
    return t;
  };
  return { buffer, layout: pack(tree) };
}

export function unshareTree<T>(shared: SharedTree): T {
  const view = (t: unknown): unknown => {
    if (Array.isArray(t)) return t.map(view);
    if (t && typeof t === "object") {
      const f = (t as { $f32?: [number, number] }).$f32;
      if (f) return new Float32Array(shared.buffer, f[0] * 4, f[1]);
      return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, view(v)]));
    }
    return t;
  };
  return view(shared.layout) as T;
}
export type { Tree };
