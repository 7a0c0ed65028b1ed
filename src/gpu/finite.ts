// NaN and infinity never pass silently: inputs are checked before a run, each device's output after its
// forward. A non-finite value is an error naming what holds it, how many there are and where the first is.
// (In f16, activations past 65504 overflow to infinity: the usual cause, and the hint says so.)

/** How many values of `values` are NaN or ±Infinity, and the index of the first; null when all are finite. */
export function findNonFinite(values: ArrayLike<number>): { count: number; first: number } | null {
  let count = 0, first = -1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v - v !== 0) { // false for every finite number, true for NaN and ±Infinity
      if (first < 0) first = i;
      count++;
    }
  }
  return count ? { count, first } : null;
}

export interface FiniteWhere {
  /** Values per row: positions are reported as (row, column) instead of a flat index. */
  width?: number;
  /** What rows are (e.g. "token") and the global index of row 0. */
  rowName?: string;
  firstRow?: number;
  /** Appended to the message (e.g. the f16 overflow hint). */
  hint?: string;
}

/** Throws `${what} has N non-finite values (first NaN at ...)` when any value is NaN or ±Infinity. */
export function assertFinite(values: ArrayLike<number>, what: string, where: FiniteWhere = {}): void {
  const bad = findNonFinite(values);
  if (!bad) return;
  const v = values[bad.first];
  const at = where.width
    ? `${where.rowName ?? "row"} ${(where.firstRow ?? 0) + Math.floor(bad.first / where.width)}, column ${bad.first % where.width}`
    : `index ${bad.first}`;
  const plural = bad.count === 1 ? "value" : "values";
  throw new Error(`${what} has ${bad.count} non-finite ${plural} (first ${v} at ${at})${where.hint ? `; ${where.hint}` : ""}`);
}

/** The hint for a non-finite output in a run of precision `dtype`. */
export function overflowHint(dtype: string): string | undefined {
  return dtype === "f16" ? "f16 activations overflow past 65504; --precision f32 avoids it" : undefined;
}
