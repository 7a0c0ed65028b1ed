// rope3d: Wan's 3D rotary position embedding, in place on x [L, N, D] (Q or K of a token range).
// Row r is global token g = start + r (+ skip when r >= skipAt) of an (F', H', W') grid: the rows may be
// one range, or two ranges with a gap of `skip` tokens between them (the other devices' tokens around a
// shard, in the rows exchange). f slowest: f = g / (H'W'),
// h = (g / W') % H', w = g % W'. The head vector is [t part | h part | w part] with h = w = 2*floor(D/6)
// dims and t = D - h - w; adjacent pairs (x[2i], x[2i+1]) of a part rotate by that axis' angle:
// (x0 cos - x1 sin, x0 sin + x1 cos). cos/sin come from a host-built f64-exact table (src/ops/rope3d.ts),
// so the kernel does no transcendental math.
// Bindings:
//   0 uniform Params { pairs, N, start, W, HW, offH, offW, skipAt, skip }   pairs = L * N * D/2
//   1 x     read_write array<T>          [L, N, D]   (T = f16 or f32 by ${f16}; rotation in f32)
//   2 table read       array<vec2<f32>>  (cos, sin): t axis [F'][t/2], then h axis [H'][h/2] at offH,
//                                        then w axis [W'][w/2] at offW
// One invocation per pair; dispatch: ceil(pairs / 256) workgroups, split over y beyond 65535 (workgroups1d).
// Define: D (head dim, even).

// @prelude

struct Params {
  pairs: u32,
  N: u32,
  start: u32,
  W: u32,
  HW: u32,
  offH: u32,
  offW: u32,
  skipAt: u32,
  skip: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<T>;
@group(0) @binding(2) var<storage, read> table: array<vec2<f32>>;

const D: u32 = ${D}u;
const HALF: u32 = D / 2u;
const HD2: u32 = D / 6u;            // pairs of the h part (and of the w part)
const TD2: u32 = HALF - 2u * HD2;   // pairs of the t part
const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * WG;
  if (i >= p.pairs) { return; }
  let pair = i % HALF;
  let row = i / (HALF * p.N);
  let g = p.start + row + select(0u, p.skip, row >= p.skipAt);
  var idx: u32;
  if (pair < TD2) {
    idx = (g / p.HW) * TD2 + pair;
  } else if (pair < TD2 + HD2) {
    idx = p.offH + ((g / p.W) % (p.HW / p.W)) * HD2 + (pair - TD2);
  } else {
    idx = p.offW + (g % p.W) * HD2 + (pair - TD2 - HD2);
  }
  let cs = table[idx];
  let x0 = f32(x[2u * i]);
  let x1 = f32(x[2u * i + 1u]);
  x[2u * i] = T(x0 * cs.x - x1 * cs.y);
  x[2u * i + 1u] = T(x0 * cs.y + x1 * cs.x);
}
