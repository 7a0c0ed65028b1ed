// src/io/atomic_output.ts without a model: staged files replace the old ones only at commit(), close()
// before it changes nothing, other files in a folder target stay, a symbolic link is followed, a folder
// target inside another is staged inside it, and what a killed run leaves is cleaned up by the next.
import { OutputError, OutputSet, SimulatedKill, simulateKillAfter } from "../../src/io/atomic_output.ts";
import { test } from "../../src/selftest/harness.ts";

const read = (p: string) => Deno.readTextFileSync(p);
const names = (d: string) => [...Deno.readDirSync(d)].map((e) => e.name).sort().join(",");
const enc = (s: string) => new TextEncoder().encode(s);

test("outputs: commit replaces together, close before it changes nothing, other files and links are kept", async () => {
  const root = Deno.makeTempDirSync({ prefix: "shardit-atomic-" });
  const out = `${root}/out`;
  Deno.mkdirSync(out);
  Deno.writeTextFileSync(`${out}/a.txt`, "old a");
  Deno.writeTextFileSync(`${out}/keep.txt`, "user's");
  // closed without commit: untouched, nothing left beside it
  let o = OutputSet.open([{ flag: "--out", path: out, kind: "dir" }]);
  await o.write(out, "a.txt", enc("new a"));
  o.close();
  if (read(`${out}/a.txt`) !== "old a" || names(root) !== "out") throw new Error(`after close: ${read(`${out}/a.txt`)}, ${names(root)}`);
  // committed: new a and b, keep.txt kept, nothing left beside it
  o = OutputSet.open([{ flag: "--out", path: out, kind: "dir" }, { flag: "--frames", path: `${out}/frames`, kind: "dir" }, { flag: "--report", path: `${root}/r.json`, kind: "file" }]);
  await o.write(out, "a.txt", enc("new a"));
  await o.write(out, "b.txt", enc("new b"));
  await o.write(`${out}/frames`, "f0.png", enc("frame"));
  await o.write(`${root}/r.json`, enc("{}"));
  o.commit();
  if (read(`${out}/a.txt`) !== "new a" || read(`${out}/b.txt`) !== "new b" || read(`${out}/keep.txt`) !== "user's" || read(`${out}/frames/f0.png`) !== "frame" || read(`${root}/r.json`) !== "{}") {
    throw new Error(`after commit: ${names(out)}`);
  }
  if (names(root) !== "out,r.json") throw new Error(`left beside: ${names(root)}`);
  // a symbolic link to a folder: the folder's files are replaced, the link stays a link
  Deno.symlinkSync(out, `${root}/link`);
  o = OutputSet.open([{ flag: "--out", path: `${root}/link`, kind: "dir" }]);
  await o.write(`${root}/link`, "a.txt", enc("via link"));
  o.commit();
  if (!Deno.lstatSync(`${root}/link`).isSymlink || read(`${out}/a.txt`) !== "via link") throw new Error("link not followed");
}, { hosts: ["deno"] });

test("outputs: refused before any work (a file for a folder, a lock held), a killed run's leftovers cleaned", () => {
  const root = Deno.makeTempDirSync({ prefix: "shardit-atomic-" });
  Deno.writeTextFileSync(`${root}/file`, "x");
  const refuses = (what: string, fn: () => unknown, want: RegExp) => {
    try {
      fn();
    } catch (e) {
      if (e instanceof OutputError && want.test(e.message)) return;
      throw new Error(`${what}: ${(e as Error).message}`);
    }
    throw new Error(`${what}: accepted`);
  };
  refuses("file for a folder", () => OutputSet.open([{ flag: "--out", path: `${root}/file`, kind: "dir" }]), /--out .*file is an existing file; --out names a folder/);
  refuses("folder for a file", () => OutputSet.open([{ flag: "--out", path: root, kind: "file" }]), /is a folder; --out names a file/);
  const held = OutputSet.open([{ flag: "--out", path: `${root}/o`, kind: "dir" }]);
  refuses("second run", () => OutputSet.open([{ flag: "--out", path: `${root}/o`, kind: "dir" }]), new RegExp(`being written by another shardit run \\(pid ${Deno.pid}\\)`));
  held.close();
  // A killed run: its lock (a pid that is gone), its staging folder, and the old folder it had moved aside.
  Deno.mkdirSync(`${root}/.o.shardit-old-999999999`);
  Deno.writeTextFileSync(`${root}/.o.shardit-old-999999999/prev.txt`, "previous");
  Deno.mkdirSync(`${root}/.o.shardit-tmp-999999999-0`);
  Deno.writeTextFileSync(`${root}/.o.shardit-lock`, "999999999\n");
  const o = OutputSet.open([{ flag: "--out", path: `${root}/o`, kind: "dir" }]);
  o.close();
  if (read(`${root}/o/prev.txt`) !== "previous" || names(root) !== "file,o") throw new Error(`after recovery: ${names(root)}`);
}, { hosts: ["deno"] });

