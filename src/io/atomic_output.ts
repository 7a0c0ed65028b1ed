// All-or-nothing outputs for the CLI (Deno only). A command opens its outputs before any computation:
// each --out/--frames/--report target is checked (a folder where a folder is meant, a file where a file is,
// its folder there and writable), locked against a second run (`.NAME.shardit-lock` beside it, holding the
// pid), and given a staging folder beside it (`.NAME.shardit-tmp-PID-N`: the same file system, so renames
// are atomic) and a reference to the run's commit journal (`.NAME.shardit-ref-PID`). The command writes into
// the staging paths; commit() checks every staged file's size, writes the journal (`.FIRST.shardit-commit-PID`
// beside the first target, written whole and then renamed into place: one atomic act that decides the commit),
// then renames everything into place: a file target is one rename over the old file; a folder target keeps the
// old folder's other entries (hard links into the staging folder), moves the old folder aside and the staging
// folder in (two renames), then deletes the old one; each target's reference goes when it is done, the journal
// last. Until commit() starts, close() (also safe from a signal handler: synchronous) deletes the staging and
// leaves the previous outputs byte-identical. A run killed with SIGKILL leaves its lock, staging and reference;
// the next run into any of its targets sees the pid is gone and, under the lock of each target it can take:
// without a journal, deletes the staging and puts back a folder moved aside (the previous outputs); with one,
// finishes the renames the journal lists (the new outputs, all of them). A half-renamed state (a kill in the
// few renames of a commit) is thus detectable (journal and references) and never seen by a finished run.

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
  /** The reference to the commit journal (its path inside); "" for a nested target. */
  ref: string;
  nested: boolean;
}

/** One target's renames, as the commit journal lists them (a run recovering a killed commit redoes them). */
interface Step {
  kind: "dir" | "file";
  abs: string;
  stage: string;
  /** Where a folder target's previous folder is moved aside. */
  old: string;
  ref: string;
  lock: string;
}

