// Hugging Face Hub ids: "owner/name" (or "owner/name@revision") names a repo whose files are served at
// <endpoint>/<owner>/<name>/resolve/<revision>/<path>. A diffusers pipeline repo such as
// Wan-AI/Wan2.1-T2V-1.3B-Diffusers keeps the DiT in transformer/ and the VAE in vae/ (each config.json +
// diffusion_pytorch_model*.safetensors [+ index]); src/io/model_folder.ts resolves those folders over
// HTTP, and the platform caches (hub_deno.ts: a cache folder; hub_web.ts: the Cache API) download each
// file once. Platform-neutral: no Deno, no DOM.

export const HUB_ENDPOINT = "https://huggingface.co";

export interface HubRepo {
  /** "owner/name". */
  id: string;
  /** A branch, tag or commit; "main" unless the id says "@revision". */
  revision: string;
}

// Hub rules: owner and name are letters, digits, '-', '_', '.', at most 96 characters, no "--" or ".."
// and not starting or ending with '-' or '.'.
const PART = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$/;

/** The repo a string names, or null when it is not a Hub id (so that it may be a path or URL instead). */
export function parseHubId(s: string): HubRepo | null {
  const at = s.indexOf("@");
  const id = at < 0 ? s : s.slice(0, at);
  const revision = at < 0 ? "main" : s.slice(at + 1);
  const parts = id.split("/");
  if (parts.length !== 2 || !parts.every((p) => PART.test(p) && !p.includes("--") && !p.includes(".."))) return null;
  if (!/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(revision) || revision.includes("..")) return null;
  return { id, revision };
}

/** The URL base (ending in "/") under which the repo's files are served. */
export function hubBaseUrl(repo: HubRepo, endpoint = HUB_ENDPOINT): string {
  return `${endpoint.replace(/\/+$/, "")}/${repo.id}/resolve/${encodeURIComponent(repo.revision)}/`;
}

/** How messages name the repo: " (Hub id owner/name)" or " (Hub id owner/name@rev)". */
export function hubContext(repo: HubRepo): string {
  return ` (Hub id ${repo.id}${repo.revision === "main" ? "" : `@${repo.revision}`})`;
}

/** The Hub answers 401 for a repo that does not exist as well as for a private one (so as not to reveal which). */
export const HUB_AUTH_HINT = "check the id (the Hub answers 401 for a repo that does not exist); a gated or private repo needs a token: accept its terms on huggingface.co and set HF_TOKEN";
