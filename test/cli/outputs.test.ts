// Outputs are all or nothing (issue 20, findings 2, 3 and 5): a run interrupted by a signal, under npx,
// under `node bin/shardit.cjs` or sent to one PID (the wrapper's or deno's), leaves the previous outputs
// byte-identical and no deno behind; output problems (an existing file, a bad --frames path, a folder that
// cannot be written, a second run into one --out) are refused before any computation. The embedded model
// at a tiny latent keeps each run to seconds.
import { test } from "../../src/selftest/harness.ts";

const root = new URL("../../", import.meta.url).pathname;
const TINY = ["--devices", "1", "--latent", "3,6,10"];

function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) walk(p);
      else out.set(p.slice(dir.length), Array.from(Deno.readFileSync(p)).join(","));
    }
  };
  walk(dir);
  return out;
}
function sameFiles(what: string, a: Map<string, string>, b: Map<string, string>) {
  const diff = [...new Set([...a.keys(), ...b.keys()])].filter((k) => a.get(k) !== b.get(k));
  if (diff.length) throw new Error(`${what}: outputs changed: ${diff.join(", ")}`);
}
function leftovers(dir: string): string[] {
  const parent = dir.slice(0, dir.lastIndexOf("/")), base = dir.slice(dir.lastIndexOf("/") + 1);
  return [...Deno.readDirSync(parent)].map((e) => e.name).filter((n) => n.startsWith(`.${base}.shardit-`));
}
/** Children of `pid` from /proc (Linux). */
function children(pid: number): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) out.push(Number(e.name));
    } catch { /* gone */ }
  }
  return out;
}
function findDeno(pid: number): number | undefined {
  for (const c of children(pid)) {
    let cmd = "";
    try {
      cmd = Deno.readTextFileSync(`/proc/${c}/cmdline`);
    } catch { /* gone */ }
    if (cmd.includes("src/cli/main.ts")) return c;
    const d = findDeno(c);
    if (d) return d;
  }
}
const running = (pid: number) => {
  try {
    return !Deno.readTextFileSync(`/proc/${pid}/stat`).includes(") Z ");
  } catch {
    return false;
  }
};

/** Starts a run, waits for `until` in its stdout, returns it with its process ids. */
async function start(launcher: "wrapper" | "npx", args: string[], until: RegExp) {
  // npx in a session of its own (setsid): a terminal's Ctrl-C is SIGINT to the whole process group.
  const cmd = launcher === "npx" ? new Deno.Command("setsid", { args: ["npx", "--no-install", "shardit", ...args], cwd: root, stdout: "piped", stderr: "piped" })
    : new Deno.Command("node", { args: [`${root}bin/shardit.cjs`, ...args], cwd: root, stdout: "piped", stderr: "piped" });
  const child = cmd.spawn();
  let stdout = "";
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = Date.now() + 120_000;
  while (!until.test(stdout)) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) throw new Error(`run ended before ${until}: ${stdout} ${await stderr}`);
    stdout += value;
  }
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return stdout;
      stdout += value;
    }
  })();
  const deno = findDeno(child.pid);
  if (!deno) throw new Error("no deno process under the launcher");
  return { child, deno, stderr, rest };
}

async function previous(): Promise<{ dir: string; before: Map<string, string> }> {
  const dir = Deno.makeTempDirSync({ prefix: "shardit-out-" }) + "/out";
  const r = await new Deno.Command("node", { args: [`${root}bin/shardit.cjs`, "generate", "--steps", "2", ...TINY, "--out", dir], cwd: root, stdout: "piped", stderr: "piped" }).output();
  if (r.code !== 0) throw new Error(`first run: exit ${r.code}: ${new TextDecoder().decode(r.stderr)}`);
  return { dir, before: snapshot(dir) };
}

