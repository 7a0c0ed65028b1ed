/** The bar itself, `[#####.....]` of `width` cells for done of total (clamped to [0, 1]). */
export function barText(done: number, total: number, width: number): string {
  const fill = Math.round((total > 0 ? Math.min(1, Math.max(0, done / total)) : 1) * width);
  return `[${"#".repeat(fill)}${".".repeat(width - fill)}]`;
}

// A one-line progress bar on stderr (only when stderr is a terminal; otherwise a line per 10%).
export function progressBar(label: string): (done: number, total: number) => void {
  const tty = Deno.stderr.isTerminal();
  let lastDecile = -1;
  const enc = new TextEncoder();
  return (done, total) => {
    const f = total > 0 ? Math.min(1, done / total) : 1;
    if (tty) {
      const text = `\r${label} ${barText(done, total, 30)} ${(100 * f).toFixed(0).padStart(3)}% ${(done / 2 ** 20).toFixed(1)}/${(total / 2 ** 20).toFixed(1)} MiB`;
      Deno.stderr.writeSync(enc.encode(text + (f >= 1 ? "\n" : "")));
    } else {
      const decile = Math.floor(f * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        Deno.stderr.writeSync(enc.encode(`${label}: ${decile * 10}%\n`));
      }
    }
  };
}

/** A progress bar per downloaded file, for (label, done, total) reports (src/io/download.ts). */
export function downloadProgress(): (label: string, done: number, total: number) => void {
  let label = "", bar: ((done: number, total: number) => void) | null = null;
  return (l, done, total) => {
    if (l !== label || !bar) {
      label = l;
      bar = progressBar(l);
    }
    bar(done, total);
  };
}
