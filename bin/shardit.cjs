#!/usr/bin/env node
// `npx shardit <command>`: runs the Deno entry point src/cli/main.ts with the locally installed deno.
"use strict";
const path = require("node:path");
const { spawn } = require("node:child_process");
const exe = require("deno/install_api.cjs").runInstall();
const root = path.join(__dirname, "..");
// Installed as a dependency (under node_modules) Deno will not strip TypeScript, so the package runs its
// built JavaScript (lib/, made by `npm pack`); a checkout runs its sources.
const installed = root.split(path.sep).includes("node_modules") && require("node:fs").existsSync(path.join(root, "lib/cli/main.js"));
const entry = path.join(root, installed ? "lib/cli/main.js" : "src/cli/main.ts");
const args = ["run", "-A", "--quiet", "--config", path.join(root, "deno.json"), entry, ...process.argv.slice(2)];
// Signals sent to this process alone (kill PID, a supervisor, a container runtime) are passed on to deno,
// which cancels cleanly (src/cli/interrupt.ts); a terminal's Ctrl-C reaches both processes and deno counts
// the two as one. This process waits for deno and exits with its status, so it never leaves deno running
// behind it; if it is killed with SIGKILL, deno sees its parent gone (SHARDIT_WRAPPER_PID) and stops.
const child = spawn(exe, args, { stdio: "inherit", env: { XDG_RUNTIME_DIR: "/tmp", ...process.env, SHARDIT_WRAPPER_PID: String(process.pid) } });
let lastSignal = -Infinity;
/** The shell between npm and this process took a SIGINT (see below): it will end by it whatever deno does. */
let shellInterrupted = false;
for (const s of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(s, () => {
    lastSignal = Date.now();
    try {
      child.kill(s);
    } catch { /* already exited */ }
  });
}
// Under npx (npm exec), npm killed with SIGKILL passes nothing on: when npm (or the shell it started this
// wrapper through) goes away, deno is told to stop as if it had been sent SIGTERM. (Only under npm:
// a wrapper started by `nohup` or a shell keeps running when its parent exits, as any program does.)
if (process.env.npm_command === "exec" || process.env.npm_command === "run-script") {
  // The processes between this one and npm (npm runs us through `sh -c`), npm included: read from /proc.
  const watched = [process.ppid];
  try {
    const fs = require("node:fs");
    for (let pid = process.ppid; watched.length < 4;) {
      // npm's process title ("npm exec ...") or `node .../npm-cli.js`: the first two words only (an --out path
      // naming a folder "npx" must not stop the walk at the shell)
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(0, 2).join(" ");
      if (/(^|[\s/])np[mx](\s|$)|npm-cli|npx-cli/.test(argv)) break;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!(pid > 1)) break;
      watched.push(pid);
    }
  } catch { /* no /proc: the parent alone */ }
  // A SIGINT sent to npm's pid alone (kill -INT, a supervisor) is passed on by npm to its child, the `sh -c`
  // it runs this wrapper through; a non-interactive sh (dash) catches SIGINT while it waits for its command and
  // acts on it only when the command ends: nothing reaches this process, the run would finish and write its
  // outputs, and then sh, npm and the exit status (130) would all say it was interrupted. The signal is seen
  // here as the shell waking up: asleep in wait() it wakes only for a signal it catches (ignored and default-
  // ignored ones, SIGWINCH or SIGCONT, never wake it; SIGTERM/SIGHUP end it, handled above), so a new voluntary
  // context switch of the shell means SIGINT, passed on to deno. Only for a shell that catches SIGINT and not
  // SIGWINCH (an interactive shell catches SIGWINCH and wakes on a terminal resize), and not within 2 s of a
  // signal to this process itself (a terminal's Ctrl-C reaches the whole group: it is already passed on), nor
  // after a SIGCONT (a stopped and continued job switches too).
  const shell = watched.length > 1 ? process.ppid : 0; // the parent is not npm itself
  const wakes = () => {
    try {
      const fs = require("node:fs");
      const status = fs.readFileSync(`/proc/${shell}/status`, "utf8");
      const caught = BigInt(`0x${/SigCgt:\s*([0-9a-f]+)/.exec(status)[1]}`);
      if (!(caught & (1n << 1n)) || caught & (1n << 27n)) return -1; // bit n-1 = signal n: SIGINT 2, SIGWINCH 28
      return Number(/\nvoluntary_ctxt_switches:\s*(\d+)/.exec(status)[1]);
    } catch {
      return -1;
    }
  };
  let shellWakes = shell ? wakes() : -1;
  process.on("SIGCONT", () => (shellWakes = shell ? wakes() : -1));
  const watch = setInterval(() => {
    for (const pid of watched) {
      try {
        process.kill(pid, 0); // still there (process.ppid is not re-read by Node)
      } catch {
        clearInterval(watch);
        child.kill("SIGTERM");
        return;
      }
    }
    if (shellWakes >= 0) {
      const now = wakes();
      if (now > shellWakes && Date.now() - lastSignal > 2000) {
        shellInterrupted = true;
        try {
          child.kill("SIGINT");
        } catch { /* already exited */ }
      }
      if (now >= 0) shellWakes = now;
    }
  }, 250);
  watch.unref();
}
child.on("error", (e) => {
  console.error(`shardit: could not start deno at ${exe}: ${e.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  // The interrupt came too late to cancel (the outputs were being renamed into place, or the run had ended):
  // deno wrote everything and exits 0, but npm's shell still ends by the SIGINT it held, so npm exits 130.
  if (code === 0 && shellInterrupted) console.error("shardit: the run had finished and written its outputs when the interrupt came; npm will still report it (exit 130)");
  process.exit(code ?? 128 + (require("node:os").constants.signals[signal] ?? 0));
});
