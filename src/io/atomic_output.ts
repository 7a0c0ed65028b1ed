// All-or-nothing outputs for the CLI (Deno only). A command opens its outputs before any computation:
// each --out/--frames/--report target is checked (a folder where a folder is meant, a file where a file is,
// its folder there and writable), locked against a second run (`.NAME.shardit-lock` beside it, holding the
// pid), and given a staging folder beside it (`.NAME.shardit-tmp-PID-N`: the same file system, so renames
// are atomic). The command writes into the staging paths; commit() checks every staged file's size, then
// renames them into place one after the other with nothing else in between: a file target is one rename over
// the old file; a folder target keeps the old folder's other entries (hard links into the staging folder),
// moves the old folder aside and the staging folder in (two renames), then deletes the old one. Until
// commit() starts, close() (also safe from a signal handler: synchronous) deletes the staging and leaves
// the previous outputs byte-identical. A run killed with SIGKILL leaves its lock and staging folder; the next
// run into the same target sees the pid is gone, deletes them, and puts back a folder moved aside.

export interface OutputTarget {
  /** The flag, for messages: "--out". */
  flag: string;
  path: string;
  kind: "dir" | "file";
}

/** An output problem found before the run: one line naming the flag and the path. */
export class OutputError extends Error {}

interface Entry {
  target: OutputTarget;
  abs: string;
  parent: string;
  base: string;
  /** The staging folder (file targets write `${stage}/${base}`). */
  stage: string;
  /** The lock file; "" for a folder target inside another one (its lock covers it). */
  lock: string;
  nested: boolean;
}

const dirname = (p: string) => p.slice(0, Math.max(1, p.lastIndexOf("/")));
const basename = (p: string) => p.slice(p.lastIndexOf("/") + 1);
function absolute(p: string): string {
  const a = p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
  const parts: string[] = [];
  for (const s of a.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") parts.pop();
    else parts.push(s);
  }
  return "/" + parts.join("/");
}
function lstat(p: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(p);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) return null; // a/b with a a file: no b
    throw e;
  }
}
function alive(pid: number): boolean {
  if (pid === Deno.pid) return true;
  if (Deno.build.os !== "linux") return true; // no cheap check: assume it runs
  return lstat(`/proc/${pid}`) !== null;
}
function removeQuiet(p: string): void {
  try {
    Deno.removeSync(p, { recursive: true });
  } catch { /* already gone */ }
}

/** Hard-links (or copies) every entry of `from` that `to` lacks, recursively: the old folder's other files. */
function carryOver(from: string, to: string): void {
  for (const e of Deno.readDirSync(from)) {
    if (/^\.[^/]*\.shardit-(tmp|old|lock)/.test(e.name)) continue;
    const src = `${from}/${e.name}`, dst = `${to}/${e.name}`;
    const have = lstat(dst);
    if (e.isDirectory) {
      if (!have) Deno.mkdirSync(dst);
      if (!have || have.isDirectory) carryOver(src, dst);
    } else if (!have) {
      if (e.isSymlink) Deno.symlinkSync(Deno.readLinkSync(src), dst);
      else {
        try {
          Deno.linkSync(src, dst);
        } catch {
          Deno.copyFileSync(src, dst);
        }
      }
    }
  }
}

let serial = 0;

export class OutputSet {
  private committing = false;
  private done = false;
  private readonly sizes = new Map<string, number>();

  private constructor(private readonly entries: Entry[]) {}

  /** Checks, locks and stages every target, before any computation. Throws OutputError naming the flag. */
  static open(targets: readonly OutputTarget[]): OutputSet {
    const entries: Entry[] = [];
    const set = new OutputSet(entries);
    try {
      const list = targets.map((t) => ({ t, abs: absolute(t.path) }));
      // A folder target inside another folder target (generate --frames out/frames) is staged inside it.
      list.sort((a, b) => a.abs.length - b.abs.length);
      for (const { t, abs } of list) {
        const within = entries.find((e) => e.target.kind === "dir" && abs.startsWith(e.abs + "/"));
        if (within) {
          const stage = within.stage + abs.slice(within.abs.length);
          if (t.kind === "dir") Deno.mkdirSync(stage, { recursive: true });
          else Deno.mkdirSync(dirname(stage), { recursive: true });
          entries.push({ target: t, abs, parent: dirname(abs), base: basename(abs), stage: t.kind === "dir" ? stage : dirname(stage), lock: "", nested: true });
          continue;
        }
        entries.push(OutputSet.prepare(t, abs));
      }
      return set;
    } catch (e) {
      set.close();
      throw e;
    }
  }

