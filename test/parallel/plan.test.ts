// Shard plans: DESIGN.md (shared/docs, not in this repo)'s 480p/720p numbers, every N 1..8, uneven and weighted splits, frame padding,
// invariants, every validation error, and the `plan` command end to end (Deno only).
import { planShards, type ShardMode, type ShardPlan, tokenGridFromLatent } from "../../src/parallel/plan.ts";
import { expectEqual, test } from "../../src/selftest/harness.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}
function throws(what: string, fn: () => unknown, needle: string): void {
  try {
    fn();
  } catch (e) {
    const m = (e as Error).message;
    assert(m.includes(needle), `${what}: error "${m}" does not mention "${needle}"`);
    assert(!m.includes("\n"), `${what}: error is not one line: ${m}`);
    return;
  }
  throw new Error(`${what}: expected an error mentioning "${needle}", got none`);
}

/** Every invariant of a plan: contiguous shards covering [0, computed), sums, padding only past L. */
function checkInvariants(p: ShardPlan): void {
  const tag = `${p.mode} ${p.grid.F}x${p.grid.H}x${p.grid.W} N=${p.devices}`;
  const L = p.grid.F * p.grid.H * p.grid.W;
  expectEqual(`${tag} tokens`, p.tokens, L);
  expectEqual(`${tag} shard count`, p.shards.length, p.devices);
  expectEqual(`${tag} padTokens`, p.padTokens, p.computedTokens - p.tokens);
  let at = 0, sum = 0, pad = 0;
  for (const [d, s] of p.shards.entries()) {
    expectEqual(`${tag} device index`, s.device, d);
    expectEqual(`${tag} shard ${d} start`, s.start, at);
    expectEqual(`${tag} shard ${d} tokens`, s.count, s.end - s.start);
    assert(s.padTokens >= 0 && s.padTokens <= s.count, `${tag} shard ${d}: padTokens ${s.padTokens} of ${s.count}`);
    expectEqual(`${tag} shard ${d} padTokens`, s.padTokens, Math.max(0, s.end - Math.max(s.start, L)));
    at = s.end;
    sum += s.count;
    pad += s.padTokens;
  }
  expectEqual(`${tag} end of last shard`, at, p.computedTokens);
  expectEqual(`${tag} sum of tokens`, sum, p.computedTokens);
  expectEqual(`${tag} sum of padTokens`, pad, p.padTokens);
  if (p.mode === "sequence") {
    expectEqual(`${tag} computed`, p.computedTokens, L);
    assert(p.shards.every((s) => s.count >= 1), `${tag}: a shard has no tokens`);
  }
}

const GRID_480P = tokenGridFromLatent({ F: 21, H: 60, W: 104 });
const GRID_720P = tokenGridFromLatent({ F: 21, H: 90, W: 160 });

test("plan: latent -> token grid (480p, 720p)", () => {
  expectEqual("480p grid", GRID_480P, { F: 21, H: 30, W: 52 });
  expectEqual("720p grid", GRID_720P, { F: 21, H: 45, W: 80 });
  expectEqual("480p L", planShards(GRID_480P, 1, "sequence").tokens, 32_760);
  expectEqual("720p L", planShards(GRID_720P, 1, "sequence").tokens, 75_600);
});

test("plan: DESIGN's 480p table at N=4 (frame pads 4,680 tokens, sequence none)", () => {
  const frame = planShards(GRID_480P, 4, "frame");
  expectEqual("frame computed", frame.computedTokens, 24 * 30 * 52);
  expectEqual("frame padTokens", frame.padTokens, 4_680);
  expectEqual("frame shard tokens", frame.shards.map((s) => s.count), [9360, 9360, 9360, 9360]);
  expectEqual("frame shard padding", frame.shards.map((s) => s.padTokens), [0, 0, 0, 4680]);
  const seq = planShards(GRID_480P, 4, "sequence");
  expectEqual("sequence padTokens", seq.padTokens, 0);
  expectEqual("sequence shard tokens", seq.shards.map((s) => s.count), [8190, 8190, 8190, 8190]);
});

test("plan: 480p and 720p, every N 1..8, both modes", () => {
  for (const grid of [GRID_480P, GRID_720P]) {
    const L = grid.F * grid.H * grid.W;
    for (let n = 1; n <= 8; n++) {
      const seq = planShards(grid, n, "sequence");
      checkInvariants(seq);
      const sizes = seq.shards.map((s) => s.count);
      assert(Math.max(...sizes) - Math.min(...sizes) <= 1, `sequence N=${n}: sizes ${sizes} differ by more than one`);
      sizes.forEach((t, d) => expectEqual(`sequence N=${n} device ${d}`, t, Math.floor(L / n) + (d < L % n ? 1 : 0)));
      const frame = planShards(grid, n, "frame");
      checkInvariants(frame);
      const fPad = Math.ceil(grid.F / n) * n;
      expectEqual(`frame N=${n} computed`, frame.computedTokens, fPad * grid.H * grid.W);
      expectEqual(`frame N=${n} padTokens`, frame.padTokens, (fPad - grid.F) * grid.H * grid.W);
      for (const s of frame.shards) expectEqual(`frame N=${n} whole frames`, s.count, (fPad / n) * grid.H * grid.W);
    }
  }
});

