// `npm test`: the Deno suite (lavapipe), the browser suite (Chromium + SwiftShader), the end-to-end
// suites, the packed package imported by name from a scratch project (test/package) and the Dawn pass, then
// each suite's wall time and one line `N passed, N failed, N skipped` over everything that ran.
//
// Two lanes run at once (SHARDIT_TEST_LANES=1: one after the other): the Deno suite alone in one, the
// browser, e2e, package and Dawn suites one after the other in the other. No suite keeps both cores of a
// 2-core machine busy all the time (single-threaded Float64 references and shader compiles, Chromium
// start-up, vite build), so the lanes fill each other's gaps. A suite's output is printed whole when it ends
// (the lanes' lines would interleave); its log is kept in the temporary folder named at the start.
// The closing lines give each suite's wall time and, on Linux, its CPU time (its whole process tree: Deno's
// workers, Chromium's processes) and the whole machine's busy cores (/proc/stat): CPU seconds over wall seconds
// say how busy the cores were, i.e. whether another lane could still gain anything or only less work helps.
import { spawn, spawnSync } from "node:child_process";
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "shardit-test-"));
const env = { XDG_RUNTIME_DIR: "/tmp", ...process.env };
const lanes = Math.max(1, Number(process.env.SHARDIT_TEST_LANES ?? 2));
const suite = (name, args, extraEnv = {}) => ({ name, args: [...args, "--json", join(dir, `${name}.json`)], extraEnv });

const deno = suite("deno", ["bin/deno.cjs", "run", "-A", "test/run-deno.ts"]);
const others = [
  suite("browser", ["test/run-browser.mjs"]),
  ...(existsSync("test/e2e/run-e2e.mjs") ? [suite("e2e", ["test/e2e/run-e2e.mjs"])] : []),
  suite("package", ["test/package/run-package.mjs"]),
];

// The Dawn pass (--webgpu dawn: the webgpu package, f16 and subgroups): what can differ on Dawn, i.e. every
// kernel check (Tint compiles the WGSL, not naga), the tests that need subgroups or subgroup matrices and the
// tests tagged "dawn" (its addon's quirks and polling, workers holding Dawn devices, the model forwards, the
// CLI's generate): test/run-deno.ts --tier dawn. The backend-neutral rest (parsing, plans, the sampler, the
// pipeline's and CLI's logic) runs once, in the deno suite.
// Dawn finds no adapter on Debian 12's Mesa 22 lavapipe, so it runs where SHARDIT_DAWN_VK_ICD names the ICD
// json of a Vulkan driver that Dawn accepts (Mesa 25's lavapipe: .ci/run unpacks it privately from
// bookworm-backports, so the suites above keep the system Mesa). Elsewhere it is reported as not run, never
// as passed.
const dawnIcd = process.env.SHARDIT_DAWN_VK_ICD;
if (dawnIcd) {
  others.push(suite("dawn", ["bin/deno.cjs", "run", "-A", "test/run-deno.ts", "--tier", "dawn"], { SHARDIT_WEBGPU: "dawn", VK_DRIVER_FILES: dawnIcd }));
} else {
  console.log("dawn suite not run: set SHARDIT_DAWN_VK_ICD to a Vulkan ICD json Dawn accepts (Mesa 25 lavapipe; .ci/run does)");
}
const laneList = lanes >= 2 ? [[deno], others] : [[deno, ...others]];
console.log(`npm test: ${laneList.map((l) => l.map((s) => s.name).join(" -> ")).join("  |  ")} (logs in ${dir})`);

const shaders = spawnSync("node", ["bin/deno.cjs", "run", "-A", "tools/embed-shaders.ts", "--check"], { stdio: "inherit", env });

/**
 * CPU seconds of this process's ended and reaped children (their trees included), from /proc/self/stat's cutime and
 * cstime (clock ticks, 100 a second on Linux); null elsewhere. Each suite's share is the growth at its own end:
 * a child's time is added when it is reaped, so two lanes never mix.
 */
function childCpuSeconds() {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // from field 3 (state) on: the name may hold spaces
    return (Number(f[13]) + Number(f[14])) / 100; // fields 16 and 17 of proc(5)
  } catch {
    return null;
  }
}
let cpuSeen = childCpuSeconds();

/**
 * CPU seconds of processes that a suite's own process never reaps (Chromium's renderer and GPU processes
 * end under its zygote, so cutime misses them: the browser suite read 15 s of CPU over 516 s of SwiftShader):
 * its process tree is sampled once a second from /proc and each process's own utime + stime kept at its
 * largest. A process living under a second is missed here; a suite's CPU is the larger of the two counts.
 */
