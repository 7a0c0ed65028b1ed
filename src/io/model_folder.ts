// Opening a diffusers model folder, written once for every place a folder can live: a directory on disk
// (src/io/fs_deno.ts), a URL base (a plain HTTP server, or the Hugging Face Hub through src/io/hub*.ts),
// or a browser File list (<input webkitdirectory>). A folder is config.json plus its weights: one
// safetensors file, or an index json ({"weight_map": {tensor: file}}) and the shards it names. The same
// rules serve the transformer/ folder and a diffusers vae/ folder (diffusion_pytorch_model*.safetensors).
// config.json is returned parsed as JSON but not interpreted: its meaning is the model's business
// (parseWanConfig in src/model/config.ts, the VAE's config parser), so src/io never imports src/model.
import { type ByteSource, Checkpoint, fileObjectSource, urlSource } from "./safetensors.ts";

/** A folder of files, wherever it lives. Platform adapters implement it; the resolver below uses only this. */
export interface FolderSource {
  /** Where the folder is (a path or URL, no trailing slash), for messages. */
  readonly label: string;
  /** Appended to messages about this folder, e.g. ` (Hub id Wan-AI/Wan2.1-T2V-1.3B-Diffusers)`; may be "". */
  readonly context: string;
  /** The folder's files and subfolders where they can be listed (disk, File list); null where they cannot (HTTP: probe with open). */
  list(): Promise<{ files: string[]; dirs: string[] } | null>;
  /** The file `name` (no slashes), or null when the folder has no such file; any other failure throws, naming it. */
  open(name: string): Promise<ByteSource | null>;
  /** Where file `name` is (path or URL), for messages. */
  locate(name: string): string;
  /** The subfolder `name`; it need not exist (list/open then say so). */
  sub(name: string): FolderSource;
}

/** diffusers' and our own single-file weight names, in the order they are tried. */
export const WEIGHT_FILES = ["diffusion_pytorch_model.safetensors", "model.safetensors"];
/** The index json beside sharded weights, for each single-file name. */
export const INDEX_FILES = WEIGHT_FILES.map((f) => `${f}.index.json`);

export interface OpenedFolder<C> {
  /** config.json as the model's parser read it. */
  config: C;
  checkpoint: Checkpoint;
  /** The weight files opened: the index json (if any) then the safetensors, in order. */
  files: string[];
}

/**
 * Opens `folder`: config.json, given to `parseConfig` (the model's parser: parseWanConfig, the VAE's)
 * with its location for messages, before any weights are opened, so that a wrong folder fails before a
 * download starts; then the weights (rules: openFolderCheckpoint).
 */
export async function openModelFolder<C>(folder: FolderSource, parseConfig: (json: unknown, where: string) => C): Promise<OpenedFolder<C>> {
  const json = await readFolderJson(folder, "config.json");
  if (json === null) throw new Error(`${folder.label}: no config.json in the model folder${await subfolderHint(folder)}${folder.context}`);
  const config = parseConfig(json, folder.locate("config.json"));
  const { checkpoint, files } = await openFolderWeights(folder);
  return { config, checkpoint, files };
}

/** The folder's checkpoint: exactly one index json and its shards, or (no index) exactly one .safetensors file. */
export async function openFolderCheckpoint(folder: FolderSource): Promise<Checkpoint> {
  return (await openFolderWeights(folder)).checkpoint;
}

/**
 * `root`/`component` (e.g. "transformer", "vae") when it holds a config.json, as in a diffusers pipeline
 * folder or Hub repo; otherwise `root` itself (a folder that is already the component).
 */
export async function pipelineComponent(root: FolderSource, component: string): Promise<FolderSource> {
  const listing = await root.list();
  const sub = root.sub(component);
  if (listing) {
    if (!listing.dirs.includes(component)) return root;
    const inner = await sub.list();
    return inner?.files.includes("config.json") ? sub : root;
  }
  const probe = await sub.open("config.json");
  if (!probe) return root;
  probe.close?.();
  return sub;
}

/** Reads and parses JSON file `name` of `folder`; null when the folder has no such file. */
export async function readFolderJson(folder: FolderSource, name: string): Promise<unknown | null> {
  const src = await folder.open(name);
  if (!src) return null;
  try {
    return parseJsonBytes(await src.read(0, src.size), folder.locate(name));
  } finally {
    src.close?.();
  }
}

export function parseJsonBytes(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch (e) {
    throw new Error(`${what}: not valid JSON: ${(e as Error).message}`);
  }
}