// A run killed (SIGKILL) at any point of its commit: the next run into any one of its targets leaves all of them
// old (killed before the journal decided the commit) or all new (after), with nothing left beside them. Each
// kill point of a commit of three targets (a folder with other files, a folder, a file: 10 file-system steps)
// is simulated in this process: the killed run's names carry a pid that is not running.
test("outputs: a commit killed between any two renames is finished (or undone) by the next run into any of its targets", async () => {
  const DEAD = 999_999_999;
  const ids = (o: string) => ({ out: `${o}/out`, frames: `${o}/frames`, report: `${o}/sub/r.json` });
  const targets = (p: ReturnType<typeof ids>) => [
    { flag: "--out", path: p.out, kind: "dir" as const },
    { flag: "--frames", path: p.frames, kind: "dir" as const },
    { flag: "--report", path: p.report, kind: "file" as const },
  ];
  const state = (p: ReturnType<typeof ids>) =>
    [`${p.out}/a.txt`, `${p.frames}/f0.png`, p.report].map((f) => {
      try {
        return read(f);
      } catch {
        return "none";
      }
    }).join("|");
  let decidedSeen = false;
  for (let k = 1; ; k++) {
    const root = Deno.makeTempDirSync({ prefix: "shardit-killed-commit-" });
    const p = ids(root);
    Deno.mkdirSync(p.out);
    Deno.mkdirSync(p.frames);
    Deno.mkdirSync(`${root}/sub`);
    Deno.writeTextFileSync(`${p.out}/a.txt`, "old");
    Deno.writeTextFileSync(`${p.out}/keep.txt`, "user's");
    Deno.writeTextFileSync(`${p.frames}/f0.png`, "old");
    Deno.writeTextFileSync(p.report, "old");
    const o = OutputSet.open(targets(p), DEAD);
    await o.write(p.out, "a.txt", enc("new"));
    await o.write(p.frames, "f0.png", enc("new"));
    await o.write(p.report, enc("new"));
    simulateKillAfter(k);
    try {
      o.commit();
      simulateKillAfter(-1);
      if (state(p) !== "new|new|new") throw new Error(`a whole commit: ${state(p)}`);
      if (k < 4) throw new Error(`the commit took only ${k - 1} steps`);
      break; // every kill point tried
    } catch (e) {
      if (!(e instanceof SimulatedKill)) throw e;
    }
    // The next run names one target only (k odd: the report, k even: --out); it finishes or undoes all three.
    const next = OutputSet.open(k % 2 ? [targets(p)[2]] : [targets(p)[0]]);
    next.close();
    const want = k === 1 ? "old|old|old" : "new|new|new"; // step 1 is the journal's write: killed before it, nothing decided
    decidedSeen ||= k > 1;
    if (state(p) !== want) throw new Error(`killed after step ${k}: ${state(p)} after the next run, expected ${want}; beside them: ${names(root)}`);
    if (read(`${p.out}/keep.txt`) !== "user's") throw new Error(`killed after step ${k}: the folder's other file is gone`);
    const left = [root, `${root}/sub`].flatMap((d) => [...Deno.readDirSync(d)].map((e) => e.name)).filter((n) => n.includes(".shardit-"));
    if (left.length) throw new Error(`killed after step ${k}: left ${left.join(", ")}`);
  }
  if (!decidedSeen) throw new Error("no kill point after the journal was tried");
}, { hosts: ["deno"] });
