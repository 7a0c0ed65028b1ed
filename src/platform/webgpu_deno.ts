// Which WebGPU implementation a Deno process (and each of its device workers) uses: Deno's own (wgpu) or
// Dawn, Chrome's WebGPU, loaded from the `webgpu` npm package's Node-API addon. Dawn reaches subgroups and
// the matrix units (chromium-experimental-subgroup-matrix) that wgpu does not expose; see
// shared/gpu/README.md for what was measured. `auto` takes Dawn when its addon loads and gives an
// adapter, else Deno's own. src/gpu/device.ts stays platform neutral: it takes the chosen `GPU` object
// through setWebGpu. Only Deno entry points (CLI, benches, tests, workers) import this module.
import { setWebGpu } from "../gpu/device.ts";
import { installDawnPolling } from "./dawn_polling.ts";
import { withDawnLogHidden } from "./dawn_quiet.ts";

export const WEBGPU_CHOICES = ["auto", "dawn", "deno"] as const;
export type WebGpuChoice = typeof WEBGPU_CHOICES[number];
export type WebGpuImplementation = "dawn" | "deno";

/** The environment variable read when no --webgpu flag is given (workers get the choice from the pool). */
export const WEBGPU_ENV = "SHARDIT_WEBGPU";

/**
 * Dawn toggles: allow_unsafe_apis exposes the experimental subgroup-matrix feature;
 * vulkan_enable_f16_on_nvidia: without it Dawn hides shader-f16 on NVIDIA (requestDevice then fails with
 * "Unsupported feature"). SHARDIT_DAWN_TOGGLES appends more (e.g. disable_robustness for a bench).
 */
const DAWN_TOGGLES = ["allow_unsafe_apis", "vulkan_enable_f16_on_nvidia"];

export interface WebGpuBackend {
  implementation: WebGpuImplementation;
  gpu: GPU;
  /** Why auto did not take Dawn (absent when it did, or when the choice was explicit). */
  note?: string;
}

/** The choice from a flag value, else $SHARDIT_WEBGPU, else auto; a bad value is a one-line error. */
export function webGpuChoice(flag?: string): WebGpuChoice {
  const raw = flag ?? Deno.env.get(WEBGPU_ENV) ?? "auto";
  if (!(WEBGPU_CHOICES as readonly string[]).includes(raw)) {
    const from = flag !== undefined ? "--webgpu" : WEBGPU_ENV;
    throw new Error(`${from} must be one of ${WEBGPU_CHOICES.join("|")}, got "${raw}"`);
  }
  return raw as WebGpuChoice;
}

/** dawn.node's directory name for this OS and CPU, as the package lays it out. */
function dawnPlatformDir(): string {
  const arch = Deno.build.arch === "x86_64" ? "x64" : "arm64";
  if (Deno.build.os === "darwin") return "darwin-universal";
  if (Deno.build.os === "windows") return `win32-${arch}`;
  return `${Deno.build.os}-${arch}`;
}

/** Candidate paths of the addon: $SHARDIT_DAWN_NODE, the working directory's node_modules, this checkout's. */
function dawnAddonPaths(): string[] {
  const rel = `node_modules/webgpu/dist/${dawnPlatformDir()}/dawn.node`;
  const paths = [Deno.env.get("SHARDIT_DAWN_NODE"), `${Deno.cwd()}/${rel}`];
  try {
    // From src/platform/ (a source checkout); a bundle's URL points elsewhere and the cwd path covers it.
    // Not a literal `new URL(template, import.meta.url)`: Vite turns that form into a glob and copied every file
    // of the checkout it matched (README.md, package-lock.json, 14 MB of test fixtures) into the demo's build.
    const up = "../../";
    const url = new URL(up + rel, import.meta.url);
    if (url.protocol === "file:") paths.push(decodeURIComponent(url.pathname));
  } catch { /* not a file URL */ }
  return paths.filter((p): p is string => !!p);
}

let dawnGpu: GPU | null = null;

type NodeRequire = ((id: string) => unknown) & { resolve(id: string): string };

/** Loads dawn.node and creates its GPU object (once per process or worker); throws naming what failed. */
export async function loadDawn(): Promise<GPU> {
  dawnGpu ??= await createDawnInstance();
  return dawnGpu;
}

/**
 * A new Dawn instance (its own GPU object; dawn.node loads once per process or worker): its adapters are
 * enumerated here, at its first requestAdapter, which is when Mesa's device-select layer reads DRI_PRIME
 * (src/platform/deno_gpus.ts createPlacedGpus places several devices of one thread on different GPUs so).
 */
