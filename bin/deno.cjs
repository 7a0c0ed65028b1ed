#!/usr/bin/env node
// Runs the Deno binary that `npm install` brought (the `deno` npm package), with our arguments.
// Why not `npx deno`: npm 11 skips deno's postinstall, and its bin.cjs resolves the binary anyway;
// we resolve it the same way and exec it directly so exit codes and signals pass through unchanged.
"use strict";
const { spawnSync } = require("node:child_process");
const exe = require("deno/install_api.cjs").runInstall();
const r = spawnSync(exe, process.argv.slice(2), { stdio: "inherit" });
if (r.error) { console.error(`shardit: could not start deno at ${exe}: ${r.error.message}`); process.exit(1); }
process.exit(r.status ?? 1);