function sampleTrees(roots) {
  let procs;
  try {
    procs = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
  } catch {
    return;
  }
  const info = new Map();
  for (const d of procs) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      info.set(Number(d), { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / 100 });
    } catch { /* ended meanwhile */ }
  }
  for (const [root, seen] of roots) {
    const tree = new Set([root]);
    for (let grew = true; grew;) {
      grew = false;
      for (const [pid, p] of info) if (!tree.has(pid) && tree.has(p.ppid)) { tree.add(pid); grew = true; }
    }
    for (const pid of tree) {
      const p = info.get(pid);
      if (p) seen.set(pid, Math.max(seen.get(pid) ?? 0, p.cpu));
    }
  }
}
const running = new Map(); // a running suite's child pid -> (pid -> its largest CPU seconds seen)
const sampler = existsSync("/proc/self/stat") ? setInterval(() => sampleTrees(running), 1000) : null;

/** The whole machine's busy and total CPU seconds so far (/proc/stat's first line); null elsewhere. */
function machineCpu() {
  try {
    const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = f.reduce((a, b) => a + b, 0);
    return { busy: (total - f[3] - f[4]) / 100, total: total / 100 }; // idle and iowait are fields 4 and 5
  } catch {
    return null;
  }
}
const machine0 = machineCpu();

/** Runs one suite to its end, its output into a log; prints the log whole when it ends (or live with one lane). */
function runSuite(s) {
  const t0 = Date.now();
  const logPath = join(dir, `${s.name}.log`);
  const log = createWriteStream(logPath);
  const child = spawn("node", s.args, { env: { ...env, ...s.extraEnv }, stdio: ["ignore", "pipe", "pipe"] });
  const tree = new Map();
  if (child.pid) running.set(child.pid, tree);
  for (const stream of [child.stdout, child.stderr]) {
    stream.on("data", (d) => {
      log.write(d);
      if (lanes === 1) process.stdout.write(d);
    });
  }
  return new Promise((resolve) => {
    child.on("close", (code, signal) => {
      log.end(() => {
        const seconds = (Date.now() - t0) / 1000;
        running.delete(child.pid);
        const now = childCpuSeconds();
        const reaped = now === null || cpuSeen === null ? null : now - cpuSeen;
        cpuSeen = now;
        const sampled = [...tree.values()].reduce((a, c) => a + c, 0);
        const cpu = reaped === null ? null : Math.max(reaped, sampled);
        if (lanes > 1) process.stdout.write(`\n=== ${s.name} suite (${seconds.toFixed(0)} s) ===\n${readFileSync(logPath, "utf8")}`);
        else console.log(`=== ${s.name} suite: ${seconds.toFixed(0)} s ===`);
        resolve({ ...s, code: code ?? (signal ? 128 : 1), seconds, cpu });
      });
    });
  });
}

const t0 = Date.now();
const done = (await Promise.all(laneList.map(async (lane) => {
  const out = [];
  for (const s of lane) out.push(await runSuite(s));
  return out;
}))).flat();

let passed = 0, failed = shaders.status === 0 ? 0 : 1, skipped = 0;
for (const r of done) {
  const json = join(dir, `${r.name}.json`);
  if (existsSync(json)) {
    const s = JSON.parse(readFileSync(json, "utf8"));
    passed += s.passed; failed += s.failed; skipped += s.skipped;
    if (r.code !== 0 && s.failed === 0) failed++; // crashed after writing its summary
  } else {
    console.error(`${r.name} suite exited with status ${r.code} without a summary`);
    failed++;
  }
}
const wall = (Date.now() - t0) / 1000;
const cpuOf = (r) => r.cpu === null ? "" : ` (cpu ${r.cpu.toFixed(0)} s)`;
console.log(`\nsuite times (wall, ${lanes >= 2 ? `${laneList.length} lanes at once` : "one after the other"}): ${laneList.map((l) => l.map((s) => done.find((r) => r.name === s.name)).map((r) => `${r.name} ${r.seconds.toFixed(0)} s${cpuOf(r)}`).join(" + ")).join("  |  ")}; all ${wall.toFixed(0)} s`);
if (sampler) clearInterval(sampler);
if (done.every((r) => r.cpu !== null)) {
  const cpu = done.reduce((a, r) => a + r.cpu, 0);
  console.log(`cpu: ${cpu.toFixed(0)} s over ${wall.toFixed(0)} s of wall time: ${(cpu / wall).toFixed(2)} of ${cpus().length} cores busy on average`);
}
const machine1 = machineCpu();
if (machine0 && machine1) {
  // everything on the machine, the suites and whatever else ran meanwhile: near all cores means only less work helps
  const busy = machine1.busy - machine0.busy, total = machine1.total - machine0.total;
  console.log(`machine: ${(busy / wall).toFixed(2)} of ${cpus().length} cores busy (${(100 * busy / total).toFixed(0)}% of all CPU time, /proc/stat, every process)`);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed ? 1 : 0);
