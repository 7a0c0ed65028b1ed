// Deno file access for checkpoints: a ByteSource that seeks and reads (so a 14B checkpoint is never
// loaded whole), and opening a model folder (config.json + one .safetensors, or an index json + shards).
import { type ByteSource, Checkpoint } from "./safetensors.ts";
import { parseWanConfig, type WanConfig } from "../model/config.ts";

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
  const size = (await file.stat()).size;
  let queue: Promise<unknown> = Promise.resolve();
  const readAt = async (offset: number, length: number): Promise<Uint8Array> => {
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

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isFile || e.isSymlink) names.push(e.name);
  } catch (e) {
    throw new Error(`${dir}: cannot read model folder: ${(e as Error).message}`);
  }
  return names.sort();
}

/**
 * Opens the checkpoint in `dir`: exactly one *.safetensors.index.json with the shards it names, or
 * (no index) exactly one .safetensors file. Anything else is an error naming the folder and what it holds.
 */
/** diffusers' and our own single-file weight names. */
const WEIGHT_FILE_NAMES = ["diffusion_pytorch_model.safetensors", "model.safetensors"];

export async function openCheckpointDir(dir: string): Promise<Checkpoint> {
  const names = await listDir(dir);
  const indexes = names.filter((n) => n.endsWith(".safetensors.index.json"));
  // Known weight-file names win over other .safetensors beside them (the fixtures keep io.safetensors there).
  const all = names.filter((n) => n.endsWith(".safetensors"));
  const known = all.filter((n) => WEIGHT_FILE_NAMES.includes(n));
  const shards = known.length === 1 ? known : all;
  const found = `found ${names.length ? names.join(", ") : "no files"}`;
  if (indexes.length > 1) throw new Error(`${dir}: more than one index json (${indexes.join(", ")}); expected one`);
  if (indexes.length === 1) {
    const index = await denoFileSource(join(dir, indexes[0]));
    let weightMap: Record<string, unknown>;
    try {
      weightMap = JSON.parse(new TextDecoder().decode(await index.read(0, index.size)))?.weight_map ?? {};
    } catch (e) {
      index.close?.();
      throw new Error(`${join(dir, indexes[0])}: index is not valid JSON: ${(e as Error).message}`);
    }
    const wanted = [...new Set(Object.values(weightMap).filter((v): v is string => typeof v === "string"))].sort();
    const missing = wanted.filter((f) => !names.includes(f));
    if (missing.length) {
      index.close?.();
      throw new Error(`${dir}: index ${indexes[0]} names ${missing.join(", ")}, not in the folder (${found})`);
    }
    const sources: ByteSource[] = [];
    try {
      for (const f of wanted) sources.push(await denoFileSource(join(dir, f)));
      return await Checkpoint.open(sources, index);
    } catch (e) {
      for (const s of sources) s.close?.();
      throw e;
    } finally {
      index.close?.();
    }
  }
  if (shards.length !== 1) {
    const hint = (await Deno.stat(join(dir, "transformer")).catch(() => null))?.isDirectory
      ? ` (a diffusers pipeline? try ${join(dir, "transformer")})`
      : "";
    throw new Error(
      `${dir}: expected exactly one .safetensors file or a *.safetensors.index.json, ${found}${hint}`,
    );
  }
  const src = await denoFileSource(join(dir, shards[0]));
  try {
    return await Checkpoint.open([src]);
  } catch (e) {
    src.close?.();
    throw e;
  }
}

/** Reads and validates `dir`/config.json. */
export async function readConfigDir(dir: string): Promise<WanConfig> {
  const path = join(dir, "config.json");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      const hint = (await Deno.stat(join(dir, "transformer")).catch(() => null))?.isDirectory ? ` (a diffusers pipeline? try ${join(dir, "transformer")})` : "";
      throw new Error(`${dir}: no config.json in the model folder${hint}`);
    }
    throw new Error(`${path}: cannot read: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  return parseWanConfig(json, path);
}

/** A model folder: its config and its (validated-header) checkpoint. */
export async function openModelDir(dir: string): Promise<{ config: WanConfig; checkpoint: Checkpoint }> {
  const config = await readConfigDir(dir);
  return { config, checkpoint: await openCheckpointDir(dir) };
}
