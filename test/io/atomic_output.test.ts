// src/io/atomic_output.ts without a model: staged files replace the old ones only at commit(), close()
// before it changes nothing, other files in a folder target stay, a symbolic link is followed, a folder
// target inside another is staged inside it, and what a killed run leaves is cleaned up by the next.
import { OutputError, OutputSet } from "../../src/io/atomic_output.ts";
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