test("cli: an interrupted run (npx, node bin/shardit.cjs, a signal to one PID: the wrapper's or deno's) leaves the previous outputs byte-identical and no deno running", async () => {
  const { dir, before } = await previous();
  // npm passes SIGINT and SIGTERM on to the `sh -c` it runs the wrapper through; sh dies of SIGTERM (the wrapper
  // sees it gone) but holds SIGINT until its command ends (the wrapper sees sh wake: bin/shardit.cjs).
  const cases: { launcher: "wrapper" | "npx"; to: "launcher" | "deno" | "group"; signal: Deno.Signal }[] = [
    { launcher: "wrapper", to: "launcher", signal: "SIGINT" },
    { launcher: "wrapper", to: "launcher", signal: "SIGTERM" },
    { launcher: "wrapper", to: "launcher", signal: "SIGHUP" },
    { launcher: "wrapper", to: "deno", signal: "SIGTERM" },
    { launcher: "wrapper", to: "launcher", signal: "SIGKILL" },
    { launcher: "npx", to: "group", signal: "SIGINT" },
    { launcher: "npx", to: "launcher", signal: "SIGINT" },
    { launcher: "npx", to: "launcher", signal: "SIGTERM" },
    { launcher: "npx", to: "launcher", signal: "SIGKILL" },
  ];
  for (const c of cases) {
    const what = `${c.signal} to ${c.to === "deno" ? "deno" : c.to === "group" ? "npx's process group (Ctrl-C)" : c.launcher === "npx" ? "npx" : "node bin/shardit.cjs"}`;
    const run = await start(c.launcher, ["generate", "--steps", "500", ...TINY, "--out", dir], /step +1\/500/);
    Deno.kill(c.to === "deno" ? run.deno : c.to === "group" ? -run.child.pid : run.child.pid, c.signal);
    const status = await run.child.status;
    // npm, sent SIGTERM, passes it on, waits for its child, then ends with the signal's status (143) itself.
    const npmTerm = c.launcher === "npx" && c.signal === "SIGTERM" && status.code === 143;
    if (c.signal !== "SIGKILL" && status.code !== 130 && !npmTerm) throw new Error(`${what}: exit ${status.code} (${status.signal}), expected 130: ${await run.stderr}`);
    for (let i = 0; i < 100 && running(run.deno); i++) await new Promise((r) => setTimeout(r, 200));
    if (running(run.deno)) throw new Error(`${what}: deno (pid ${run.deno}) still running 20 s after the launcher ended`);
    sameFiles(what, before, snapshot(dir));
    if (leftovers(dir).length) throw new Error(`${what}: left ${leftovers(dir).join(", ")}`);
    if (c.signal !== "SIGKILL" && !/nothing written/.test(await run.stderr)) throw new Error(`${what}: stderr ${await run.stderr}`);
  }
}, { hosts: ["deno"], tags: ["slow"], timeoutMs: 300_000 });

test("cli: a signal right after the last step gives all the new outputs (exit 0) or none (exit 130), never a mix", async () => {
  const { dir, before } = await previous();
  const run = await start("wrapper", ["generate", "--steps", "2", "--seed", "5", ...TINY, "--out", dir], /step 2\/2/);
  Deno.kill(run.child.pid, "SIGTERM");
  const status = await run.child.status;
  const after = snapshot(dir);
  if (status.code === 130) sameFiles("exit 130", before, after);
  else if (status.code === 0) {
    const same = [...before.keys()].filter((k) => before.get(k) === after.get(k));
    if (same.length) throw new Error(`exit 0 but ${same.join(", ")} kept from the previous run (seed 0 vs seed 5)`);
  } else throw new Error(`exit ${status.code}: ${await run.stderr}`);
  if (leftovers(dir).length) throw new Error(`left ${leftovers(dir).join(", ")}`);
}, { hosts: ["deno"], tags: ["slow"], timeoutMs: 120_000 });

