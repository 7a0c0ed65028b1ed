// Float64 reference of shaders/gated_gelu.wgsl: gelu_tanh(g) * u, element-wise.
import { geluTanhRef } from "./activation.ts";

export function gatedGeluRef(g: Float64Array, u: Float64Array): Float64Array {
  const a = geluTanhRef(g);
  return a.map((v, i) => v * u[i]);
}
