// `npm test`: the Deno suite (lavapipe), the browser suite (Chromium + SwiftShader), the end-to-end
// suites and the packed package imported by name from a scratch project (test/package), then one line
// `N passed, N failed, N skipped` over everything that ran.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "shardit-test-"));
const env = { XDG_RUNTIME_DIR: "/tmp", ...process.env };
const suites = [
  ["deno", ["bin/deno.cjs", "run", "-A", "test/run-deno.ts", "--json", join(dir, "deno.json")]],
  ["browser", ["test/run-browser.mjs", "--json", join(dir, "browser.json")]],
  ...(existsSync("test/e2e/run-e2e.mjs") ? [["e2e", ["test/e2e/run-e2e.mjs", "--json", join(dir, "e2e.json")]]] : []),
  ["package", ["test/package/run-package.mjs", "--json", join(dir, "package.json")]],
];

// The Dawn pass (--webgpu dawn: the webgpu package, f16 and subgroups): the whole Deno suite again on Dawn
// (about 3.5 minutes on 2 cores with src/platform/dawn_polling.ts; it ran a kernel and model subset before).
// Dawn finds no adapter on Debian 12's Mesa 22 lavapipe, so it runs where SHARDIT_DAWN_VK_ICD names the ICD
// json of a Vulkan driver that Dawn accepts (Mesa 25's lavapipe: .ci/run unpacks it privately from
// bookworm-backports, so the suites above keep the system Mesa). Elsewhere it is reported as not run, never
// as passed.
const dawnIcd = process.env.SHARDIT_DAWN_VK_ICD;
if (dawnIcd) {
  suites.push(["dawn", ["bin/deno.cjs", "run", "-A", "test/run-deno.ts", "--json", join(dir, "dawn.json")],
    { SHARDIT_WEBGPU: "dawn", VK_DRIVER_FILES: dawnIcd }]);
} else {
  console.log("dawn suite not run: set SHARDIT_DAWN_VK_ICD to a Vulkan ICD json Dawn accepts (Mesa 25 lavapipe; .ci/run does)");
}

const shaders = spawnSync("node", ["bin/deno.cjs", "run", "-A", "tools/embed-shaders.ts", "--check"], { stdio: "inherit", env });
let passed = 0, failed = shaders.status === 0 ? 0 : 1, skipped = 0;
for (const [name, args, extraEnv] of suites) {
  console.log(`\n=== ${name} suite ===`);
  const r = spawnSync("node", args, { stdio: "inherit", env: { ...env, ...extraEnv } });
  const json = join(dir, `${name}.json`);
  if (existsSync(json)) {
    const s = JSON.parse(readFileSync(json, "utf8"));
    passed += s.passed; failed += s.failed; skipped += s.skipped;
    if (r.status !== 0 && s.failed === 0) failed++; // crashed after writing its summary
  } else {
    console.error(`${name} suite exited with status ${r.status} without a summary`);
    failed++;
  }
}
console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
