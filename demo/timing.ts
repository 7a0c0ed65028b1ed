// Per-device timing bars, one group per finished step: a bar per device whose length is its wall time
// for the step (both CFG forwards); at its start the K/V exchange: barrier waiting (for other devices)
// hatched, copying (readback, upload) in a darker shade. The first step also pays for compiling shaders.
import type { StepReport } from "../src/index.ts";
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
      // Segments as % of this bar: waiting for other devices, then copying, then computing.
      const w = (100 * d.ms) / max, all = Math.max(d.ms, 1e-9);
      const wait = (100 * d.exchangeWaitMs) / all, x = (100 * d.exchangeMs) / all;
      const group = d.group === undefined ? "" : ` (${d.group === 0 ? "conditional" : "unconditional"} group)`;
      const title = `device ${d.device}${group}: ${d.ms.toFixed(1)} ms; exchange ${d.exchangeMs.toFixed(1)} ms (waiting ${d.exchangeWaitMs.toFixed(1)} ms); ${d.tokens} tokens${d.padTokens ? ` + ${d.padTokens} pad` : ""}`;
      const ex = d.exchangeMs >= 0.5 ? ` · exchange ${fmtMs(d.exchangeMs)}${d.exchangeWaitMs >= 0.5 ? ` (wait ${fmtMs(d.exchangeWaitMs)})` : ""}` : "";
      return `<div class="tbar" title="${title}"><span class="tfill" style="width:${w.toFixed(2)}%;--c:${deviceColor(d.device)};--w:${wait.toFixed(2)}%;--x:${x.toFixed(2)}%"></span>` +
        `<span class="tval">${fmtMs(d.ms)}<small>${ex}</small></span></div>`;
    }).join("");
    return `<div class="trow"><div class="tstep">step ${s.step + 1}<small>${fmtMs(s.ms)}${s.step === 0 ? " incl. compile" : ""}${s.computed ? "" : " cached"}</small></div><div class="tbars">${bars}</div></div>`;
  });
  // No scrolling to the newest row: step 1 (which includes compiling) stays in view; the box grows to 8 steps.
  el.innerHTML = rows.join("");
}
