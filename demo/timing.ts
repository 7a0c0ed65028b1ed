// Per-device timing bars, one group per finished step: a bar per device whose length is its wall time
// for the step (both CFG forwards), the K/V exchange part (readback, barrier wait, upload) drawn in a
// darker shade at its start. The first step also pays for compiling the shaders.
import type { StepReport } from "../src/pipeline/generate.ts";
import { deviceColor } from "./shard_map.ts";

/** 812 ms, 8.5 s. */
export const fmtMs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

export function renderTiming(el: HTMLElement, steps: readonly StepReport[]): void {
  if (steps.length === 0) {
    el.innerHTML = `<p class="muted">Bars appear as steps finish.</p>`;
    return;
  }
  const max = Math.max(1, ...steps.flatMap((s) => s.perDevice.map((d) => d.ms)));
  const rows = steps.map((s) => {
    const bars = s.perDevice.map((d) => {
      const w = (100 * d.ms) / max, x = (100 * d.exchangeMs) / Math.max(d.ms, 1e-9);
      const title = `device ${d.device}: ${d.ms.toFixed(1)} ms, exchange ${d.exchangeMs.toFixed(1)} ms, ${d.tokens} tokens${d.padTokens ? ` + ${d.padTokens} pad` : ""}`;
      return `<div class="tbar" title="${title}"><span class="tfill" style="width:${w.toFixed(2)}%;--c:${deviceColor(d.device)};--x:${x.toFixed(2)}%"></span>` +
        `<span class="tval">${fmtMs(d.ms)}<small>${d.exchangeMs >= 0.5 ? ` · exchange ${fmtMs(d.exchangeMs)}` : ""}</small></span></div>`;
    }).join("");
    return `<div class="trow"><div class="tstep">step ${s.step + 1}<small>${fmtMs(s.ms)}${s.step === 0 ? " incl. compile" : ""}</small></div><div class="tbars">${bars}</div></div>`;
  });
  el.innerHTML = rows.join("");
  el.scrollTop = el.scrollHeight;
}
