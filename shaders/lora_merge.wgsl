// lora_merge: W[r, c] += scale * sum_k B[r, k] * A[k, c]   (a LoRA's low-rank update merged into a linear
// layer's weight, nn.Linear layout [out, in]; scale = the user's strength * alpha / rank). Always f32: the
// merge runs at load, before any f16 conversion of the weights (src/loaders/lora.ts).
// Bindings (f32; lengths in elements):
//   0 uniform Params { rows, cols, rank, scale }   (rows: this chunk's rows of W and of B)
//   1 w   read_write array<f32> [rows, cols]   (a row chunk of W, updated in place)
//   2 a   read       array<f32> [rank, cols]   (lora_A / lora_down, the same for every chunk)
//   3 b   read       array<f32> [rows, rank]   (the chunk's rows of lora_B / lora_up)
// One invocation owns one element of W and sums its rank products in f32 (rank <= a few hundred); a
// workgroup owns 256 consecutive elements, so its invocations read consecutive A entries and mostly one
// row of B. Dispatch: ceil(rows * cols / 256) workgroups spread over x and y (workgroup = x + y * 65535).

// @prelude

struct Params {
  rows: u32,
  cols: u32,
  rank: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> w: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = workgroup_index(wg) * WG + lid;
  if (i >= p.rows * p.cols) { return; }
  let r = i / p.cols;
  let c = i - r * p.cols;
  var acc = 0.0;
  for (var k = 0u; k < p.rank; k++) {
    acc += b[r * p.rank + k] * a[k * p.cols + c];
  }
  w[i] = w[i] + p.scale * acc;
}
