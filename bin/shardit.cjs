#!/usr/bin/env node
// `npx shardit <command>`: runs the Deno entry point src/cli/main.ts with the locally installed deno.
"use strict";
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const exe = require("deno/install_api.cjs").runInstall();
const root = path.join(__dirname, "..");
const args = ["run", "-A", "--quiet", "--config", path.join(root, "deno.json"), path.join(root, "src/cli/main.ts"), ...process.argv.slice(2)];
// Ctrl-C reaches deno too (same process group) and `generate` cancels cleanly on it: wait for deno to end
// rather than dying first and leaving it printing behind the shell prompt.
process.on("SIGINT", () => {});
const r = spawnSync(exe, args, { stdio: "inherit", env: { XDG_RUNTIME_DIR: "/tmp", ...process.env } });
if (r.error) { console.error(`shardit: could not start deno at ${exe}: ${r.error.message}`); process.exit(1); }
process.exit(r.status ?? 128 + (require("node:os").constants.signals[r.signal] ?? 0));
