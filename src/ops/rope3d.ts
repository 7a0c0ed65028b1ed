// rope3d: Wan's 3D rotary embedding in place on x [L, N, D] for tokens start .. start+L-1 of an
// (F', H', W') grid, or for two ranges: with `gap`, rows from gap.at on are `gap.tokens` further on.
// The cos/sin tables are computed here in float64 (angles p / 10000^(2j/a)) and
// uploaded once per (grid, D) per Gpu, so the kernel matches the float64 reference to f32 rounding.
import type { Gpu } from "../gpu/device.ts";
import { type Grid3, gridSize } from "../shape.ts";
import { type Tensor } from "../gpu/tensor.ts";
import { workgroups1d } from "./workgroups.ts";

/** Dims of the [t | h | w] parts of a head of dim D (diffusers' WanRotaryPosEmbed split). */
export function ropeSplit(D: number): { t: number; h: number; w: number } {
  const h = 2 * Math.floor(D / 6);
  return { t: D - 2 * h, h, w: h };
}

export interface RopeTables {
  /** (cos, sin) pairs: t axis [F][t/2], then h axis [H][h/2] from offH, then w axis [W][w/2] from offW (in pairs). */
  data: Float32Array;
  offH: number;
  offW: number;
}

/** Per-axis cos/sin tables for positions 0..extent-1, computed in float64. */
export function ropeTables(grid: Grid3, D: number, theta = 10000): RopeTables {
  const split = ropeSplit(D);
  const axes: [number, number][] = [[grid.F, split.t], [grid.H, split.h], [grid.W, split.w]];
  const total = axes.reduce((s, [n, a]) => s + n * (a / 2), 0);
  const data = new Float32Array(2 * total);
  let o = 0;
  const offs: number[] = [];
  for (const [n, a] of axes) {
    offs.push(o);
    for (let pos = 0; pos < n; pos++) {
      for (let j = 0; j < a / 2; j++) {
        const angle = pos / theta ** ((2 * j) / a);
        data[2 * o] = Math.cos(angle);
        data[2 * o + 1] = Math.sin(angle);
        o++;
      }
    }
  }
  return { data, offH: offs[1], offW: offs[2] };
}

interface UploadedTable {
  tensor: Tensor;
  offH: number;
  offW: number;
}
/** Uploaded tables per Gpu, keyed by grid and D (a few KiB each; they live as long as the Gpu). */
const tableCache = new WeakMap<Gpu, Map<string, UploadedTable>>();

function tableTensor(gpu: Gpu, grid: Grid3, D: number): UploadedTable {
  let cache = tableCache.get(gpu);
  if (!cache) tableCache.set(gpu, cache = new Map());
  const key = `${grid.F},${grid.H},${grid.W},${D}`;
  let hit = cache.get(key);
  if (!hit) {
    const tab = ropeTables(grid, D);
    hit = { tensor: gpu.upload(tab.data, [tab.data.length], "f32", "rope table"), offH: tab.offH, offW: tab.offW };
    gpu.pin(hit.tensor); // cached: a run that fails after creating it must not give it back with its scratch
    cache.set(key, hit);
  }
  return hit;
}

/** Rows from `at` on sit `tokens` positions further on in the grid (the rows skip a range of tokens). */
export interface RopeGap {
  at: number;
  tokens: number;
}

export function rope3d(gpu: Gpu, x: Tensor, grid: Grid3, start: number, gap: RopeGap = { at: 0, tokens: 0 }): void {
  // 1. validate
  if (x.shape.length !== 3) throw new Error(`rope3d: x must be [L, N, D], found [${x.shape}]`);
  const [L, N, D] = x.shape;
  if (D % 2 !== 0 || D < 6) throw new Error(`rope3d: head dim ${D} must be even and at least 6`);
  for (const [k, n] of Object.entries(grid)) if (!Number.isInteger(n) || n <= 0) throw new Error(`rope3d: grid ${k} must be a positive integer, got ${n}`);
  if (!Number.isInteger(gap.at) || !Number.isInteger(gap.tokens) || gap.at < 0 || gap.tokens < 0) {
    throw new Error(`rope3d: gap must be non-negative integers, got at ${gap.at}, tokens ${gap.tokens}`);
  }
  const tokens = gridSize(grid);
  const last = start + L - 1 + (gap.at < L ? gap.tokens : 0);
  if (!Number.isInteger(start) || start < 0 || last >= tokens) {
    throw new Error(`rope3d: rows ${start}..${last} are outside the ${grid.F}x${grid.H}x${grid.W} grid (${tokens} tokens)`);
  }
  // 2. pipeline key: dtype and head dim
  const kernel = gpu.kernel("rope3d", { f16: x.dtype === "f16", D });
  const tab = tableTensor(gpu, grid, D);
  // 3. uniforms  4. dispatch: one invocation per rotated pair
  const pairs = (L * N * D) / 2;
  const params = { pairs, N, start, W: grid.W, HW: grid.H * grid.W, offH: tab.offH, offW: tab.offW, skipAt: gap.at, skip: gap.tokens };
  gpu.dispatch(kernel, params, [x, tab.tensor], workgroups1d(Math.ceil(pairs / 256)));
}
