#!/usr/bin/env python3
"""torch SDPA baseline for bench/attention.ts: F.scaled_dot_product_attention on [1, N, L, D] (self-attention,
no mask; or cross-attention: a shape "Lq:Lk" x N x D, e.g. 32760:512x12x128 for the 512 text keys), fp32 (TF32 off), fp16 and bf16. For each (shape, precision) it times the backend torch picks by
default and, separately, each SDPA backend that accepts the input (flash, efficient, cudnn, math), so the
JSON says which backend the default is (`default_backend`: torch._fused_sdp_choice for these inputs). FLOPs = 4 L^2 N D.
Shape keys are "L{L}xN{N}xD{D}" (cross: "L{Lq}xLk{Lk}xN{N}xD{D}") as in bench/attention.ts.

  python bench/torch_attention.py [--shapes 4096x12x128,32760x12x128] [--precision fp32,fp16,bf16]
                                  [--iters 10] [--math] [--json out.json]
The math backend materializes N L^2 scores; it is skipped above L = 8192 unless --math.
"""
import argparse, json, platform, time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

ap = argparse.ArgumentParser()
ap.add_argument("--shapes", default="4096x12x128,32760x12x128")
ap.add_argument("--precision", default="fp32,fp16,bf16")
ap.add_argument("--iters", type=int, default=10)
ap.add_argument("--math", action="store_true")
ap.add_argument("--json")
a = ap.parse_args()

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = "cuda"
DT = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
BACKENDS = [("flash", SDPBackend.FLASH_ATTENTION), ("efficient", SDPBackend.EFFICIENT_ATTENTION),
            ("cudnn", SDPBackend.CUDNN_ATTENTION), ("math", SDPBackend.MATH)]


def timed(fn, iters):
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(3):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(iters):
            fn()
        e.record()
        torch.cuda.synchronize()
        best = min(best, s.elapsed_time(e) / iters)
    return best


env = {"torch": torch.__version__, "cuda": torch.version.cuda, "device": torch.cuda.get_device_name(0),
       "python": platform.python_version(), "tf32": False, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
print(env)
results = []
for s in a.shapes.split(","):
    Ls, N, D = s.split("x")
    N, D = int(N), int(D)
    L, Lk = (int(x) for x in Ls.split(":")) if ":" in Ls else (int(Ls), int(Ls))
    key = f"L{L}xN{N}xD{D}" if Lk == L else f"L{L}xLk{Lk}xN{N}xD{D}"
    flops = 4 * L * Lk * N * D
    g = torch.Generator(device=dev).manual_seed(0)
    q32 = torch.rand(1, N, L, D, device=dev, generator=g) * 2 - 1
    k32, v32 = (torch.rand(1, N, Lk, D, device=dev, generator=g) * 2 - 1 for _ in range(2))
    for prec in a.precision.split(","):
        q, k, v = (t.to(DT[prec]) for t in (q32, k32, v32))
        row = {"shape": key, "L": L, "Lk": Lk, "N": N, "D": D, "precision": prec, "backends": {}}
        default_backend = None
        for name, be in BACKENDS:
            if name == "math" and L > 8192 and not a.math:
                row["backends"][name] = {"skipped": "L > 8192 (pass --math)"}
                continue
            try:
                with sdpa_kernel([be]):
                    out = F.scaled_dot_product_attention(q, k, v)
                    ms = timed(lambda: F.scaled_dot_product_attention(q, k, v), a.iters)
                row["backends"][name] = {"ms": ms, "tflops": flops / (ms * 1e-3) / 1e12}
                default_backend = default_backend or name
            except RuntimeError as e:
                row["backends"][name] = {"unsupported": str(e).split("\n")[0][:200]}
            torch.cuda.empty_cache()
        ms = timed(lambda: F.scaled_dot_product_attention(q, k, v), a.iters)
        try:  # what torch's dispatcher picks for these inputs (private API; else the first backend that ran)
            default_backend = SDPBackend(torch._fused_sdp_choice(q, k, v)).name.lower()
        except Exception:
            default_backend = f"{default_backend}?"
        row.update(ms=ms, tflops=flops / (ms * 1e-3) / 1e12, default_backend=default_backend)
        results.append(row)
        print(f"{key} {prec}: default {ms:.2f} ms {row['tflops']:.1f} TFLOP/s (backend: {default_backend}); "
              + ", ".join(f"{n} {b['ms']:.2f} ms" if "ms" in b else f"{n} -" for n, b in row["backends"].items()))
if a.json:
    with open(a.json, "w") as f:
        json.dump({"bench": "torch_attention", "env": env, "flops": "4*L*Lk*N*D", "results": results}, f, indent=2)
    print("wrote", a.json)
