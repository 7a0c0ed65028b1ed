// Band plans for the sharded VAE decode (src/parallel/vae_plan.ts): 480p's 60 latent rows, every N up to h,
// weighted splits, invariants, and every validation error. Pure CPU, both hosts.
import { describeBands, planBands } from "../../src/parallel/vae_plan.ts";
import { expectEqual, expectThrows, test } from "../../src/selftest/harness.ts";

function checkInvariants(h: number, devices: number, weights?: number[]): number[] {
  const p = planBands(h, devices, weights);
  const tag = `h=${h} N=${devices}${weights ? ` weights ${weights}` : ""}`;
  expectEqual(`${tag} bands`, p.bands.length, devices);
  let y = 0;
  for (const b of p.bands) {
    expectEqual(`${tag} band ${b.device} starts where the last ended`, b.y0, y);
    expectEqual(`${tag} band ${b.device} rows`, b.rows, b.y1 - b.y0);
    if (b.rows < 1) throw new Error(`${tag}: band ${b.device} has ${b.rows} rows`);
    y = b.y1;
  }
  expectEqual(`${tag} bands cover h`, y, h);
  return p.bands.map((b) => b.rows);
}

test("vae plan: equal bands differ by at most one row, the first h % N one longer (every N up to h)", () => {
  for (const h of [1, 3, 4, 6, 7, 60, 90]) {
    for (let n = 1; n <= Math.min(h, 9); n++) {
      const rows = checkInvariants(h, n);
      const base = Math.floor(h / n);
      rows.forEach((r, d) => expectEqual(`h=${h} N=${n} band ${d}`, r, base + (d < h % n ? 1 : 0)));
    }
  }
  // 480p: latent 60 rows (480 video rows) on 4 devices = 15 rows (120 video rows) each.
  expectEqual("480p on 4", checkInvariants(60, 4).join(","), "15,15,15,15");
  expectEqual("describe", describeBands(planBands(60, 4))[1], "device 1: latent rows [15, 30) = video rows [120, 240)");
});

test("vae plan: weighted bands follow the weights by largest remainder", () => {
  expectEqual("60 rows, 3:1", checkInvariants(60, 2, [3, 1]).join(","), "45,15");
  expectEqual("7 rows, 1:1:2 (quotas 1.75,1.75,3.5: remainders to the first two)", checkInvariants(7, 3, [1, 1, 2]).join(","), "2,2,3");
  expectEqual("4 rows, 2:1:1", checkInvariants(4, 3, [2, 1, 1]).join(","), "2,1,1");
});

test("vae plan: bad input is a one-line error", async () => {
  await expectThrows("too many devices", () => planBands(4, 5), /5 devices for a latent height of 4 rows: every device needs at least one row \(ask for at most 4 devices\)/);
  await expectThrows("weights count", () => planBands(60, 2, [1]), /weights: expected 2 \(one per device\), got 1/);
  await expectThrows("weight zero", () => planBands(60, 2, [1, 0]), /weight of device 1 must be a positive number, got 0/);
  await expectThrows("weight rounds to no rows", () => planBands(4, 2, [100, 1]), /give device 1 none of the 4 latent rows/);
  await expectThrows("h", () => planBands(0, 1), /latent height must be an integer >= 1, got 0/);
  await expectThrows("devices", () => planBands(4, 1.5), /devices must be an integer >= 1, got 1.5/);
});