test("cli: output problems are refused before any computation, naming the flag and the path; previous outputs untouched", async () => {
  const { dir, before } = await previous();
  const sh = async (...args: string[]) => {
    const r = await new Deno.Command("node", { args: [`${root}bin/shardit.cjs`, ...args], cwd: root, stdout: "piped", stderr: "piped" }).output();
    return { code: r.code, stdout: new TextDecoder().decode(r.stdout), stderr: new TextDecoder().decode(r.stderr) };
  };
  const file = `${dir}/summary.json`;
  const lock = `${dir.slice(0, dir.lastIndexOf("/"))}/.out.shardit-lock`;
  const cases: [string, string[], RegExp, () => void][] = [
    ["--out an existing file", ["generate", ...TINY, "--out", file], /--out .*summary\.json is an existing file/, () => {}],
    ["--frames under a file", ["generate", ...TINY, "--out", dir, "--frames", "/etc/hostname/x"], /--frames \/etc\/hostname\/x: \/etc\/hostname is a file/, () => {}],
    ["--out not writable", ["generate", ...TINY, "--out", "/proc/shardit-out"], /--out \/proc\/shardit-out: cannot create folder|not writable/, () => {}],
    ["decode --out in a missing folder", ["decode", "--vae", `${root}test/fixtures/wan-vae-tiny`, "--latents", `${root}test/fixtures/wan-vae-tiny/io.safetensors`, "--out", `${dir}/nope/v.gif`], /--out .*nope\/v\.gif: folder .*nope does not exist/, () => {}],
    ["forward --out a folder", ["forward", "--model", `${root}test/fixtures/wan-tiny`, "--input", `${root}test/fixtures/wan-tiny/io.safetensors`, "--out", dir], /--out .* is a folder; --out names a file/, () => {}],
    ["a second run into one --out", ["generate", ...TINY, "--out", dir], new RegExp(`--out .* is being written by another shardit run \\(pid ${Deno.pid}\\)`), () => Deno.writeTextFileSync(lock, `${Deno.pid}\n`)],
  ];
  for (const [what, args, want, setup] of cases) {
    setup();
    const t0 = performance.now();
    const r = await sh(...args);
    const s = (performance.now() - t0) / 1000;
    if (r.code === 0 || !want.test(r.stderr) || /step \d/.test(r.stdout)) throw new Error(`${what}: exit ${r.code}, stdout ${r.stdout.slice(0, 200)}, stderr ${r.stderr.slice(0, 300)}`);
    if (r.stderr.trim().split("\n").length !== 1) throw new Error(`${what}: more than one line: ${r.stderr}`);
    sameFiles(what, before, snapshot(dir));
    console.log(`  ${what}: refused in ${s.toFixed(1)} s: ${r.stderr.trim().slice(0, 160)}`);
  }
  Deno.removeSync(lock);
  // A lock left by a killed run (its pid is gone) is taken over.
  Deno.writeTextFileSync(lock, "999999999\n");
  const r = await sh("generate", "--steps", "1", ...TINY, "--out", dir);
  if (r.code !== 0 || leftovers(dir).length) throw new Error(`stale lock: exit ${r.code} ${r.stderr}; left ${leftovers(dir)}`);
}, { hosts: ["deno"], tags: ["slow"], timeoutMs: 180_000 });