/** Test hook: a commit "killed" after this many steps (SIGKILL: nothing cleaned up). */
export class SimulatedKill extends Error {}
let killAfterSteps = -1;
/** Test hook: the next commit stops after `steps` file-system steps as a killed process would (-1: off). */
export function simulateKillAfter(steps: number): void {
  killAfterSteps = steps;
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
function readPid(lock: string): number {
  try {
    return Number(Deno.readTextFileSync(lock).trim());
  } catch {
    return NaN;
  }
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

/**
 * Puts one target's staged output in place (idempotent: redone from the start by a run recovering a killed
 * commit, whatever was done before). `tick` counts each file-system step (the test hook).
 */
function applyStep(s: Step, tick: () => void = () => {}): void {
  if (s.kind === "file") {
    const staged = `${s.stage}/${basename(s.abs)}`;
    if (lstat(staged)) {
      Deno.renameSync(staged, s.abs);
      tick();
    }
  } else if (lstat(s.stage)) {
    if (lstat(s.abs)) {
      carryOver(s.abs, s.stage);
      if (lstat(s.old)) removeQuiet(s.old); // only if something new appeared at abs after the move aside
      Deno.renameSync(s.abs, s.old);
      tick();
    }
    Deno.renameSync(s.stage, s.abs);
    tick();
  }
  removeQuiet(s.old);
  removeQuiet(s.stage);
  removeQuiet(s.ref);
  tick();
}

/** Undoes one target's staging (a killed run whose commit was not decided). */
function undoStep(s: Step): void {
  removeQuiet(s.stage);
  if (lstat(s.old) && !lstat(s.abs)) Deno.renameSync(s.old, s.abs);
  removeQuiet(s.old);
  removeQuiet(s.ref);
}

/** A run's plan: what each target's reference holds, and the journal (the same) once the commit is decided. */
interface Plan {
  journal: string;
  steps: Step[];
}
function readPlan(path: string): Plan | null {
  try {
    const j = JSON.parse(Deno.readTextFileSync(path)) as Plan;
    return Array.isArray(j?.steps) && typeof j.journal === "string" ? j : null;
  } catch {
    return null; // none (the commit was not decided), or not ours
  }
}

export class OutputSet {
  private committing = false;
  private done = false;
  private readonly sizes = new Map<string, number>();

  private constructor(private readonly entries: Entry[], private readonly pid: number) {}

  /**
   * Checks, locks and stages every target, before any computation. Throws OutputError naming the flag.
   * `pid` (tests only) stands for this process in the names, as if another run made them.
   */
  static open(targets: readonly OutputTarget[], pid = Deno.pid): OutputSet {
    const entries: Entry[] = [];
    const set = new OutputSet(entries, pid);
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
          entries.push({ target: t, abs, parent: dirname(abs), base: basename(abs), stage: t.kind === "dir" ? stage : dirname(stage), lock: "", ref: "", nested: true });
          continue;
        }
        entries.push(OutputSet.prepare(t, abs, pid));
      }
      // Each target names the journal a commit will write (beside the first target): a run finding this
      // target's leftovers after a kill learns from it whether the commit was decided.
      const plan = JSON.stringify(set.plan());
      for (const e of entries) if (!e.nested) Deno.writeTextFileSync(e.ref, plan);
      return set;
    } catch (e) {
      set.close();
      throw e;
    }
  }

  private plan(): Plan {
    return {
      journal: this.journalPath(),
      steps: this.entries.filter((e) => !e.nested).map((e) => ({
        kind: e.target.kind,
        abs: e.abs,
        stage: e.stage,
        old: `${e.parent}/.${e.base}.shardit-old-${this.pid}`,
        ref: e.ref,
        lock: e.lock,
      })),
    };
  }

  private journalPath(): string {
    const first = this.entries.find((e) => !e.nested);
    return first ? `${first.parent}/.${first.base}.shardit-commit-${this.pid}` : "";
  }

  private static prepare(t: OutputTarget, linkOrPath: string, pid: number): Entry {
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
    OutputSet.takeLock(name, lock, pid);
    const entry: Entry = { target: t, abs, parent, base, stage: "", lock, ref: `${parent}/.${base}.shardit-ref-${pid}`, nested: false };
    try {
      OutputSet.cleanStale(entry);
      entry.stage = `${parent}/.${base}.shardit-tmp-${pid}-${serial++}`;
      Deno.mkdirSync(entry.stage);
    } catch (e) {
      removeQuiet(lock);
      if (e instanceof OutputError) throw e;
      throw new OutputError(`${name}: folder ${parent} is not writable (${(e as Error).message})`);
    }
    return entry;
  }

  private static takeLock(name: string, lock: string, self = Deno.pid): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        Deno.writeTextFileSync(lock, `${self}\n`, { createNew: true });
        return;
      } catch (e) {
        if (!(e instanceof Deno.errors.AlreadyExists)) {
          throw new OutputError(`${name}: folder ${dirname(lock)} is not writable (${(e as Error).message})`);
        }
      }
      const pid = readPid(lock); // NaN: removed meanwhile, try again
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new OutputError(`${name} is being written by another shardit run (pid ${pid}); wait for it to finish, or delete ${lock} if that run is gone`);
      }
      removeQuiet(lock); // a killed run's lock
    }
    throw new OutputError(`${name}: could not take the lock ${lock}`);
  }

  /**
   * Under the lock: what a killed run left beside this target. A commit it had decided (its journal is there)
   * is finished, for this target and every other target of that run whose lock is free; otherwise its
   * staging folders go and a folder it had moved aside comes back.
   */
  private static cleanStale(e: Entry): void {
    const dead = new Set<number>();
    for (const d of Deno.readDirSync(e.parent)) {
      const m = d.name.startsWith(`.${e.base}.shardit-`) ? /\.shardit-(tmp|old|ref|commit)-(\d+)(-\d+|\.part)?$/.exec(d.name) : null;
      if (m && !alive(Number(m[2]))) dead.add(Number(m[2]));
    }
    for (const pid of dead) {
      const ref = `${e.parent}/.${e.base}.shardit-ref-${pid}`;
      // This target's reference, or (this target done, others not) the journal beside it; null: killed before
      // its references were written, or already recovered.
      const plan = readPlan(ref) ?? readPlan(`${e.parent}/.${e.base}.shardit-commit-${pid}`);
      if (plan) {
        const decided = readPlan(plan.journal) !== null;
        const step = decided ? applyStep : undoStep;
        for (const s of plan.steps) {
          if (s.ref === ref) {
            step(s);
            continue;
          }
          if (!lstat(s.ref)) { // done already: only the killed run's lock may be left
            if (readPid(s.lock) === pid) removeQuiet(s.lock);
            continue;
          }
          try {
            OutputSet.takeLock(s.abs, s.lock);
          } catch {
            continue; // a live run holds it: that run finishes this target when it cleans up
          }
          try {
            step(s);
          } finally {
            removeQuiet(s.lock);
          }
        }
        if (plan.steps.every((s) => !lstat(s.ref))) removeQuiet(plan.journal);
      }
      for (const d of Deno.readDirSync(e.parent)) {
        const m = d.name.startsWith(`.${e.base}.shardit-`) ? /\.shardit-(tmp|old|ref|commit)-(\d+)(-\d+|\.part)?$/.exec(d.name) : null;
        if (!m || Number(m[2]) !== pid) continue;
        const p = `${e.parent}/${d.name}`;
        if (m[1] === "commit" && !m[3] && readPlan(p)?.steps.some((s) => lstat(s.ref))) continue; // other targets not yet finished
        if (m[1] === "old" && !lstat(e.abs)) Deno.renameSync(p, e.abs);
        else removeQuiet(p);
      }
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

  /** Checks every staged file, writes the journal (the commit is decided), then renames everything into place. */
  commit(): void {
    if (this.done) throw new Error("OutputSet: commit after close");
    for (const [path, size] of this.sizes) {
      const got = lstat(path)?.size;
      if (got !== size) throw new Error(`${path}: staged output has ${got ?? "no"} bytes, ${size} were written; nothing replaced`);
    }
    this.committing = true;
    let steps = 0, killed = false;
    const tick = () => {
      if (++steps === killAfterSteps) {
        killAfterSteps = -1;
        killed = true;
        throw new SimulatedKill(`commit stopped after ${steps} steps`);
      }
    };
    const journalPath = this.journalPath();
    if (!journalPath) return this.close(); // no targets
    try {
      const journal = this.plan();
      tick();
      Deno.writeTextFileSync(`${journalPath}.part`, JSON.stringify(journal));
      Deno.renameSync(`${journalPath}.part`, journalPath); // decided: from here a killed commit is finished by the next run
      tick();
      for (const s of journal.steps) applyStep(s, tick);
      removeQuiet(journalPath);
    } finally {
      this.committing = false;
      if (!killed) {
        removeQuiet(journalPath); // a rename that failed: nothing to finish later (the error says which)
        this.close(); // staging left only where a rename failed; locks released
      }
    }
  }

  /** Deletes the staging (unless committed) and releases the locks; synchronous and idempotent. */
  close(): void {
    if (this.done) return;
    this.done = true;
    for (const e of this.entries) {
      if (e.nested) continue;
      if (e.stage) removeQuiet(e.stage); // renamed into place already: nothing there
      if (e.ref) removeQuiet(e.ref);
      if (e.lock) removeQuiet(e.lock);
    }
  }
}