/** The shard files an index json names, sorted and without repeats. */
export function indexShardNames(json: unknown, what: string): string[] {
  const map = (json as { weight_map?: unknown })?.weight_map;
  if (typeof map !== "object" || map === null || Array.isArray(map)) throw new Error(`${what}: index has no "weight_map" object`);
  const names = [...new Set(Object.values(map).filter((v): v is string => typeof v === "string"))].sort();
  const bad = names.find((n) => n.includes("/") || n.includes("\\") || n === ".." || n === "");
  if (bad !== undefined) throw new Error(`${what}: weight_map names "${bad}", expected a file name in the same folder`);
  return names;
}

async function openFolderWeights(folder: FolderSource): Promise<{ checkpoint: Checkpoint; files: string[] }> {
  const { index, shards, probed } = await chooseWeightFiles(folder);
  const opened: [string, ByteSource][] = [];
  try {
    for (const name of shards) {
      const src = name === probed?.[0] ? probed[1] : await folder.open(name);
      if (!src) throw new Error(`${folder.locate(name)}: not found${index ? `, but index ${index} names it` : ""}${folder.context}`);
      opened.push([name, src]);
    }
  } catch (e) {
    for (const [, s] of opened) s.close?.();
    throw e;
  }
  return await openCheckpoint(folder, opened, index);
}

/**
 * Which files hold the weights: an index json and its shards, or one safetensors file (index null). A
 * file opened while probing comes back open (`probed`), so that it is not fetched twice.
 */
async function chooseWeightFiles(folder: FolderSource): Promise<{ index: string | null; shards: string[]; probed?: [string, ByteSource] }> {
  const listing = await folder.list();
  if (listing === null) {
    // Not listable (HTTP): probe the index names, then the single-file names (a 404 answers "absent").
    for (const index of INDEX_FILES) {
      const json = await readFolderJson(folder, index);
      if (json !== null) return { index, shards: indexShardNames(json, folder.locate(index)) };
    }
    for (const name of WEIGHT_FILES) {
      const src = await folder.open(name);
      if (src) return { index: null, shards: [name], probed: [name, src] };
    }
    throw new Error(`${folder.label}: no ${INDEX_FILES.join(" / ")} and no ${WEIGHT_FILES.join(" / ")} (each answered 404)${folder.context}`);
  }
  const names = listing.files;
  const found = `found ${names.length ? names.join(", ") : "no files"}`;
  const indexes = names.filter((n) => n.endsWith(".safetensors.index.json"));
  const knownIndexes = indexes.filter((n) => INDEX_FILES.includes(n));
  if (indexes.length > 1 && knownIndexes.length !== 1) {
    throw new Error(`${folder.label}: more than one index json (${indexes.join(", ")}); expected one${folder.context}`);
  }
  const index = indexes.length === 1 ? indexes[0] : indexes.length > 1 ? knownIndexes[0] : null;
  if (index !== null) {
    const json = await readFolderJson(folder, index);
    if (json === null) throw new Error(`${folder.locate(index)}: listed but cannot be opened${folder.context}`);
    const shards = indexShardNames(json, folder.locate(index));
    const missing = shards.filter((f) => !names.includes(f));
    if (missing.length) throw new Error(`${folder.label}: index ${index} names ${missing.join(", ")}, not in the folder (${found})${folder.context}`);
    return { index, shards };
  }
  // Known weight-file names win over other .safetensors beside them (the fixtures keep io.safetensors there).
  const all = names.filter((n) => n.endsWith(".safetensors"));
  const known = all.filter((n) => WEIGHT_FILES.includes(n));
  const shards = known.length === 1 ? known : all;
  if (shards.length !== 1) {
    throw new Error(`${folder.label}: expected exactly one .safetensors file or a *.safetensors.index.json, ${found}${await subfolderHint(folder)}${folder.context}`);
  }
  return { index: null, shards };
}

async function openCheckpoint(folder: FolderSource, shards: [string, ByteSource][], index: string | null): Promise<{ checkpoint: Checkpoint; files: string[] }> {
  const indexSource = index === null ? undefined : await folder.open(index);
  try {
    const checkpoint = await Checkpoint.open(shards.map(([, s]) => s), indexSource ?? undefined);
    return { checkpoint, files: [...(index ? [index] : []), ...shards.map(([n]) => n)] };
  } catch (e) {
    for (const [, s] of shards) s.close?.();
    throw e;
  } finally {
    indexSource?.close?.();
  }
}

