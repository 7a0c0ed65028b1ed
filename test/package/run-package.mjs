// The package as a user gets it: `npm pack` (the prepare script builds lib/), the tarball unpacked into a scratch
// project's node_modules/shardit, then imported BY NAME ("shardit", "shardit/deno") from a Deno script
// (forward of the wan-tiny golden fixture over 2 devices, the denoising loop cancelled by an AbortSignal,
// `deno check` of the script against the package's types), from a page built with Vite (served cross-origin
// isolated and opened in Chromium: the pool's worker comes out of the package), and through its bin.
// Offline: the scratch project's other node_modules entries link to this checkout's (what `npm ci`
// installed), so nothing is fetched; npm itself would fetch the dependencies' metadata to lay them out.
// Usage: node test/package/run-package.mjs [--json out.json] [--keep]
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "../chromium.mjs";
import { checkRunner } from "../checks.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const args = process.argv.slice(2);
const jsonPath = args.includes("--json") ? args[args.indexOf("--json") + 1] : "";
const env = { XDG_RUNTIME_DIR: "/tmp", ...process.env };
const { check, finish } = checkRunner("package");

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

/** Runs a command; throws with its output's tail when it fails. */
function run(cmd, argv, opts) {
  const r = spawnSync(cmd, argv, { encoding: "utf8", env, maxBuffer: 64 << 20, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(" ")} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout || "").trim().split("\n").slice(-8).join(" | ")}`);
  return r.stdout;
}

const tmp = mkdtempSync(join(tmpdir(), "shardit-package-"));
const scratch = join(tmp, "scratch");
const deno = (...a) => run("node", [join(root, "bin/deno.cjs"), ...a], { cwd: scratch });

await check("npm pack (prepare builds lib/) and the tarball unpacked into a scratch project", () => {
  const out = run("npm", ["pack", "--silent", "--pack-destination", tmp], { cwd: root });
  const tarball = join(tmp, out.trim().split("\n").pop());
  const files = execFileSync("tar", ["-tzf", tarball], { encoding: "utf8" }).split("\n");
  for (const f of ["package/package.json", "package/lib/index.js", "package/lib/deno.js", "package/lib/parallel/worker.js", "package/src/index.ts", "package/bin/shardit.cjs"]) {
    expect(files.includes(f), `the tarball has no ${f.slice(8)}`);
  }
  expect(!files.some((f) => f.startsWith("package/test/")), "the tarball carries test/");
  mkdirSync(join(scratch, "node_modules"), { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", tmp]);
  renameSync(join(tmp, "package"), join(scratch, "node_modules", "shardit"));
  // The other packages, as npm would lay out the dependencies (and a page's vite) from the lockfile's set.
  for (const name of readdirSync(join(root, "node_modules"))) {
    if (name === "shardit" || name.startsWith(".")) continue;
    symlinkSync(join(root, "node_modules", name), join(scratch, "node_modules", name));
  }
  writeFileSync(join(scratch, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module", dependencies: { shardit: "0.1.0" }, devDependencies: { vite: "*" } }, null, 2));
  writeFileSync(join(scratch, "deno.json"), JSON.stringify({ nodeModulesDir: "manual" }, null, 2));
  cpSync(join(root, "test/package/scratch"), scratch, { recursive: true });
}, { fatal: true });

await check('Deno: `deno check` of a script importing "shardit" and "shardit/deno" against the package types', () => {
  deno("check", "deno_main.ts");
});

await check("Deno: forward of wan-tiny over 2 devices == diffusers, generate cancelled by its AbortSignal after step 1", () => {
  const out = deno("run", "-A", "deno_main.ts", join(root, "test/fixtures/wan-tiny"));
  const r = JSON.parse(out.trim().split("\n").pop());
  expect(r.forward?.relL2 <= r.tol && r.tol === 1e-4, `forward relative L2 ${r.forward?.relL2} (bound ${r.tol})`);
  expect(JSON.stringify(r.forward.shards) === "[[0,23],[23,45]]", `forward shards ${JSON.stringify(r.forward.shards)}, expected [[0,23],[23,45]] (45 tokens over 2)`);
  expect(r.plan === 15, `frame plan of 3 x 3 x 5 tokens on 2 devices pads ${r.plan} tokens, expected 15 (one frame)`);
  expect(r.generate === "PoolCancelled: generation cancelled", `generate: ${r.generate}`);
  expect(JSON.stringify(r.steps) === "[0]", `progress reported steps ${JSON.stringify(r.steps)}, expected [0] then the cancel`);
});

await check("the package's bin from node_modules: `shardit plan`, and `shardit generate` on 2 devices", () => {
  const bin = join(scratch, "node_modules/shardit/bin/shardit.cjs");
  const out = run("node", [bin, "plan", "--latent", "3,6,10", "--devices", "2", "--shard", "sequence"], { cwd: scratch });
  const plan = JSON.parse(out);
  expect(plan.tokens === 45 && plan.shards.map((s) => s.end).join() === "23,45", `plan ${out.replace(/\s+/g, " ")}`);
  run("node", [bin, "generate", "--steps", "1", "--devices", "2", "--latent", "1,4,6", "--out", join(tmp, "generated")], { cwd: scratch });
  const summary = JSON.parse(readFileSync(join(tmp, "generated", "summary.json"), "utf8"));
  expect(summary && readdirSync(join(tmp, "generated")).includes("latents.safetensors"), `generate wrote ${readdirSync(join(tmp, "generated")).join(", ")}`);
});

await check("the package's bin from node_modules: `shardit selftest` finds its goldens (the package carries no test/)", () => {
  const bin = join(scratch, "node_modules/shardit/bin/shardit.cjs");
  const out = run("node", [bin, "selftest", "--filter", "golden"], { cwd: scratch });
  const summary = out.trim().split("\n").pop();
  const m = /^selftest: (\d+) passed, (\d+) failed/.exec(summary);
  expect(m && Number(m[1]) >= 4 && m[2] === "0", `selftest --filter golden: ${summary}`);
});

let built = "";
await check('Vite: `vite build` of a page importing "shardit" (the worker bundled out of the package)', async () => {
  const vite = await import("vite");
  built = join(scratch, "dist");
  await vite.build({ root: scratch, configFile: false, logLevel: "warn", worker: { format: "es" }, build: { outDir: built, target: "es2022" } });
  const assets = readdirSync(join(built, "assets"));
  const js = assets.filter((f) => f.endsWith(".js")).map((f) => readFileSync(join(built, "assets", f), "utf8"));
  expect(js.some((t) => t.includes("@compute")), `no bundle carries the WGSL shaders (assets: ${assets.join(", ")})`);
  expect(js.length >= 2, `expected the page and the worker as separate bundles, found ${assets.join(", ")}`);
}, { fatal: true });

await check("Vite: the built page runs in Chromium (cross-origin isolated): plan and a pool of one device", async () => {
  const vite = await import("vite");
  const isolation = { "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" };
  const server = await vite.preview({ root: scratch, configFile: false, logLevel: "error", preview: { port: 0, host: "127.0.0.1", headers: isolation }, build: { outDir: built } });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(server.resolvedUrls.local[0]);
    const r = await page.evaluate(() => window.__shardit_package);
    expect(errors.length === 0, `page errors: ${errors.join("; ")}`);
    expect(JSON.stringify(r.shards) === "[15,15,15]" && r.adapters === 1 && r.tol === 1e-4 && r.loadModel === "function", `page reported ${JSON.stringify(r)}`);
  } finally {
    await browser.close();
    await server.close();
  }
});

if (!args.includes("--keep")) rmSync(tmp, { recursive: true, force: true });
else console.log(`kept ${tmp}`);
finish(jsonPath);
