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
// Under npx (npm exec), a signal sent to npx's pid alone ends npm without passing it on: when the parent
// that started this wrapper goes away, deno is told to stop as if it had been sent SIGTERM. (Only under npm:
// a wrapper started by `nohup` or a shell keeps running when its parent exits, as any program does.)
if (process.env.npm_command === "exec") {
  const parent = process.ppid;
  const watch = setInterval(() => {
    try {
      process.kill(parent, 0); // still there (process.ppid is not re-read by Node)
    } catch {
      clearInterval(watch);
      child.kill("SIGTERM");
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