/** " (a diffusers pipeline? try X/transformer)" when the folder has subfolders holding a config.json. */
async function subfolderHint(folder: FolderSource): Promise<string> {
  const listing = await folder.list().catch(() => null);
  if (!listing) return "";
  const withConfig: string[] = [];
  for (const d of listing.dirs) {
    const inner = await folder.sub(d).list().catch(() => null);
    if (inner?.files.includes("config.json")) withConfig.push(d);
  }
  if (!withConfig.length) return "";
  const first = withConfig.includes("transformer") ? "transformer" : withConfig[0];
  return ` (a diffusers pipeline? try ${folder.sub(first).label}${withConfig.length > 1 ? `; it also has ${withConfig.filter((d) => d !== first).join(", ")}` : ""})`;
}

// ---------------------------------------------------------------------------------------------
// Adapters that need no platform: a File list, and a URL base read through HTTP Range requests.

/** A browser File (from <input type=file webkitdirectory>: webkitRelativePath is "picked/sub/name"). */
export type PickedFile = Blob & { name: string; webkitRelativePath?: string };

const pathOf = (f: PickedFile) => f.webkitRelativePath || f.name;

/** The folder `prefix` ("" for the top, else ending in "/") of a picked File list. */
export function fileListFolder(files: readonly PickedFile[], prefix = ""): FolderSource {
  const here = files.filter((f) => pathOf(f).startsWith(prefix));
  const rest = (f: PickedFile) => pathOf(f).slice(prefix.length);
  const label = prefix.replace(/\/$/, "") || "picked folder";
  return {
    label,
    context: "",
    list() {
      const names = here.map(rest);
      return Promise.resolve({
        files: names.filter((n) => !n.includes("/")).sort(),
        dirs: [...new Set(names.filter((n) => n.includes("/")).map((n) => n.slice(0, n.indexOf("/"))))].sort(),
      });
    },
    open(name) {
      const f = here.find((f) => rest(f) === name);
      return Promise.resolve(f ? fileObjectSource(f) : null);
    },
    locate: (name) => prefix + name,
    sub: (name) => fileListFolder(files, `${prefix}${name}/`),
  };
}

/**
 * The model folder among picked files: the one directory holding config.json beside .safetensors
 * weights (transformer/ preferred over others, as in a diffusers pipeline folder).
 */
export function pickModelFolder(files: readonly PickedFile[]): FolderSource {
  if (files.length === 0) throw new Error("no folder picked: choose the checkpoint folder (config.json + *.safetensors)");
  const byDir = new Map<string, string[]>();
  for (const f of files) {
    const p = pathOf(f), d = p.slice(0, p.lastIndexOf("/") + 1);
    byDir.set(d, [...(byDir.get(d) ?? []), p.slice(d.length)]);
  }
  const candidates = [...byDir.entries()].filter(([, names]) => names.includes("config.json") && names.some((n) => n.endsWith(".safetensors")));
  if (candidates.length === 0) {
    const names = files.slice(0, 8).map(pathOf).join(", ");
    throw new Error(`the picked folder has no config.json beside .safetensors weights (found ${names}${files.length > 8 ? ", ..." : ""})`);
  }
  const isTransformer = (d: string) => /(^|\/)transformer\/$/.test(d);
  const pick = candidates.find(([d]) => isTransformer(d)) ?? candidates[0];
  if (candidates.length > 1 && !isTransformer(pick[0])) {
    throw new Error(`the picked folder holds several checkpoints (${candidates.map(([d]) => d || "./").join(", ")}): pick one of them`);
  }
  return fileListFolder(files, pick[0]);
}

/**
 * A folder behind a URL base, read without a cache: each file through urlSource (HTTP Range requests
 * where the server allows them). A HEAD answering 404 means "no such file".
 */
export function urlFolder(base: string | URL, context = ""): FolderSource {
  const root = new URL(String(base).endsWith("/") ? String(base) : `${base}/`, typeof location !== "undefined" ? location.href : undefined);
  const locate = (name: string) => new URL(name, root).href;
  return {
    label: root.href.replace(/\/$/, ""),
    context,
    list: () => Promise.resolve(null),
    async open(name) {
      const url = locate(name);
      let head: Response;
      try {
        head = await fetch(url, { method: "HEAD" });
      } catch (e) {
        throw new Error(`${url}: network failure (${(e as Error).message})${context}`);
      }
      if (head.status === 404) return null;
      return await urlSource(url);
    },
    locate,
    sub: (name) => urlFolder(locate(`${name}/`), context),
  };
}
