// Where a LoRA file is: a local path (Deno), an http(s) URL, or a file in a Hugging Face Hub repo written
// "owner/name[@revision]/path/in/repo.safetensors" (e.g. lightx2v/Wan2.1-Distill-Loras/
// wan2.1_t2v_14b_lora_rank64_lightx2v_4step.safetensors), or, in a page, a picked File. URLs and Hub files
// are read through the platform's download cache (src/io/hub_deno.ts: a folder; src/io/hub_web.ts: the
// Cache API), the same one model folders use. Then opened (headers only) and merged by src/loaders/lora.ts.
import { Gpu, type GpuOptions } from "../gpu/device.ts";
import { type HubRepo, parseHubId } from "../io/hub.ts";
import type { FolderSource } from "../io/model_folder.ts";
import { type ByteSource, Checkpoint, fileObjectSource } from "../io/safetensors.ts";
import type { WanConfig } from "../model/config.ts";
import type { WanWeights } from "../model/weights.ts";
import { type LoraFile, type MergeReport, mergeLoras, parseLoraArg, planLora } from "./lora.ts";

/** A LoRA for loadModel's `loras`: "FILE[:SCALE]" as on the command line, or a source and a strength. */
export type LoraSpec = string | { source: string | URL | (Blob & { name?: string }); strength?: number };

/** How a platform reaches files: its download cache for URL folders and Hub repos, and (Deno) local paths. */
export interface LoraPlatform {
  urlFolder(base: string): FolderSource;
  hubFolder(repo: HubRepo): FolderSource;
  /** A local file, or null when `path` names none (then it is tried as a URL or Hub file). */
  localFile?(path: string): Promise<ByteSource | null>;
}

/** "owner/name[@rev]/dir/file.safetensors" as a Hub repo and the path in it, or null. */
export function parseHubFile(text: string): { repo: HubRepo; path: string[] } | null {
  const parts = text.split("/");
  if (parts.length < 3 || !parts[parts.length - 1].endsWith(".safetensors")) return null;
  if (parts.some((p) => p === "" || p === "." || p === "..")) return null;
  const repo = parseHubId(`${parts[0]}/${parts[1]}`);
  return repo ? { repo, path: parts.slice(2) } : null;
}

async function openIn(folder: FolderSource, path: string[], what: string): Promise<ByteSource> {
  let f = folder;
  for (const dir of path.slice(0, -1)) f = f.sub(dir);
  const src = await f.open(path[path.length - 1]);
  if (!src) throw new Error(`${f.locate(path[path.length - 1])}: not found (HTTP 404)${f.context}: check the LoRA ${what}`);
  return src;
}

/** The bytes `text` names (see the file comment), through `platform`. */
export async function loraBytes(text: string, platform: LoraPlatform): Promise<ByteSource> {
  const local = await platform.localFile?.(text);
  if (local) return local;
  if (/^https?:\/\//.test(text)) {
    const url = new URL(text);
    const segments = url.pathname.split("/");
    const file = segments.pop()!;
    url.pathname = segments.join("/") + "/";
    return await openIn(platform.urlFolder(url.href), [decodeURIComponent(file)], `URL ${text}`);
  }
  const hub = parseHubFile(text);
  if (hub) return await openIn(platform.hubFolder(hub.repo), hub.path, `Hub file ${text}`);
  throw new Error(`--lora ${text}: ${platform.localFile ? "no such file, and " : ""}not an http(s) URL or a Hub file (owner/name[@revision]/path/file.safetensors)`);
}

/** Opens each LoRA (headers only), with its strength. */
export async function openLoras(specs: readonly LoraSpec[], platform: LoraPlatform): Promise<LoraFile[]> {
  const out: LoraFile[] = [];
  for (const spec of specs) {
    const { source, strength } = typeof spec === "string" ? parseLoraArg(spec) : { source: spec.source, strength: spec.strength ?? 1 };
    const src = typeof source === "string" ? await loraBytes(source, platform)
      : source instanceof URL ? await loraBytes(source.href, platform)
      : fileObjectSource(source);
    out.push({ name: typeof source === "string" ? source : src.name, checkpoint: await Checkpoint.open([src]), strength });
  }
  return out;
}

/** Merges `files` into `weights` on a device of its own (created for the merge, destroyed after). */
export async function applyLoras(config: WanConfig, weights: WanWeights, files: readonly LoraFile[], gpuOptions: GpuOptions = {}): Promise<MergeReport> {
  const gpu = await Gpu.create({ label: "LoRA merge", ...gpuOptions });
  try {
    return await mergeLoras(gpu, config, weights, files);
  } finally {
    gpu.destroy();
  }
}

/** Opens every LoRA and checks it against `config` from the headers: before the model's weights are read. */
export async function prepareLoras(config: WanConfig, specs: readonly LoraSpec[], platform: LoraPlatform): Promise<LoraFile[]> {
  const files = await openLoras(specs, platform);
  for (const f of files) await planLora(f, config);
  return files;
}
