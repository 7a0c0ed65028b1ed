// Bounded inputs and readable errors (issue 20, findings 4, 7 and 8): size flags and config values over
// their limits are refused before anything is allocated, with the limit in the message; zero text tokens
// are an input error; error lines are capped, escaped and name their path.
import { bytesSource, Checkpoint, encodeSafetensors } from "../../src/io/safetensors.ts";
import { capText, errorLine, escapeControl, MAX_ERROR_CHARS } from "../../src/errors.ts";
import { test } from "../../src/selftest/harness.ts";
import { withSharedPool } from "../parallel/pools.ts";

const root = new URL("../../", import.meta.url).pathname;
const fixture = (name: string, file = "") => `${root}test/fixtures/${name}/${file}`;

async function shardit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = performance.now();
  const r = await new Deno.Command("node", { args: [`${root}bin/shardit.cjs`, ...args], cwd: root, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr), ms: performance.now() - t0 };
}

/** A one-line refusal matching `want`, with no step run, no raw control byte, at most MAX_ERROR_CHARS + "shardit: ". */
async function refused(what: string, args: string[], want: RegExp) {
  const r = await shardit(...args);
  const line = r.stderr.trim();
  const problems = [
    r.code === 0 && "exit 0",
    !want.test(line) && `no ${want}`,
    line.split("\n").length !== 1 && "more than one line",
    /[\x00-\x08\x0b-\x1f\x7f]/.test(r.stderr + r.stdout) && "a raw control character",
    line.length > MAX_ERROR_CHARS + 20 && `${line.length} characters`,
    /step \d/.test(r.stdout) && "a step ran",
  ].filter(Boolean);
  if (problems.length) throw new Error(`${what}: ${problems.join(", ")}: exit ${r.code}, stderr ${JSON.stringify(capText(r.stderr, 600))}`);
  console.log(`  ${what}: ${(r.ms / 1000).toFixed(1)} s: ${line.slice(0, 200)}`);
}

test("errors: control characters escaped, text capped with the count left out", () => {
  const e = escapeControl("a\x1b[2Jb\nc\u0000d\u202ee\u0085");
  if (e !== "a\\x1b[2Jb\\nc\\x00d\\u202ee\\x85") throw new Error(`escapeControl: ${e}`);
  const long = errorLine(new Error("x".repeat(100_000)));
  if (long.length !== MAX_ERROR_CHARS || !long.endsWith(`... (${100_000 - MAX_ERROR_CHARS} more characters)`)) throw new Error(`capped: ${long.length} ${long.slice(-40)}`);
  if (errorLine("short") !== "short") throw new Error("short text changed");
});

