// The page: URL folders and Hub ids downloaded once through the Cache API (keyed by URL), so that a second
// visit reads the weights from the browser's cache. A body is put in the cache only after download() has
// checked its length, so a cut-off download is never mistaken for a complete one; a 404 is cached as an
// empty 404 response, so probing for optional files (the index json) needs no network on later visits.
// Without the Cache API (an insecure context, storage disabled) files are read through HTTP Range
// requests instead (urlFolder), uncached.
import { download, type DownloadProgress } from "./download.ts";
import { HUB_AUTH_HINT, HUB_ENDPOINT, hubBaseUrl, hubContext, type HubRepo, parseHubId } from "./hub.ts";
import { type FolderSource, urlFolder } from "./model_folder.ts";
import { fileObjectSource } from "./safetensors.ts";

export const MODEL_CACHE_NAME = "shardit-models-v1";

export interface WebCacheOptions {
  progress?: DownloadProgress;
  /** Appended to messages (the Hub id). */
  context?: string;
  /** Cache API cache name (default MODEL_CACHE_NAME). */
  cacheName?: string;
  headers?: Record<string, string>;
  authHint?: string;
}

async function openCache(name: string): Promise<Cache | null> {
  try {
    return typeof caches !== "undefined" ? await caches.open(name) : null;
  } catch {
    return null; // e.g. an insecure context or storage disabled: read without caching
  }
}

/** A URL folder downloaded once into the Cache API. */
export function cachedUrlFolder(base: string, opts: WebCacheOptions = {}): FolderSource {
  const root = new URL(base.endsWith("/") ? base : `${base}/`, typeof location !== "undefined" ? location.href : undefined).href;
  const locate = (name: string) => new URL(name, root).href;
  const context = opts.context ?? "";
  let cache: Promise<Cache | null> | null = null;
  const uncached = urlFolder(root, context);
  return {
    label: root.replace(/\/$/, ""),
    context,
    list: () => Promise.resolve(null),
    async open(name) {
      const c = await (cache ??= openCache(opts.cacheName ?? MODEL_CACHE_NAME));
      if (!c) return await uncached.open(name);
      const url = locate(name);
      const hit = await c.match(url);
      if (hit) {
        if (hit.status === 404) return null;
        return fileObjectSource(Object.assign(await hit.blob(), { name: url }));
      }
      const chunks: Uint8Array[] = [];
      const got = await download(url, (chunk) => void chunks.push(chunk), { context, progress: opts.progress, headers: opts.headers, authHint: opts.authHint });
      if (got === null) {
        await c.put(url, new Response(null, { status: 404 })).catch(() => {});
        return null;
      }
      const blob = new Blob(chunks as BlobPart[]);
      try {
        await c.put(url, new Response(blob, { headers: { "content-length": String(blob.size) } }));
      } catch (e) {
        console.warn(`shardit: could not cache ${url} (${(e as Error).message}); it will be downloaded again next time`);
      }
      return fileObjectSource(Object.assign(blob, { name: url }));
    },
    locate,
    sub: (name) => cachedUrlFolder(locate(`${name}/`), opts),
  };
}

/** The root of Hub repo `repo` (its transformer/ and vae/ are subfolders), through the Cache API. */
export function hubFolder(repo: HubRepo, opts: WebCacheOptions & { endpoint?: string } = {}): FolderSource {
  return cachedUrlFolder(hubBaseUrl(repo, opts.endpoint ?? HUB_ENDPOINT), { context: hubContext(repo), authHint: HUB_AUTH_HINT, ...opts });
}

/**
 * The folder a user typed into a page: a Hub id ("owner/name[@revision]") unless the text starts with
 * "/", "./", "../" or a scheme, in which case it is a URL (relative ones against the page). Both are read
 * through the Cache API. The caller picks the component (pipelineComponent(folder, "transformer")).
 */
export function folderFromText(text: string, opts: WebCacheOptions & { endpoint?: string } = {}): FolderSource {
  const t = text.trim();
  const repo = /^(\.{0,2}\/|[a-z][a-z0-9+.-]*:)/i.test(t) ? null : parseHubId(t);
  if (repo) return hubFolder(repo, opts);
  let url: URL;
  try {
    url = new URL(t.endsWith("/") ? t : `${t}/`, typeof location !== "undefined" ? location.href : undefined);
  } catch {
    throw new Error(`"${t}" is not a URL or a Hub id (owner/name)`);
  }
  return cachedUrlFolder(url.href, opts);
}

/** Deletes every cached download. */
export async function clearModelCache(cacheName = MODEL_CACHE_NAME): Promise<boolean> {
  return typeof caches !== "undefined" ? await caches.delete(cacheName) : false;
}
