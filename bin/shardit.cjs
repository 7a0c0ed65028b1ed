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
for (const s of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(s, () => {
    try {
      child.kill(s);
    } catch { /* already exited */ }
  });
}
// Under npx (npm exec), npm killed with SIGKILL passes nothing on: when npm (or the shell it started this
// wrapper through) goes away, deno is told to stop as if it had been sent SIGTERM. (Only under npm:
// a wrapper started by `nohup` or a shell keeps running when its parent exits, as any program does.)
if (process.env.npm_command === "exec") {
  // The processes between this one and npm (npm runs us through `sh -c`), npm included: read from /proc.
  const watched = [process.ppid];
  try {
    const fs = require("node:fs");
    for (let pid = process.ppid; watched.length < 4;) {
      if (/\bnp[mx]\b|npm-cli/.test(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8"))) break;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!(pid > 1)) break;
      watched.push(pid);
    }
  } catch { /* no /proc: the parent alone */ }
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
  }, 250);
  watch.unref();
}
child.on("error", (e) => {
  console.error(`shardit: could not start deno at ${exe}: ${e.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  process.exit(code ?? 128 + (require("node:os").constants.signals[signal] ?? 0));
});
