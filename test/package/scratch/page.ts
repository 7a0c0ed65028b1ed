// A page importing shardit by package name, built with Vite (test/package/run-package.mjs): it plans,
// starts a pool of one device worker (the worker is bundled from the package) and reports what it saw.
import { createPool, loadModel, shardPlan, TOL } from "shardit";

declare global {
  interface Window { __shardit_package?: Promise<Record<string, unknown>> }
}

window.__shardit_package = (async () => {
  const plan = shardPlan({ F: 3, H: 6, W: 10 }, 3);
  const pool = await createPool({ devices: 1 });
  try {
    return { shards: plan.shards.map((s) => s.end - s.start), adapters: pool.adapters().length, tol: TOL.model.f32, loadModel: typeof loadModel };
  } finally {
    await pool.close();
  }
})();
window.__shardit_package.then((r) => (document.getElementById("out")!.textContent = JSON.stringify(r)));