test("plan: uneven L (45 tokens on 2, 4, 5 devices)", () => {
  const grid = { F: 5, H: 3, W: 3 }; // L = 45
  expectEqual("N=2", planShards(grid, 2, "sequence").shards.map((s) => s.count), [23, 22]);
  expectEqual("N=4", planShards(grid, 4, "sequence").shards.map((s) => s.count), [12, 11, 11, 11]);
  expectEqual("N=5", planShards(grid, 5, "sequence").shards.map((s) => s.count), [9, 9, 9, 9, 9]);
  expectEqual("N=4 starts", planShards(grid, 4, "sequence").shards.map((s) => s.start), [0, 12, 23, 34]);
  for (const n of [1, 2, 3, 4, 5, 7, 44, 45]) checkInvariants(planShards(grid, n, "sequence"));
  // frame mode on the same grid: 5 frames on 2 devices -> 6 frames, one padding frame of 9 tokens
  const f = planShards(grid, 2, "frame");
  checkInvariants(f);
  expectEqual("frame N=2", f.shards.map((s) => [s.count, s.padTokens]), [[27, 0], [27, 9]]);
});

test("plan: weighted sequence splits (largest remainder)", () => {
  const grid = { F: 5, H: 3, W: 3 }; // L = 45
  const p = planShards(grid, 3, "sequence", [1, 2, 3]);
  checkInvariants(p);
  const sizes = p.shards.map((s) => s.count);
  expectEqual("[1,2,3] on 45 (tie 7.5 vs 22.5 goes to the lower device)", sizes, [8, 15, 22]);
  // Each size is its quota rounded down or up, and they sum to L.
  const checkQuota = (w: number[], L: number, sz: number[]) => {
    const W = w.reduce((a, b) => a + b, 0);
    sz.forEach((s, d) => {
      const q = (L * w[d]) / W;
      assert(s >= Math.floor(q) && s <= Math.ceil(q), `weights ${w}: device ${d} got ${s}, quota ${q}`);
    });
    expectEqual(`weights ${w} sum`, sz.reduce((a, b) => a + b, 0), L);
  };
  checkQuota([1, 2, 3], 45, sizes);
  for (const w of [[1, 1], [3, 1], [0.5, 0.25, 0.25], [1.7, 2.9, 1.1, 4.3], [1, 1, 1, 1, 1, 1, 1, 2]]) {
    const pw = planShards(GRID_480P, w.length, "sequence", w);
    checkInvariants(pw);
    checkQuota(w, 32_760, pw.shards.map((s) => s.count));
  }
  // Equal weights reproduce the unweighted split exactly (same tie-break: lower devices first).
  for (const n of [2, 3, 4, 7]) {
    expectEqual(`equal weights N=${n}`, planShards(grid, n, "sequence", new Array(n).fill(2.5)).shards, planShards(grid, n, "sequence").shards);
  }
  // Deterministic: same input, same plan.
  expectEqual("deterministic", planShards(grid, 3, "sequence", [1, 2, 3]), p);
});

test("plan: frame mode with more devices than frames (pure padding shards)", () => {
  const grid = { F: 3, H: 2, W: 2 }; // L = 12, 4 tokens per frame
  const p = planShards(grid, 5, "frame");
  checkInvariants(p);
  expectEqual("computed", p.computedTokens, 20);
  expectEqual("padTokens", p.padTokens, 8);
  expectEqual("shards", p.shards.map((s) => [s.start, s.end, s.padTokens]), [[0, 4, 0], [4, 8, 0], [8, 12, 0], [12, 16, 4], [16, 20, 4]]);
  const one = planShards({ F: 1, H: 1, W: 1 }, 8, "frame");
  checkInvariants(one);
  expectEqual("1 token on 8 devices: padding", one.padTokens, 7);
});

test("plan: validation errors", () => {
  const g = { F: 5, H: 3, W: 3 };
  throws("0 devices", () => planShards(g, 0, "sequence"), "devices must be an integer >= 1");
  throws("negative devices", () => planShards(g, -2, "frame"), "devices must be an integer >= 1");
  throws("fractional devices", () => planShards(g, 2.5, "sequence"), "devices must be an integer >= 1");
  throws("NaN devices", () => planShards(g, NaN, "sequence"), "devices must be an integer >= 1");
  throws("N > L", () => planShards(g, 46, "sequence"), "46 devices for 45 tokens");
  throws("weights count", () => planShards(g, 3, "sequence", [1, 2]), "expected 3");
  throws("zero weight", () => planShards(g, 2, "sequence", [1, 0]), "device 1 must be a positive number");
  throws("negative weight", () => planShards(g, 2, "sequence", [-1, 1]), "device 0 must be a positive number");
  throws("NaN weight", () => planShards(g, 2, "sequence", [1, NaN]), "positive number");
  throws("infinite weight", () => planShards(g, 2, "sequence", [1, Infinity]), "positive number");
  throws("weights starving a device", () => planShards(g, 2, "sequence", [1, 1000]), "device 0 no tokens");
  throws("weights in frame mode", () => planShards(g, 2, "frame", [1, 1]), "not supported");
  throws("bad mode", () => planShards(g, 2, "ring" as ShardMode), "sequence|frame");
  throws("grid F 0", () => planShards({ F: 0, H: 3, W: 3 }, 1, "sequence"), "grid F");
  throws("grid H fractional", () => planShards({ F: 1, H: 1.5, W: 3 }, 1, "sequence"), "grid H");
  throws("grid W negative", () => planShards({ F: 1, H: 3, W: -3 }, 1, "frame"), "grid W");
  throws("odd latent H", () => tokenGridFromLatent({ F: 21, H: 61, W: 104 }), "must be even");
  throws("odd latent W", () => tokenGridFromLatent({ F: 21, H: 60, W: 105 }), "must be even");
  throws("latent F 0", () => tokenGridFromLatent({ F: 0, H: 60, W: 104 }), "latent F");
});

