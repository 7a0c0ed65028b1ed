#!/usr/bin/env node
// `npx shardit <command>`: runs the Deno entry point src/cli/main.ts with the locally installed deno.
"use strict";
const path = require("node:path");
const { spawnSync } = require("node:child_process");
const exe = require("deno/install_api.cjs").runInstall();
const root = path.join(__dirname, "..");
// Installed as a dependency (under node_modules) Deno will not strip TypeScript, so the package runs its
// built JavaScript (lib/, made by `npm pack`); a checkout runs its sources.
const installed = root.split(path.sep).includes("node_modules") && require("node:fs").existsSync(path.join(root, "lib/cli/main.js"));
const entry = path.join(root, installed ? "lib/cli/main.js" : "src/cli/main.ts");
const args = ["run", "-A", "--quiet", "--config", path.join(root, "deno.json"), entry, ...process.argv.slice(2)];
// Ctrl-C reaches deno too (same process group) and `generate` cancels cleanly on it: wait for deno to end
// rather than dying first and leaving it printing behind the shell prompt.
process.on("SIGINT", () => {});
const r = spawnSync(exe, args, { stdio: "inherit", env: { XDG_RUNTIME_DIR: "/tmp", ...process.env } });
if (r.error) { console.error(`shardit: could not start deno at ${exe}: ${r.error.message}`); process.exit(1); }
process.exit(r.status ?? 128 + (require("node:os").constants.signals[r.signal] ?? 0));