export async function createDawnInstance(): Promise<GPU> {
  // Imported here, not at the top, through a variable: node:module exists only in Deno (a browser build must
  // not try to resolve it) and a literal specifier would make `deno check` want @types/node.
  const nodeModule = "node:module";
  const { createRequire } = await import(nodeModule) as { createRequire(from: string): NodeRequire };
  const require = createRequire(import.meta.url);
  const candidates = dawnAddonPaths();
  try {
    // Node's resolution from this module: finds a hoisted node_modules/webgpu when shardit is installed as a package.
    const pkg = require.resolve("webgpu/package.json");
    candidates.splice(1, 0, pkg.replace(/package\.json$/, `dist/${dawnPlatformDir()}/dawn.node`));
  } catch { /* not resolvable from here: the other candidates */ }
  const path = candidates.find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
  if (!path) throw new Error(`Dawn: the webgpu package's addon was not found (looked at ${candidates.join(", ")}; run npm install)`);
  const addon = require(path) as { create(flags: string[]): GPU };
  const extra = (Deno.env.get("SHARDIT_DAWN_TOGGLES") ?? "").split(",").filter(Boolean);
  // SHARDIT_DAWN_BACKEND=null: Dawn's null backend (devices that do no work; the pool's leak test runs Dawn on
  // hosts without a GPU that way). Default vulkan.
  const backend = Deno.env.get("SHARDIT_DAWN_BACKEND") ?? "vulkan";
  const gpu = addon.create([`enable-dawn-features=${[...DAWN_TOGGLES, ...extra].join(",")}`, `backend=${backend}`]);
  // The instance enumerates its adapters at the first request, and that is when Dawn prints its warnings
  // (src/platform/dawn_quiet.ts): make that request here with them kept off the terminal.
  await withDawnLogHidden(path, () => gpu.requestAdapter());
  return gpu;
}

/**
 * Resolves `choice` to an implementation and registers its GPU object with src/gpu/device.ts, so every
 * Gpu.create in this process (or worker) uses it. Also sets $SHARDIT_WEBGPU to the result (unless
 * opts.setEnv is false, as in a pool's workers), so anything started later in the process sees the same choice.
 */
export async function useWebGpu(choice: WebGpuChoice = webGpuChoice(), opts: { setEnv?: boolean } = {}): Promise<WebGpuBackend> {
  const backend = await resolveWebGpu(choice);
  // dawn.node busy-polls for finished work while a promise waits; poll through timers after 1 ms instead
  // (src/platform/dawn_polling.ts). SHARDIT_DAWN_POLLING=busy keeps the addon's own loop (for comparisons).
  if (backend.implementation === "dawn" && Deno.env.get("SHARDIT_DAWN_POLLING") !== "busy") installDawnPolling();
  setWebGpu(backend.gpu, backend.implementation, { noSharedWrites: backend.implementation === "dawn" });
  // The environment is the process's, shared by its workers: a worker (setEnv false) must not change the
  // default of the main thread's later pools and child processes.
  if (opts.setEnv ?? true) Deno.env.set(WEBGPU_ENV, backend.implementation);
  current = backend;
  return backend;
}

let current: WebGpuBackend | null = null;

/** What the last useWebGpu in this process (or worker) chose; null before it. */
export function currentWebGpu(): WebGpuBackend | null {
  return current;
}

async function resolveWebGpu(choice: WebGpuChoice): Promise<WebGpuBackend> {
  const deno = (): GPU => {
    if (!navigator.gpu) throw new Error("Deno's WebGPU is not available here (navigator.gpu is missing)");
    return navigator.gpu;
  };
  if (choice === "deno") return { implementation: "deno", gpu: deno() };
  if (choice === "dawn") return { implementation: "dawn", gpu: await loadDawn() };
  // auto: Dawn if its addon loads and it finds an adapter (Mesa 22's lavapipe gives Dawn none).
  let note: string;
  try {
    const gpu = await loadDawn();
    if (await gpu.requestAdapter()) return { implementation: "dawn", gpu };
    note = "Dawn found no adapter";
  } catch (e) {
    note = `Dawn did not load: ${(e as Error).message}`;
  }
  return { implementation: "deno", gpu: deno(), note };
}

/**
 * Removes `--webgpu VALUE` / `--webgpu=VALUE` from argv (a flag every command and bench takes) and returns
 * the rest with the choice it named (undefined: not given).
 */
export function takeWebGpuFlag(argv: readonly string[]): { rest: string[]; webgpu?: string } {
  const rest: string[] = [];
  let webgpu: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--webgpu") {
      webgpu = argv[i + 1];
      if (webgpu === undefined || webgpu.startsWith("--")) throw new Error(`--webgpu needs a value (${WEBGPU_CHOICES.join("|")})`);
      i++;
    } else if (a.startsWith("--webgpu=")) {
      webgpu = a.slice("--webgpu=".length);
    } else {
      rest.push(a);
    }
  }
  return { rest, webgpu };
}