test("cli: size flags over their limits are refused before any allocation, naming the flag and the limit", async () => {
  const out = Deno.makeTempDirSync({ prefix: "shardit-bounds-" });
  await refused("--steps 1e9", ["generate", "--steps", "1e9", "--out", `${out}/a`], /--steps 1000000000 is above 1000, the scheduler's number of training timesteps/);
  await refused("--devices 1000", ["generate", "--devices", "1000", "--out", `${out}/b`], /--devices 1000 is above shardit's limit of 64/);
  await refused("--latent 1000,1000,1000", ["generate", "--devices", "1", "--latent", "1000,1000,1000", "--out", `${out}/c`], /--latent 1000,1000,1000: .*host memory|rope_max_seq_len/);
  await refused("--scale 1000", ["generate", "--devices", "1", "--scale", "1000", "--out", `${out}/d`], /--scale 1000: the shown video would be \d+x\d+ px .* at most --scale \d+/);
  await refused("decode --scale 100000", ["decode", "--vae", fixture("wan-vae-tiny"), "--latents", fixture("wan-vae-tiny", "io.safetensors"), "--scale", "100000", "--out", `${out}/e.gif`], /--scale 100000: the shown video would be \d+x\d+ px .* at most --scale \d+/);
  for (const n of ["a", "b", "c", "d", "e.gif"]) {
    try {
      Deno.statSync(`${out}/${n}`);
      throw new Error(`--out ${out}/${n} was created by a refused run`);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
}, { hosts: ["deno"], tags: ["slow"] });

test("cli: config values over their limits (num_layers 1e8, VAE num_res_blocks 1e9) and zero text tokens are input errors", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "shardit-bounds-" });
  const copy = (name: string, edit: (c: Record<string, unknown>) => void) => {
    const to = `${dir}/${name}`;
    Deno.mkdirSync(to);
    for (const e of Deno.readDirSync(fixture(name))) Deno.copyFileSync(fixture(name, e.name), `${to}/${e.name}`);
    const c = JSON.parse(Deno.readTextFileSync(`${to}/config.json`));
    edit(c);
    Deno.writeTextFileSync(`${to}/config.json`, JSON.stringify(c));
    return to;
  };
  const wan = copy("wan-tiny", (c) => (c.num_layers = 1e8));
  await refused("num_layers 1e8", ["forward", "--model", wan, "--input", fixture("wan-tiny", "io.safetensors"), "--out", `${dir}/o.safetensors`], /config\.json: "num_layers" is 100000000, above shardit's limit of 1024/);
  const vae = copy("wan-vae-tiny", (c) => (c.num_res_blocks = 1e9));
  await refused("VAE num_res_blocks 1e9", ["decode", "--vae", vae, "--latents", fixture("wan-vae-tiny", "io.safetensors"), "--out", `${dir}/v.gif`], /"num_res_blocks" is 1000000000, above shardit's limit of 64/);
  // io.safetensors with encoder_hidden_states [1, 0, text_dim]
  const io = await Checkpoint.open([bytesSource("io", Deno.readFileSync(fixture("wan-tiny", "io.safetensors")))]);
  const t = (n: string) => ({ dtype: "F32" as const, shape: io.info(n).shape, data: new Float32Array(0) });
  const zero = encodeSafetensors({
    hidden_states: { ...t("hidden_states"), data: await io.readF32("hidden_states") },
    timestep: { ...t("timestep"), data: await io.readF32("timestep") },
    encoder_hidden_states: { dtype: "F32", shape: [1, 0, io.info("encoder_hidden_states").shape[2]], data: new Float32Array(0) },
  });
  Deno.writeFileSync(`${dir}/zero.safetensors`, zero);
  await refused("0 text tokens", ["forward", "--model", fixture("wan-tiny"), "--input", `${dir}/zero.safetensors`, "--out", `${dir}/o.safetensors`], /zero\.safetensors: encoder_hidden_states has 0 text tokens/);
  await withSharedPool(1, async (pool) => {
    const e = await pool.setText("t", new Float32Array(0), 0).then(() => null, (e: Error) => e);
    if (!e || !/0 text tokens; the cross-attention needs at least one/.test(e.message)) throw new Error(`pool.setText with 0 tokens: ${e?.message ?? "accepted"}`);
  });
}, { hosts: ["deno"], tags: ["slow"] });

test("cli: errors echo input capped and escaped, and name their path (a 100,000-character prompt, escape codes, bad JSON, a folder as --input)", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "shardit-errors-" });
  await refused("100,000-character prompt", ["generate", "--devices", "1", "--prompt", "zzz ".repeat(25_000), "--out", `${dir}/a`], /prompt/);
  await refused("escape codes in a prompt", ["generate", "--devices", "1", "--prompt", "a red \x1b[2J\x1b]0;owned\x07 circle", "--out", `${dir}/b`], /\\x1b/);
  Deno.mkdirSync(`${dir}/m`);
  for (const f of ["model.safetensors", "io.safetensors"]) Deno.copyFileSync(fixture("wan-tiny", f), `${dir}/m/${f}`);
  Deno.writeTextFileSync(`${dir}/m/config.json`, `{"num_layers": 2,\n\n\u0000 "oops"`);
  await refused("malformed config.json", ["forward", "--model", `${dir}/m`, "--input", fixture("wan-tiny", "io.safetensors"), "--out", `${dir}/o.safetensors`], /config\.json/);
  await refused("a folder as --input", ["forward", "--model", fixture("wan-tiny"), "--input", dir, "--out", `${dir}/o.safetensors`], new RegExp(`${dir}: is a folder, expected a file`));
  const deep = `{"w":{"dtype":"F32","shape":${"[".repeat(1_000_000)}${"]".repeat(1_000_000)},"data_offsets":[0,4]}}`;
  const bytes = new Uint8Array(8 + deep.length + 4);
  new DataView(bytes.buffer).setUint32(0, deep.length, true);
  bytes.set(new TextEncoder().encode(deep), 8);
  Deno.writeFileSync(`${dir}/deep.safetensors`, bytes);
  await refused("a 1,000,000-deep shape", ["forward", "--model", fixture("wan-tiny"), "--input", `${dir}/deep.safetensors`, "--out", `${dir}/o.safetensors`], /deep\.safetensors: header is not valid JSON: nesting deeper than 127 levels/);
}, { hosts: ["deno"], tags: ["slow"] });
