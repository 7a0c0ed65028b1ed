// End-to-end: builds the site (vite build), serves it with `vite preview` (cross-origin isolated), opens
// the demo in the system Chromium (SwiftShader WebGPU), runs the embedded model on 2 workers for 2
// steps, then "compare with one device"; decodes a latents file with the embedded VAE in the Video panel;
// runs the tiny pipeline folder (test/text/tiny_pipeline.ts) from a typed prompt through its umT5.
// Each check is one test case. The layout is checked at 1280x800 and 1920x1080 (Generate in view without
// scrolling, an error in view, disabled buttons with their reasons), with screenshots of both sizes in
// test-results/ (demo-1280x800.png, demo-1920x1080.png: after the run; demo.png: the whole page).
// Usage: node test/e2e/run-e2e.mjs [--json out.json] [--keep-dist]
// Env: E2E_TIMEOUT_MS (a run or a compare, default 300000), CHROMIUM_PATH.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium, startVite } from "../chromium.mjs";
import { checkRunner } from "../checks.mjs";
import { startStaticServer } from "./static_server.mjs";

const args = process.argv.slice(2);
const jsonPath = args.includes("--json") ? args[args.indexOf("--json") + 1] : "";
const RUN_TIMEOUT_MS = Number(process.env.E2E_TIMEOUT_MS ?? 300_000);
const WORKERS = 2, STEPS = 2;

const { check, resume, finish } = checkRunner("e2e", { oneLine: true });

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