test("cli: encode's --out is refused before the encoder runs (a missing folder, a folder named like the file, a second run), one line naming --out; the previous file untouched", async () => {
  const { makeTinyPipeline } = await import("../text/tiny_pipeline.ts");
  const pipeline = makeTinyPipeline(Deno.makeTempDirSync({ prefix: "shardit-pipeline-" }));
  const dir = Deno.makeTempDirSync({ prefix: "shardit-encode-" });
  const encode = async (out: string) => {
    const cache = Deno.makeTempDirSync({ prefix: "shardit-cache-" });
    const r = await new Deno.Command("node", { args: [`${root}bin/shardit.cjs`, "encode", "--model", pipeline, "--prompt", "a fox", "--out", out], cwd: root, env: { SHARDIT_CACHE: cache }, stdout: "piped", stderr: "piped" }).output();
    // the encoder ran if it left its embedding in the (fresh) disk cache
    const encoded = [...Deno.readDirSync(cache)].length > 0;
    return { code: r.code, stderr: new TextDecoder().decode(r.stderr).split("\n").filter((l) => l && !/--webgpu auto uses/.test(l)), encoded };
  };
  const good = `${dir}/e.safetensors`;
  const first = await encode(good);
  if (first.code !== 0 || !first.encoded) throw new Error(`first run: exit ${first.code}, encoded ${first.encoded}: ${first.stderr.join(" | ")}`);
  const before = snapshot(dir);
  Deno.mkdirSync(`${dir}/folder.safetensors`);
  const lock = `${dir}/.e.safetensors.shardit-lock`;
  const cases: [string, string, RegExp, () => void][] = [
    ["a missing folder", `${dir}/nope/e.safetensors`, /--out .*nope\/e\.safetensors: folder .*nope does not exist/, () => {}],
    ["a folder named like the file", `${dir}/folder.safetensors`, /--out .*folder\.safetensors is a folder; --out names a file/, () => {}],
    ["a second run into one --out", good, new RegExp(`--out .*e\\.safetensors is being written by another shardit run \\(pid ${Deno.pid}\\)`), () => Deno.writeTextFileSync(lock, `${Deno.pid}\n`)],
  ];
  for (const [what, out, want, setup] of cases) {
    setup();
    const r = await encode(out);
    if (r.code === 0 || r.encoded || r.stderr.length !== 1 || !want.test(r.stderr[0])) throw new Error(`${what}: exit ${r.code}, encoder ran: ${r.encoded}, stderr: ${r.stderr.join(" | ")}`);
  }
  Deno.removeSync(lock);
  Deno.removeSync(`${dir}/folder.safetensors`);
  sameFiles("encode", before, snapshot(dir));
}, { hosts: ["deno"], tags: ["slow"], timeoutMs: 120_000 });

test("cli: every command closes its outputs before its interrupt listeners go (without listeners Deno restores the default action: a signal then kills mid-cleanup and leaves the lock)", async () => {
  // The mechanism, with the real onInterrupt and OutputSet in a child: a signal right after the listeners go
  // kills the process; cleaned up first, nothing is left; the other way round, the lock and reference stay.
  const script = (order: "close-first" | "stop-first") => `
    import { onInterrupt } from "${root}src/cli/interrupt.ts";
    import { OutputSet } from "${root}src/io/atomic_output.ts";
    const outputs = OutputSet.open([{ flag: "--out", path: Deno.args[0], kind: "dir" }]);
    const stop = onInterrupt(() => {});
    if ("${order}" === "close-first") outputs.close();
    stop();
    Deno.kill(Deno.pid, "SIGTERM");
    await new Promise((r) => setTimeout(r, 500)); // the signal lands here: default action
    outputs.close();`;
  for (const order of ["close-first", "stop-first"] as const) {
    const dir = Deno.makeTempDirSync({ prefix: "shardit-order-" }) + "/out";
    const file = `${dir}.ts`;
    Deno.writeTextFileSync(file, script(order));
    const r = await new Deno.Command(Deno.execPath(), { args: ["run", "-A", "--quiet", file, dir], stdout: "piped", stderr: "piped" }).output();
    Deno.removeSync(file);
    const left = leftovers(dir);
    if (r.signal !== "SIGTERM") throw new Error(`${order}: exit ${r.code} (${r.signal}): ${new TextDecoder().decode(r.stderr)}`);
    if (order === "close-first" && left.length) throw new Error(`${order}: left ${left.join(", ")}`);
    if (order === "stop-first" && !left.some((n) => n.includes("shardit-lock"))) throw new Error(`${order}: no lock left (the check below would prove nothing): ${left}`);
  }
  // The commands' cleanup: outputs.close() before stopListening() in each.
  for (const f of ["generate", "forward", "decode", "encode"]) {
    const src = Deno.readTextFileSync(`${root}src/cli/${f}.ts`);
    const close = src.lastIndexOf("outputs.close();"), stop = src.lastIndexOf("stopListening();");
    if (close < 0 || stop < 0 || close > stop) throw new Error(`src/cli/${f}.ts: stopListening() before outputs.close() in its cleanup (a signal between them leaves the lock)`);
  }
}, { hosts: ["deno"], timeoutMs: 60_000 });
