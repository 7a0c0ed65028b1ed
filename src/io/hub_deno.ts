// Deno: model folders named on the command line (`--model DIR | URL | owner/name[@revision]`), and the
// download cache behind Hub ids. A Hub file is downloaded once into the cache folder ($SHARDIT_CACHE, else
// $XDG_CACHE_HOME/shardit, else ~/.cache/shardit), at <cache>/<host>/<URL path>, e.g.
// ~/.cache/shardit/huggingface.co/Wan-AI/Wan2.1-T2V-1.3B-Diffusers/resolve/main/transformer/config.json.
// Writes are atomic: the body streams to "<file>.partial-<pid>-<random>" and is renamed onto <file> only
// once its length matches what the server announced, so a file at its final name is always complete (a
// killed download leaves only a .partial, never read). A 404 is remembered as an empty "<file>.absent",
// so that probing for optional files (the index json) works offline after the first run. Delete the
// folder to download again (e.g. after the repo's main branch moved).
import { download, type DownloadProgress } from "./download.ts";
import { denoFileSource, denoFolder } from "./fs_deno.ts";
import { HUB_AUTH_HINT, HUB_ENDPOINT, hubBaseUrl, hubContext, type HubRepo, parseHubId } from "./hub.ts";
import { type FolderSource, pipelineComponent, urlFolder } from "./model_folder.ts";

/** The cache folder: $SHARDIT_CACHE, $XDG_CACHE_HOME/shardit or $HOME/.cache/shardit. */
export function defaultCacheDir(): string {
  const env = (k: string) => Deno.env.get(k) || undefined;
  const dir = env("SHARDIT_CACHE") ?? (env("XDG_CACHE_HOME") ? `${env("XDG_CACHE_HOME")}/shardit` : undefined) ??
    (env("HOME") ? `${env("HOME")}/.cache/shardit` : undefined);
  if (!dir) throw new Error("no cache folder for downloads: set SHARDIT_CACHE (or HOME)");
  return dir;
}

export interface CacheOptions {
  /** Where downloads are kept (default: defaultCacheDir()). */
  cacheDir?: string;
  progress?: DownloadProgress;
  /** Appended to messages (the Hub id). */
  context?: string;
  headers?: Record<string, string>;
  authHint?: string;
}

/** Where the cache keeps `url`: <cacheDir>/<host>/<path segments>; refuses segments that could leave the folder. */
export function cachePathOf(url: string, cacheDir: string): string {
  const u = new URL(url);
  const segments = [u.host.replace(":", "_"), ...u.pathname.split("/").filter(Boolean).map((s) => decodeURIComponent(s))];
  for (const s of segments) {
    if (s === "." || s === ".." || s.includes("/") || s.includes("\\") || s.includes("\0")) throw new Error(`${url}: cannot cache a URL with path segment "${s}"`);
  }
  return `${cacheDir.replace(/\/+$/, "")}/${segments.join("/")}`;
}

const exists = (path: string) => Deno.stat(path).then(() => true, (e) => (e instanceof Deno.errors.NotFound ? false : Promise.reject(e)));

/** Downloads `url` to `path` atomically (see the file comment); false on 404 (remembered as <path>.absent). */
async function fetchToCache(url: string, path: string, opts: CacheOptions): Promise<boolean> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true });
  const partial = `${path}.partial-${Deno.pid}-${Math.random().toString(36).slice(2, 10)}`;
  const file = await Deno.open(partial, { write: true, createNew: true });
  let closed = false;
  try {
    const got = await download(url, async (chunk) => {
      for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
    }, { context: opts.context, progress: opts.progress, headers: opts.headers, authHint: opts.authHint });
    file.close();
    closed = true;
    if (got === null) {
      await Deno.remove(partial);
      await Deno.writeFile(`${path}.absent`, new Uint8Array(0));
      return false;
    }
    await Deno.rename(partial, path);
    return true;
  } catch (e) {
    if (!closed) file.close();
    await Deno.remove(partial).catch(() => {});
    throw e;
  }
}

/** A URL folder whose files are downloaded once into the cache folder, then read from disk. */
export function cachedUrlFolder(base: string, opts: CacheOptions = {}): FolderSource {
  const root = base.endsWith("/") ? base : `${base}/`;
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const locate = (name: string) => new URL(name, root).href;
  return {
    label: root.replace(/\/$/, ""),
    context: opts.context ?? "",
    list: () => Promise.resolve(null),
    async open(name) {
      const url = locate(name), path = cachePathOf(url, cacheDir);
      if (!(await exists(path))) {
        if (await exists(`${path}.absent`)) return null;
        if (!(await fetchToCache(url, path, opts))) return null;
      }
      const src = await denoFileSource(path);
      return { ...src, name: url }; // messages name the URL (the cached path is in the cache folder)
    },
    locate,
    sub: (name) => cachedUrlFolder(locate(`${name}/`), opts),
  };
}

/** The root of Hub repo `repo`, downloaded through the cache. HF_ENDPOINT (as huggingface_hub reads it) and HF_TOKEN apply. */
export function hubFolder(repo: HubRepo, opts: CacheOptions & { endpoint?: string } = {}): FolderSource {
  const token = Deno.env.get("HF_TOKEN");
  return cachedUrlFolder(hubBaseUrl(repo, opts.endpoint ?? Deno.env.get("HF_ENDPOINT") ?? HUB_ENDPOINT), {
    context: hubContext(repo),
    authHint: HUB_AUTH_HINT,
    headers: token ? { Authorization: `Bearer ${token}` } : undefined,
    ...opts,
  });
}

/**
 * The folder `--model ARG` names, descending into `component` ("transformer", "vae") where ARG is a
 * diffusers pipeline: an existing local path first, then an http(s) URL (read with Range requests), then
 * a Hub id (downloaded through the cache). Anything else is an error saying which forms are accepted.
 */
export async function modelFolderFromArg(arg: string, component: string, opts: CacheOptions & { endpoint?: string } = {}): Promise<FolderSource> {
  const local = await Deno.stat(arg).catch(() => null);
  if (local?.isDirectory) return await pipelineComponent(denoFolder(arg), component);
  if (local) throw new Error(`${arg}: is a file; --model takes a folder (config.json + *.safetensors), a URL or a Hub id`);
  if (/^https?:\/\//.test(arg)) return await pipelineComponent(urlFolder(arg), component);
  const repo = parseHubId(arg);
  if (!repo) throw new Error(`${arg}: no such folder, and not a Hub id (owner/name[@revision]) or an http(s) URL`);
  const root = hubFolder(repo, opts);
  const inPipeline = root.sub(component);
  // Probing the pipeline layout first keeps a plain transformer repo (config.json at the top) working too.
  const probe = await inPipeline.open("config.json").catch((e) => {
    throw new Error(`${(e as Error).message} (and "${arg}" is not a local folder)`);
  });
  if (probe) {
    probe.close?.();
    return inPipeline;
  }
  const top = await root.open("config.json");
  if (!top) {
    throw new Error(`${root.locate(`${component}/config.json`)} and ${root.locate("config.json")}: not found (HTTP 404)${root.context}: is the id right? ("${arg}" is not a local folder either)`);
  }
  top.close?.();
  return root;
}