  private static prepare(t: OutputTarget, linkOrPath: string): Entry {
    const name = `${t.flag} ${t.path}`;
    // A symbolic link is followed: what it points to is replaced, the link stays.
    let abs = linkOrPath;
    if (lstat(abs)?.isSymlink) {
      try {
        abs = Deno.realPathSync(abs);
      } catch {
        throw new OutputError(`${name} is a symbolic link to nothing`);
      }
    }
    const base = basename(abs), parent = dirname(abs);
    if (abs === "/") throw new OutputError(`${name}: name a ${t.kind === "dir" ? "folder" : "file"} below /`);
    const info = lstat(abs);
    if (t.kind === "dir" && info && !info.isDirectory) throw new OutputError(`${name} is an existing file; ${t.flag} names a folder`);
    if (t.kind === "file" && info?.isDirectory) throw new OutputError(`${name} is a folder; ${t.flag} names a file`);
    const p = lstat(parent);
    if (p && !p.isDirectory) throw new OutputError(`${name}: ${parent} is a file, not a folder`);
    if (!p) {
      if (t.kind === "file") throw new OutputError(`${name}: folder ${parent} does not exist`);
      try {
        Deno.mkdirSync(parent, { recursive: true });
      } catch (e) {
        throw new OutputError(`${name}: cannot create folder ${parent}: ${(e as Error).message}`);
      }
    }
    const lock = `${parent}/.${base}.shardit-lock`;
    OutputSet.takeLock(name, lock);
    const entry: Entry = { target: t, abs, parent, base, stage: "", lock, nested: false };
    try {
      OutputSet.cleanStale(entry);
      entry.stage = `${parent}/.${base}.shardit-tmp-${Deno.pid}-${serial++}`;
      Deno.mkdirSync(entry.stage);
    } catch (e) {
      removeQuiet(lock);
      if (e instanceof OutputError) throw e;
      throw new OutputError(`${name}: folder ${parent} is not writable (${(e as Error).message})`);
    }
    return entry;
  }

  private static takeLock(name: string, lock: string): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        Deno.writeTextFileSync(lock, `${Deno.pid}\n`, { createNew: true });
        return;
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) {
          throw new OutputError(`${name}: folder ${dirname(lock)} is not writable (${(e as Error).message})`);
        }
      }
      let pid = NaN;
      try {
        pid = Number(Deno.readTextFileSync(lock).trim());
      } catch { /* removed meanwhile: try again */ }
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new OutputError(`${name} is being written by another shardit run (pid ${pid}); wait for it to finish, or delete ${lock} if that run is gone`);
      }
      removeQuiet(lock); // a killed run's lock
    }
    throw new OutputError(`${name}: could not take the lock ${lock}`);
  }

  /** Under the lock: a killed run's staging folders go, a folder it had moved aside comes back. */
  private static cleanStale(e: Entry): void {
    for (const d of Deno.readDirSync(e.parent)) {
      const m = d.name.startsWith(`.${e.base}.shardit-`) ? /\.shardit-(tmp|old)-(\d+)(-\d+)?$/.exec(d.name) : null;
      if (!m || alive(Number(m[2]))) continue;
      const p = `${e.parent}/${d.name}`;
      if (m[1] === "old" && !lstat(e.abs)) Deno.renameSync(p, e.abs);
      else removeQuiet(p);
    }
  }

  private entry(path: string): Entry {
    const abs = absolute(path);
    const e = this.entries.find((x) => x.abs === abs || absolute(x.target.path) === abs);
    if (!e) throw new Error(`OutputSet: ${path} is not one of its targets`);
    return e;
  }

  /** The staged path of a file target, of a folder target, or of `name` inside a folder target. */
  staged(target: string, name?: string): string {
    const e = this.entry(target);
    if (e.target.kind === "file") return `${e.stage}/${e.base}`;
    return name ? `${e.stage}/${name}` : e.stage;
  }

  /** Writes one staged file and remembers its size for commit()'s check. */
  async write(target: string, nameOrBytes: string | Uint8Array, bytes?: Uint8Array): Promise<string> {
    const name = typeof nameOrBytes === "string" ? nameOrBytes : undefined;
    const data = typeof nameOrBytes === "string" ? bytes! : nameOrBytes;
    const path = this.staged(target, name);
    if (this.done) throw new Error(`OutputSet: ${path} written after commit or close`);
    await Deno.writeFile(path, data);
    this.sizes.set(path, data.length);
    return path;
  }

  /** True from the first rename on: a signal then waits for commit() to finish. */
  get isCommitting(): boolean {
    return this.committing;
  }
  get isDone(): boolean {
    return this.done;
  }

  /** Checks every staged file, then renames everything into place. */
  commit(): void {
    if (this.done) throw new Error("OutputSet: commit after close");
    for (const [path, size] of this.sizes) {
      const got = lstat(path)?.size;
      if (got !== size) throw new Error(`${path}: staged output has ${got ?? "no"} bytes, ${size} were written; nothing replaced`);
    }
    this.committing = true;
    try {
      for (const e of this.entries) {
        if (e.nested) continue;
        if (e.target.kind === "file") {
          Deno.renameSync(`${e.stage}/${e.base}`, e.abs);
          removeQuiet(e.stage);
          continue;
        }
        if (lstat(e.abs)) {
          carryOver(e.abs, e.stage);
          const old = `${e.parent}/.${e.base}.shardit-old-${Deno.pid}`;
          Deno.renameSync(e.abs, old);
          Deno.renameSync(e.stage, e.abs);
          removeQuiet(old);
        } else Deno.renameSync(e.stage, e.abs);
      }
    } finally {
      this.committing = false;
      this.close(); // staging left only where a rename failed; locks released
    }
  }

  /** Deletes the staging (unless committed) and releases the locks; synchronous and idempotent. */
  close(): void {
    if (this.done) return;
    this.done = true;
    for (const e of this.entries) {
      if (e.nested) continue;
      if (e.stage) removeQuiet(e.stage); // renamed into place already: nothing there
      if (e.lock) removeQuiet(e.lock);
    }
  }
}
