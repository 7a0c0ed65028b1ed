// One checked HTTP download, shared by the download caches (src/io/hub_deno.ts: a cache folder; src/io/hub_web.ts:
// the Cache API). It streams the body to a sink (so a multi-GB shard is never held whole in Deno), reports
// progress in bytes, and turns every way a download goes wrong into one line naming the URL and what it was
// for: 404 (null: the caller decides whether the file was optional), 401/403 (gated or private), other
// statuses, a network failure, and a truncated body (fewer bytes than the server announced, or a stream
// that broke off). Nothing here caches: the callers write to their cache only after download() returns.

/** (what is happening, bytes done, bytes total; total 0 when unknown). */
export type DownloadProgress = (label: string, done: number, total: number) => void;

export interface DownloadOptions {
  /** Appended to every message, e.g. " (Hub id Wan-AI/Wan2.1-T2V-1.3B-Diffusers)". */
  context?: string;
  progress?: DownloadProgress;
  /** Extra request headers (Authorization for gated repos). */
  headers?: Record<string, string>;
  /** Added to 401/403 messages (how to authenticate). */
  authHint?: string;
  signal?: AbortSignal;
}

/** The byte count the response promises: x-linked-size (the Hub's size of an LFS file), else an unencoded content-length. */
export function announcedSize(headers: Headers): number | null {
  const linked = Number(headers.get("x-linked-size") ?? NaN);
  if (Number.isSafeInteger(linked) && linked >= 0) return linked;
  const encoding = headers.get("content-encoding");
  if (encoding && encoding !== "identity") return null; // the length counts compressed bytes
  const length = Number(headers.get("content-length") ?? NaN);
  return Number.isSafeInteger(length) && length >= 0 ? length : null;
}

/**
 * GETs `url`, passing the body to `sink` chunk by chunk. Returns the byte count, or null when the server
 * answers 404. Throws (one line, naming the URL) on any other failure, including a body shorter than
 * announced; the sink may then hold a partial body, which the caller must discard.
 */
export async function download(url: string, sink: (chunk: Uint8Array) => void | Promise<void>, opts: DownloadOptions = {}): Promise<number | null> {
  const context = opts.context ?? "";
  const name = decodeURIComponent(new URL(url).pathname.split("/").pop() || url);
  let res: Response;
  try {
    res = await fetch(url, { headers: opts.headers, signal: opts.signal });
  } catch (e) {
    if (opts.signal?.aborted) throw e;
    throw new Error(`${url}: network failure (${(e as Error).message})${context}: offline or the server is unreachable`);
  }
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) {
    await res.body?.cancel();
    const auth = (res.status === 401 || res.status === 403) && opts.authHint ? `; ${opts.authHint}` : "";
    // The Hub says why in x-error-code / x-error-message (e.g. RepositoryNotFound, GatedRepo).
    const why = [res.headers.get("x-error-code"), res.headers.get("x-error-message")].filter(Boolean).join(": ");
    throw new Error(`${url}: HTTP ${res.status} ${res.statusText}${why ? ` (${why.replace(/\s+/g, " ")})` : ""}${context}${auth}`);
  }
  const expected = announcedSize(res.headers);
  let done = 0;
  opts.progress?.(`downloading ${name}`, 0, expected ?? 0);
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        throw new Error(
          `${url}: download broke off after ${done}${expected !== null ? ` of ${expected}` : ""} bytes (${(e as Error).message})${context}: network failure or truncated response; nothing was cached, run again to retry`,
        );
      }
      if (step.done) break;
      await sink(step.value);
      done += step.value.length;
      opts.progress?.(`downloading ${name}`, done, expected ?? 0);
    }
  }
  if (expected !== null && done !== expected) {
    throw new Error(`${url}: truncated download: ${done} bytes received, the server announced ${expected}${context}; nothing was cached, run again to retry`);
  }
  return done;
}
