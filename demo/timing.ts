// Per-device timing bars, one group per finished step: a bar per device whose length is its wall time
// for the step (both CFG forwards), the K/V exchange part drawn in a darker shade at its start.
import type { StepReport } from "../src/pipeline/generate.ts";
import { deviceColor } from "./shard_map.ts";

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
        `<span class="tval">${d.ms.toFixed(0)}<small>${d.exchangeMs >= 0.5 ? ` / ${d.exchangeMs.toFixed(0)}` : ""}</small></span></div>`;
    }).join("");
    return `<div class="trow"><div class="tstep">step ${s.step + 1}<small>${s.ms.toFixed(0)} ms</small></div><div class="tbars">${bars}</div></div>`;
  });
  el.innerHTML = rows.join("");
  el.scrollTop = el.scrollHeight;
}