// ---- the `plan` command, through the package's bin (Deno host only: needs a subprocess) ----

interface DenoLike {
  Command: new (cmd: string, opts: { args: string[]; stdout: "piped"; stderr: "piped" }) => {
    output(): Promise<{ code: number; stdout: Uint8Array; stderr: Uint8Array }>;
  };
}
async function shardit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const deno = (globalThis as unknown as { Deno: DenoLike }).Deno;
  const r = await new deno.Command("node", { args: ["bin/shardit.cjs", ...args], stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}

test("plan CLI: 480p N=4, frame vs sequence, weights", async () => {
  const keys = ["mode", "devices", "tokens", "computedTokens", "padTokens", "shards"];
  const frame = await shardit("plan", "--latent", "21,60,104", "--devices", "4", "--shard", "frame");
  expectEqual("frame exit", frame.code, 0);
  const fj = JSON.parse(frame.stdout);
  expectEqual("frame keys", Object.keys(fj), keys);
  expectEqual("frame padTokens", fj.padTokens, 4680);
  expectEqual("frame shard keys", Object.keys(fj.shards[0]), ["device", "start", "end", "tokens", "padTokens"]);
  // DESIGN.md's table: F' = 21 padded to 24 frames of 30 x 52 tokens, 6 frames (9,360 tokens) per device.
  const frameShards = [0, 1, 2, 3].map((d) => ({ device: d, start: d * 9360, end: (d + 1) * 9360, tokens: 9360, padTokens: d === 3 ? 4680 : 0 }));
  expectEqual("frame plan", fj, { mode: "frame", devices: 4, tokens: 32760, computedTokens: 37440, padTokens: 4680, shards: frameShards });
  const seq = await shardit("plan", "--latent", "21,60,104", "--devices", "4", "--shard", "sequence");
  expectEqual("sequence exit", seq.code, 0);
  const sj = JSON.parse(seq.stdout);
  expectEqual("sequence padTokens", sj.padTokens, 0);
  expectEqual("sequence tokens", sj.shards.map((s: { tokens: number }) => s.tokens), [8190, 8190, 8190, 8190]);
  const w = await shardit("plan", "--latent", "5,6,6", "--devices", "3", "--weights", "1,2,3");
  expectEqual("weights exit", w.code, 0);
  expectEqual("weights tokens", JSON.parse(w.stdout).shards.map((s: { tokens: number }) => s.tokens), [8, 15, 22]);
}, { hosts: ["deno"] });

test("plan CLI: bad flags exit 2 with one clear line", async () => {
  const cases: [string[], string][] = [
    [["--latent", "21,60,104", "--device", "4"], "unknown flag --device"],
    [["--latent", "21,60", "--devices", "4"], "--latent must be three integers"],
    [["--latent", "21,61,104", "--devices", "4"], "must be even"],
    [["--latent", "21,60,104", "--devices", "0"], "--devices must be an integer >= 1"],
    [["--latent", "21,60,104"], "--devices is required"],
    [["--devices", "2"], "--latent is required"],
    [["--latent", "21,60,104", "--devices", "4", "--shard", "ring"], "--shard must be one of sequence|frame"],
    [["--latent", "21,60,104", "--devices", "2", "--weights", "1,x"], "--weights must be comma-separated numbers"],
    [["--latent", "21,60,104", "--devices", "2", "--weights", "1,2,3"], "expected 2"],
    [["--latent", "21,60,104", "--devices", "2", "--shard", "frame", "--weights", "1,2"], "not supported"],
    [["--latent", "1,2,2", "--devices", "2"], "2 devices for 1 tokens"],
  ];
  for (const [args, needle] of cases) {
    const r = await shardit("plan", ...args);
    expectEqual(`exit of plan ${args.join(" ")}`, r.code, 2);
    const lines = r.stderr.trim().split("\n");
    assert(lines.length === 1 && lines[0].includes(needle), `plan ${args.join(" ")}: stderr ${JSON.stringify(r.stderr)} lacks "${needle}" on one line`);
    expectEqual(`stdout of plan ${args.join(" ")}`, r.stdout, "");
  }
}, { tags: ["slow"], hosts: ["deno"] });
