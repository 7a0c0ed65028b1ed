# Picks the fastest variant that passed its Float64 check in call A's sweeps; prints "GEMM ATTENTION" override values.
import json, sys, os
base = sys.argv[1]
g = "default"; a = "default"
try:
    d = json.load(open(os.path.join(base, "gemm/sweep_main.json")))
    rows = [r for r in d["rows"] if r.get("ok") and not r.get("toggles") and r["group"].endswith("32760x1536x8960")
            and r.get("tflops") and not any(r["name"].startswith(p) for p in ("samek", "nogl", "packx", "scalar"))]
    best = max(rows, key=lambda r: r["tflops"])
    g = ("packed:" + best["name"].split(" ", 1)[1]) if best["name"].startswith("packed ") else ("tile:" + best["name"])
    print(f"gemm pick {g} {best['tflops']:.1f} TFLOP/s", file=sys.stderr)
except Exception as e:
    print(f"gemm pick failed: {e}", file=sys.stderr)
try:
    recs = [json.loads(l) for l in open(os.path.join(base, "attention/sweep_default.jsonl")) if l.strip()]
    t = [r for r in recs if r.get("kind") == "time" and r.get("toggles") == "default" and "+" not in r.get("config", "")]
    shapes = sorted({r["shape"] for r in t if r["shape"].startswith("32760")})  # self (32760) and cross (512 keys)
    okall = [c for c in {r["config"] for r in t} if all(any(r["config"] == c and r["shape"] == s and r.get("ok") for r in t) for s in shapes)]
    main = [r for r in t if r["shape"] == "32760" and r["config"] in okall]
    best = min(main, key=lambda r: r["gpuMs"])
    a = best["config"]
    print(f"attention pick {a} {best['gpuMs']:.2f} ms", file=sys.stderr)
except Exception as e:
    print(f"attention pick failed: {e}", file=sys.stderr)
print(g, a)
