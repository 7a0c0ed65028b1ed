// The NaN/infinity guard (src/model/finite.ts): what it finds, and the message it gives.
import { assertFinite, findNonFinite } from "../../src/gpu/finite.ts";
import { expectEqual, test } from "../../src/selftest/harness.ts";

function message(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    return (e as Error).message;
  }
  return "";
}

test("finite: NaN, +Infinity and -Infinity are found, finite extremes are not", () => {
  expectEqual("all finite", findNonFinite(Float32Array.of(0, -0, 3.4e38, -3.4e38, 1e-45, 65504)), null);
  expectEqual("three", findNonFinite([1, NaN, 2, Infinity, -Infinity]), { count: 3, first: 1 });
  expectEqual("last only", findNonFinite(Float32Array.of(1, 2, -Infinity)), { count: 1, first: 2 });
  expectEqual("empty", findNonFinite(new Float32Array(0)), null);
});

test("finite: the error names what, how many, the first value and its row and column", () => {
  const rows = new Float32Array(3 * 4);
  rows[6] = Infinity;
  rows[11] = NaN;
  expectEqual("message", message(() => assertFinite(rows, "the output of its tokens [40, 43)", { width: 4, rowName: "token", firstRow: 40, hint: "a hint" })),
    "the output of its tokens [40, 43) has 2 non-finite values (first Infinity at token 41, column 2); a hint");
  expectEqual("flat", message(() => assertFinite([0, NaN], "x")), "x has 1 non-finite value (first NaN at index 1)");
  expectEqual("finite passes", message(() => assertFinite([1, 2], "x")), "");
});
