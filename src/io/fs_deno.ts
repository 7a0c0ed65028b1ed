// Deno file access for checkpoints: a ByteSource that seeks and reads (so a 14B checkpoint is never
// loaded whole), and a model folder on disk as a FolderSource (the resolution rules live once, in
// src/io/model_folder.ts).
import { type ByteSource, type Checkpoint } from "./safetensors.ts";
import { type FolderSource, openFolderCheckpoint } from "./model_folder.ts";
import { withPath } from "../errors.ts";

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

/** A file on disk; reads are serialised (one handle, one seek position). */
export async function denoFileSource(path: string): Promise<ByteSource> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (e) {
    throw new Error(`${path}: cannot open: ${(e as Error).message}`);
  }
  const info = await file.stat();
  if (info.isDirectory) {
    file.close();
    throw new Error(`${path}: is a folder, expected a file`); // reading it gave "Is a directory (os error 21)", naming no path
  }
  const size = info.size;
  let queue: Promise<unknown> = Promise.resolve();
  const readAt = (offset: number, length: number): Promise<Uint8Array> => withPath(path, () => readAtRaw(offset, length));
  const readAtRaw = async (offset: number, length: number): Promise<Uint8Array> => {
    const out = new Uint8Array(length);
    await file.seek(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < length) {
      const n = await file.read(out.subarray(got));
      if (n === null) throw new Error(`${path}: unexpected end of file at byte ${offset + got} (wanted ${length} bytes from ${offset}; truncated?)`);
      got += n;
    }
    return out;
  };
  return {
    name: path,
    size,
    read(offset, length) {
      if (!(Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length <= size)) {
        return Promise.reject(new Error(`${path}: read of ${length} bytes at offset ${offset} is outside the file (${size} bytes)`));
      }
      const p = queue.then(() => readAt(offset, length));
      queue = p.catch(() => {});
      return p;
    },
    close() {
      try {
        file.close();
      } catch { /* already closed */ }
    },
  };
}

/** A directory on disk as a FolderSource (a missing file opens as null; a missing folder lists as an error). */
export function denoFolder(dir: string): FolderSource {
  const label = dir.length > 1 ? dir.replace(/\/+$/, "") : dir;
  return {
    label,
    context: "",
    async list() {
      const files: string[] = [], dirs: string[] = [];
      try {
        for await (const e of Deno.readDir(label)) {
          // A symlink counts as what it points to (the Hub cache and hand-made folders link files).
          const isDir = e.isDirectory || (e.isSymlink && (await Deno.stat(join(label, e.name)).catch(() => null))?.isDirectory);
          (isDir ? dirs : files).push(e.name);
        }
      } catch (e) {
        throw new Error(`${label}: cannot read model folder: ${(e as Error).message}`);
      }
      return { files: files.sort(), dirs: dirs.sort() };
    },
    async open(name) {
      try {
        await Deno.stat(join(label, name));
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return null;
        throw new Error(`${join(label, name)}: cannot open: ${(e as Error).message}`);
      }
      return await denoFileSource(join(label, name));
    },
    locate: (name) => join(label, name),
    sub: (name) => denoFolder(join(label, name)),
  };
}

/** The checkpoint in `dir` (rules: openFolderCheckpoint). */
export function openCheckpointDir(dir: string): Promise<Checkpoint> {
  return openFolderCheckpoint(denoFolder(dir));
}