/** Polls the page's state until `until(state)` holds; fails early on status "error". */
async function waitState(page, until, what, timeoutMs = RUN_TIMEOUT_MS) {
  const t0 = Date.now();
  for (;;) {
    const s = await page.evaluate(() => JSON.parse(JSON.stringify(window.__shardit_demo ?? null)));
    if (s && until(s)) return s;
    if (s?.status === "error") throw new Error(`page error while waiting for ${what}: ${s.error}`);
    if (Date.now() - t0 > timeoutMs) throw new Error(`no ${what} within ${timeoutMs} ms (status ${s?.status}, phase "${s?.phase}", step ${s?.step}/${s?.steps})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

let server, browser, page, state, screenshotSaved = false;
const SIZES = [[1280, 800], [1920, 1080]];

/** `selector`'s box lies inside the viewport as it is (no scrolling done here). */
async function inView(p, selector, what) {
  const box = await p.locator(selector).boundingBox();
  const vp = p.viewportSize();
  expect(box !== null, `${what} (${selector}) is not visible`);
  const inside = box.x >= 0 && box.y >= 0 && box.x + box.width <= vp.width && box.y + box.height <= vp.height;
  expect(inside, `${what} (${selector}) at x ${box.x.toFixed(0)}, y ${box.y.toFixed(0)} (${box.width.toFixed(0)}x${box.height.toFixed(0)}) is outside the ${vp.width}x${vp.height} viewport`);
}

async function saveScreenshot(p) {
  mkdirSync("test-results", { recursive: true });
  await p.screenshot({ path: "test-results/demo.png", fullPage: true }).catch((e) => console.error(`screenshot failed: ${e.message}`));
  screenshotSaved = true;
}
const pageErrors = [];
try {
  await check("vite build", async () => {
    const vite = await import("vite");
    await vite.build({ logLevel: "error" });
  }, { fatal: true });

  await check("page loads cross-origin isolated", async () => {
    server = await startVite({ preview: true });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => m.type() === "error" && pageErrors.push(`console: ${m.text()}`));
    // The root URL serves the demo (a redirect to /demo/, vite.config.ts), cross-origin isolated like the page itself.
    await page.goto(server.url);
    expect(new URL(page.url()).pathname === "/demo/", `${server.url} led to ${page.url()}, expected the demo at /demo/`);
    await page.waitForFunction(() => window.__shardit_demo?.env != null, null, { timeout: 60_000 });
    const iso = await page.evaluate(() => ({ coi: self.crossOriginIsolated, sab: typeof SharedArrayBuffer }));
    expect(iso.coi === true, `self.crossOriginIsolated is ${iso.coi}`);
    expect(iso.sab === "function", `SharedArrayBuffer is ${iso.sab}`);
    const env = await page.evaluate(() => window.__shardit_demo.env);
    expect(env.webgpu, `no WebGPU: ${env.problems.join("; ")}`);
    expect(env.problems.length === 0, env.problems.join("; "));
    // SwiftShader has no shader-f16: the option must be disabled, with a note.
    if (!env.f16) {
      expect(await page.isDisabled("#precision option[value=f16]"), "f16 option is enabled without shader-f16");
      expect(await page.isVisible("#f16-note"), "no note about the missing shader-f16");
    }
  }, { fatal: true });

  // A new user's first screen: the main action and its errors must be visible without scrolling.
  for (const [width, height] of SIZES) {
    await check(`layout at ${width}x${height}: Generate in view, an empty prompt's error in view, disabled buttons say why`, async () => {
      await page.setViewportSize({ width, height });
      await page.evaluate(() => window.scrollTo(0, 0));
      await inView(page, "#run", "the Generate button");
      expect(await page.isEnabled("#run"), "Generate is disabled on a page that can run");
      // Idle: Cancel and Compare are off with a reason; Decode is off with VAE = none, and says so.
      expect(await page.isDisabled("#cancel") && (await page.getAttribute("#cancel", "title")) === "nothing is running", "Cancel is not disabled with its reason while idle");
      expect(await page.isDisabled("#compare") && /Generate first/.test(await page.getAttribute("#compare", "title")), "Compare is not disabled with its reason before a run");
      expect(await page.isDisabled("#decode-cancel"), "Cancel decode is enabled while no decode runs");
      expect(await page.isDisabled("#decode"), "Decode is enabled with VAE = none");
      const decodeNote = await page.textContent("#decode-note");
      expect(/choose a VAE first/.test(decodeNote), `Decode's note "${decodeNote}"`);
      // An empty prompt is refused before anything runs, and the error shows where the user is looking.
      await page.check("#model-embedded");
      await page.fill("#prompt", "  ");
      await page.click("#run");
      await waitState(page, (s) => s.status === "error" || s.status === "done", "the empty prompt's error", 60_000).catch(() => {});
      const st = await page.evaluate(() => ({ status: window.__shardit_demo.status, error: window.__shardit_demo.error }));
      expect(st.status === "error" && /prompt is empty/.test(st.error ?? ""), `status ${st.status}, error ${st.error}`);
      await inView(page, "#run-note", "the error under Generate");
      await inView(page, "#error", "the error in the status panel");
      await page.fill("#prompt", "a red circle moving down");
    });
  }

  await check(`generate ${WORKERS} workers ${STEPS} steps`, async () => {
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.check("#model-embedded");
    await page.fill("#workers", String(WORKERS));
    await page.selectOption("#shard", "sequence");
    await page.selectOption("#precision", "f32");
    await page.fill("#steps", String(STEPS));
    await page.click("#run");
    state = await waitState(page, (s) => s.status === "done" && s.latentStats != null, "finished run");
    const sm = state.summary;
    console.log(`     setup ${(sm.setupMs / 1000).toFixed(1)} s, ${sm.msPerStep.toFixed(0)} ms/step (${sm.msPerStepAfterFirst.toFixed(0)} after the 1st)`);
  }, { fatal: true });

  await check(`progress reached ${STEPS}/${STEPS}`, async () => {
    expect(state.step === STEPS && state.steps === STEPS, `state step ${state.step}/${state.steps}`);
    const label = await page.textContent("#step-progress .label");
    expect(label.includes(`${STEPS}/${STEPS}`), `progress label "${label}"`);
    const rows = await page.locator("#timing .trow").count();
    expect(rows === STEPS, `${rows} timing rows, expected ${STEPS}`);
    const bars = await page.locator("#timing .tbar").count();
    expect(bars === STEPS * WORKERS, `${bars} timing bars, expected ${STEPS * WORKERS}`);
  });

  await check("shard map covers all tokens", async () => {
    const m = state.shardMap;
    expect(m && m.devices === WORKERS, `shard map devices ${m?.devices}, expected ${WORKERS}`);
    expect(m.mode === "sequence", `mode ${m.mode}`);
    expect(m.tokens === 512, `tokens ${m.tokens}, expected 512 (8 x 8 x 8)`);
    expect(m.padTokens === 0, `pad tokens ${m.padTokens}, expected 0`);
    const sum = m.perDevice.reduce((a, d) => a + d.tokens, 0);
    expect(sum === m.tokens, `per-device tokens sum to ${sum}, expected ${m.tokens}`);
    expect(m.perDevice.every((d) => d.tokens > 0 && d.padTokens === 0), `per device ${JSON.stringify(m.perDevice)}`);
    let next = 0; // contiguous, in order, from 0 to L
    for (const d of m.perDevice) {
      expect(d.start === next, `device ${d.device} starts at ${d.start}, expected ${next}`);
      next = d.end;
    }
    expect(next === m.tokens, `shards end at ${next}`);
    const legend = await page.locator("#legend li").count();
    expect(legend === WORKERS, `${legend} legend entries`);
  });

  await check("latents finite, expected length", async () => {
    const { C, F, H, W } = state.latentDims;
    expect(C === 12 && F === 8 && H === 16 && W === 16, `latent ${C}x${F}x${H}x${W}, expected the embedded 12x8x16x16 (8 frames of 32x32)`);
    const n = C * F * H * W;
    expect(state.latentStats.length === n, `latent length ${state.latentStats.length}, expected ${n}`);
    expect(state.latentStats.finite, "latent has NaN or Inf");
    expect(state.latentStats.std > 0, `latent std ${state.latentStats.std}`);
    const s = state.summary;
    expect(s.tokens === 512 && s.padTokens === 0 && s.paddingSavedVsFrameMode === s.framePadTokens, `summary ${JSON.stringify(s)}`);
    const adapters = String(s.adapters ?? "").split("; ").filter(Boolean);
    expect(adapters.length === WORKERS, `summary names ${adapters.length} worker adapters ("${s.adapters}"), expected ${WORKERS}`);
    const size = await page.evaluate(() => { const c = document.getElementById("preview"); return [c.width, c.height]; });
    expect(size[0] > 1 && size[1] > 1, `preview canvas is ${size.join("x")}`);
    // The embedded model's clip plays as an animated GIF (8 frames of 32x32 shown 4x).
    await page.waitForFunction(() => document.getElementById("clip").naturalWidth > 0, null, { timeout: 10_000 }).catch(() => {});
    const clip = await page.evaluate(() => { const i = document.getElementById("clip"); return { hidden: i.hidden, src: i.src.slice(0, 5), w: i.naturalWidth, h: i.naturalHeight }; });
    expect(!clip.hidden && clip.src === "blob:" && clip.w === 128 && clip.h === 128, `clip image ${JSON.stringify(clip)}`);
    const caption = await page.evaluate(() => ({ hidden: document.getElementById("clip-figure").hidden, text: document.getElementById("clip-caption").textContent }));
    expect(!caption.hidden && /8 frames of 32x32/.test(caption.text), `clip caption ${JSON.stringify(caption)}`);
    // The 12-channel pixel latent cannot go through a Wan VAE: Decode stays off and says why.
    await page.selectOption("#vae-source", "embedded");
    const why = await page.textContent("#decode-note");
    expect(await page.isDisabled("#decode") && /12 channels/.test(why), `Decode after a 12-channel run: disabled ${await page.isDisabled("#decode")}, note "${why}"`);
    await page.selectOption("#vae-source", "none");
    for (const [width, height] of SIZES) {
      await page.setViewportSize({ width, height });
      await page.evaluate(() => window.scrollTo(0, 0));
      mkdirSync("test-results", { recursive: true });
      await page.screenshot({ path: `test-results/demo-${width}x${height}.png` });
      await inView(page, "#run", `Generate after a run at ${width}x${height}`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await check("compare with one device: relL2 <= 1e-4", async () => {
    expect(await page.isEnabled("#compare"), "compare button disabled after a run");
    await page.click("#compare");
    const s = await waitState(page, (s) => s.compare != null && s.status === "done", "comparison");
    expect(Number.isFinite(s.compare.maxAbsDiff), `maxAbsDiff ${s.compare.maxAbsDiff}`);
    expect(s.compare.relL2 <= 1e-4, `relL2 ${s.compare.relL2} > 1e-4 (maxAbsDiff ${s.compare.maxAbsDiff})`);
    console.log(`     2 devices vs 1: max |diff| ${s.compare.maxAbsDiff.toExponential(2)}, rel L2 ${s.compare.relL2.toExponential(2)}`);
  });

  await saveScreenshot(page);

  await check("frame-mode shard map shows padding", async () => {
    // The plan is drawn as settings change, before any run: F' = 8 frames of 64 tokens on 3 devices pads to 9.
    await page.fill("#workers", "3");
    await page.selectOption("#shard", "frame");
    const m = await page.evaluate(() => window.__shardit_demo.shardMap);
    expect(m.mode === "frame" && m.devices === 3, `shard map ${m.mode} on ${m.devices}`);
    expect(m.padTokens === 64 && m.computedTokens === 576, `pad ${m.padTokens}, computed ${m.computedTokens}; expected 64 of 576`);
    expect(m.perDevice[2].padTokens === 64, `device 2 pads ${m.perDevice[2].padTokens}`);
    expect(await page.locator("#legend .swatch.pad").count() === 1, "no padding entry in the legend");
    await page.selectOption("#shard", "sequence");
    await page.fill("#workers", String(WORKERS));
  });

  await check("speed weights 3,1 split the sequence 384 / 128; a bad entry is explained", async () => {
    await page.fill("#weights", "3,1");
    const m = await page.evaluate(() => window.__shardit_demo.shardMap);
    const tokens = m.perDevice.map((d) => d.tokens);
    expect(m.mode === "sequence" && tokens.join() === "384,128" && m.padTokens === 0, `per-device tokens ${tokens} (pad ${m.padTokens}), expected 384,128`);
    await page.fill("#weights", "3");
    const note = await page.textContent("#grid-note");
    expect(/Speed weights: 2 positive numbers/.test(note), `grid note "${note}"`);
    await page.fill("#weights", "");
  });

  await check("cancel stops a run at once and the same run then gives the same latents", async () => {
    await page.fill("#steps", "50");
    await page.click("#run");
    await waitState(page, (s) => s.status === "running" && s.step >= 1, "a first step of the long run");
    expect(await page.isEnabled("#cancel"), "cancel button disabled during a run");
    const t0 = Date.now();
    await page.click("#cancel");
    const s = await waitState(page, (s) => s.status !== "running", "the cancelled run to stop");
    const ms = Date.now() - t0;
    expect(s.status === "cancelled", `status ${s.status} after cancel ("${s.phase}")${s.error ? `: ${s.error}` : ""}`);
    expect(s.step < 50, `the run finished all ${s.step} steps`);
    expect(ms < 30_000, `cancel took ${ms} ms to stop the run`);
    expect(await page.isEnabled("#run") && await page.isDisabled("#cancel"), "buttons not reset after cancel");
    console.log(`     cancelled at step ${s.step}/50 in ${ms} ms`);
    // The same pool runs the first run's settings again and gets the same latents.
    await page.fill("#steps", String(STEPS));
    await page.click("#run");
    const again = await waitState(page, (s) => s.status === "done" && s.latentStats != null, "the run after the cancel");
    const [a, b] = [state.latentStats, again.latentStats];
    expect(a.length === b.length && Math.abs(a.mean - b.mean) <= 1e-6 * (1 + Math.abs(a.mean)) && Math.abs(a.std - b.std) <= 1e-6 * a.std,
      `latents after the cancel differ: mean ${b.mean} vs ${a.mean}, std ${b.std} vs ${a.std}`);
  });

  // The Video panel: wan-vae-tiny's latents [1,16,3,4,6] decoded by the embedded VAE (its shape, synthetic
  // weights) in 2 bands of latent rows, then played as a WebM (WebCodecs) or, without VideoEncoder, a GIF.
  await check("decode a latents file on 2 workers: bands on the shard map, a clip that plays, a download", async () => {
    await page.fill("#workers", "2");
    await page.selectOption("#vae-source", "embedded");
    await page.setInputFiles("#latents-file", "test/fixtures/wan-vae-tiny/io.safetensors");
    await page.click("#decode");
    const t0 = Date.now();
    let v;
    for (;;) {
      v = await page.evaluate(() => JSON.parse(JSON.stringify(window.__shardit_video ?? null)));
      if (v && ["done", "error", "cancelled"].includes(v.status)) break;
      if (Date.now() - t0 > RUN_TIMEOUT_MS) throw new Error(`no decode within ${RUN_TIMEOUT_MS} ms (status ${v?.status}, "${v?.phase}")`);
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(v.status === "done", `decode status ${v.status}: ${v.error ?? v.phase}`);
    expect(v.video.F === 9 && v.video.H === 32 && v.video.W === 48, `video ${JSON.stringify(v.video)}, expected 9 frames of 48x32`);
    expect(v.bands.map((b) => `${b.y0}-${b.y1}`).join(",") === "0-2,2-4", `bands ${JSON.stringify(v.bands)}`);
    const shown = await page.evaluate(async () => {
      const player = document.getElementById("video-player"), gif = document.getElementById("video-gif");
      if (!player.hidden) {
        if (player.readyState < 1) await new Promise((r) => { player.onloadedmetadata = r; setTimeout(r, 10_000); });
        return { kind: "webm", w: player.videoWidth, h: player.videoHeight };
      }
      if (!gif.complete) await new Promise((r) => { gif.onload = r; setTimeout(r, 10_000); });
      return { kind: "gif", w: gif.naturalWidth, h: gif.naturalHeight };
    });
    expect(shown.kind === v.format && shown.w === 48 && shown.h === 32, `the page shows ${JSON.stringify(shown)}, state says ${v.format}`);
    const link = await page.getAttribute("#video-download", "download");
    expect(link === `shardit-9x48x32.${v.format}`, `download name ${link}`);
    const bands = await page.evaluate(() => { const c = document.getElementById("decode-bands"); return c.width * c.height; });
    expect(bands > 0, "no decode bands drawn under the shard map");
    console.log(`     decoded in ${(v.decodeMs / 1000).toFixed(1)} s (device 0's chunks ${v.bands[0].chunkMs.map((m) => m.toFixed(0)).join(", ")} ms), ${v.format}${v.codec ? ` ${v.codec}` : ` (${v.fallback})`}, ${v.bytes} bytes`);
  });

  // A real checkpoint's prompt: the tiny pipeline folder (test/text/tiny_pipeline.ts: wan-tiny with 16
  // channels, umt5-tiny, its tokenizer, wan-vae-tiny) picked from disk, the prompt and the empty negative
  // through its umT5, the memory plan shown before; then the same run again reads the rows from the cache.
  await check("a prompt for a picked pipeline folder: umT5 ids == transformers', the memory plan first, then the cache", async () => {
    const dir = mkdtempSync(join(tmpdir(), "shardit-e2e-pipeline-"));
    execFileSync(process.execPath, ["bin/deno.cjs", "run", "-A", "test/text/tiny_pipeline.ts", `${dir}/tiny-wan`], { stdio: "ignore" });
    const golden = JSON.parse(readFileSync("test/fixtures/umt5-tiny/io.json", "utf8")).cases[1];
    // The encoder's GPU weights from the file's own header: every f32 tensor but the embedding table (gathered on the host).
    const st = readFileSync(`${dir}/tiny-wan/text_encoder/model.safetensors`);
    const header = JSON.parse(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString());
    const teBytes = Object.entries(header).filter(([k]) => k !== "__metadata__" && !/(^|\.)(shared|embed_tokens)\.weight$/.test(k))
      .reduce((n, [, v]) => n + v.shape.reduce((a, b) => a * b, 1) * 4, 0);
    await page.check("#model-folder");
    await page.setInputFiles("#folder", `${dir}/tiny-wan`);
    await page.fill("#ckpt-prompt", golden.prompt);
    await page.fill("#ckpt-negative", "");
    await page.selectOption("#text-precision", "f32");
    await page.fill("#workers", "1");
    await page.fill("#steps", "1");
    await page.fill("#guidance", "5");
    for (const [id, v] of [["latent-f", 2], ["latent-h", 4], ["latent-w", 4]]) await page.fill(`#${id}`, String(v));
    for (const round of [1, 2]) {
      await page.click("#run");
      const s = await waitState(page, (s) => s.status === "done" && s.latentStats != null, `the tiny pipeline's run ${round}`);
      expect(s.latentDims.C === 16 && s.latentStats.finite, `latent ${JSON.stringify(s.latentDims)}, finite ${s.latentStats.finite}`);
      const p = await page.evaluate(() => window.__shardit_prompt);
      expect(p.memory && p.memory.textEncoder.weights === teBytes && p.memory.textEncoder.tokens === golden.seq_len, `memory plan ${JSON.stringify(p.memory?.textEncoder)}, expected ${teBytes} bytes, ${golden.seq_len} tokens`);
      expect(p.prompts.length === 2 && p.prompts[0].inputIds.join() === golden.input_ids.slice(0, golden.seq_len).join() && p.prompts[1].seqLen === 1, `ids ${JSON.stringify(p.prompts.map((x) => x.inputIds))}`);
      expect(p.prompts.every((x) => x.cached === (round === 2)), `run ${round}: cached ${p.prompts.map((x) => x.cached)}`);
      const line = await page.textContent("#memory");
      expect(await page.isVisible("#memory") && /text encoder \(f32, 22 tokens\)/.test(line) && /DiT per device/.test(line), `memory line "${line}"`);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  await check("no page errors", async () => {
    expect(pageErrors.length === 0, pageErrors.slice(0, 3).join(" | "));
  });

  if (browser) resume(); // independent of the run above
  await check("explains a page that is not cross-origin isolated", async () => {
    const plain = await startStaticServer("dist");
    try {
      const p = await browser.newPage();
      await p.goto(`${plain.url}demo/index.html`);
      await p.waitForFunction(() => window.__shardit_demo?.env != null, null, { timeout: 60_000 });
      const s = await p.evaluate(() => window.__shardit_demo);
      expect(!s.env.isolated && s.status === "error", `isolated ${s.env.isolated}, status ${s.status}`);
      const banner = await p.textContent("#problems");
      expect(/cross-origin isolated/.test(banner) && /SharedArrayBuffer/.test(banner), `banner "${banner}"`);
      expect(await p.isDisabled("#run"), "Generate is enabled on a page that cannot run");
      await p.close();
    } finally {
      await plain.close();
    }
  });
} finally {
  if (page && !screenshotSaved) await saveScreenshot(page);
  await browser?.close().catch(() => {});
  await server?.close().catch(() => {});
}

finish(jsonPath);
