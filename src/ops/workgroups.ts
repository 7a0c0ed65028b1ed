// A dispatch's workgroup counts (Gpu.dispatch's `workgroups`; a Grid3 of src/shape.ts is a token grid or a
// latent, never this): spreads a 1-D count of workgroups over x and y, since one dimension holds at most
// 65535. Shaders recover the linear id as wg.x + wg.y * 65535.
export const MAX_WG_X = 65535;

export function workgroups1d(count: number): [number, number] {
  if (count <= MAX_WG_X) return [count, 1];
  return [MAX_WG_X, Math.ceil(count / MAX_WG_X)];
}
