"""Torch twin of bench/gemm.ts: times Y = X @ W^T + b (torch.nn.functional.linear) on the same shapes.

Shape keys are "MxKxN" (X [M, K], W [N, K]), precisions "f32" (TF32 off: true fp32), "bf16", "f16", so
the JSON joins bench/gemm.ts's on (shape, precision). Timing: CUDA events around --iters calls after
warm-up, best of 3 batches, ms per call and TFLOP/s (2 M N K).

usage: python3 bench/torch_gemm.py [--shapes 4096x4096x4096,...] [--precision f32,bf16,f16] [--iters 10] [--json out.json]
"""
import argparse, json, datetime
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--shapes", default="4096x4096x4096,32760x1536x8960,32760x8960x1536")
p.add_argument("--precision", default="f32,bf16,f16")
p.add_argument("--iters", type=int, default=10)
p.add_argument("--json", default="")
a = p.parse_args()

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
DT = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
dev = "cuda"
env = {
    "adapter": torch.cuda.get_device_name(0),
    "torch": torch.__version__,
    "cuda": torch.version.cuda,
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    "allow_tf32": torch.backends.cuda.matmul.allow_tf32,
}
print(f"adapter: {env['adapter']}; torch {env['torch']} cuda {env['cuda']}; TF32 off", flush=True)

results = []
for s in a.shapes.split(","):
    M, K, N = map(int, s.split("x"))
    for prec in a.precision.split(","):
        dt = DT[prec]
        g = torch.Generator(device=dev).manual_seed(0)
        x = (torch.rand(M, K, device=dev, generator=g) * 2 - 1).to(dt)
        w = ((torch.rand(N, K, device=dev, generator=g) * 2 - 1) / K**0.5).to(dt)
        b = (torch.rand(N, device=dev, generator=g) - 0.5).to(dt)
        y = torch.empty(M, N, device=dev, dtype=dt)
        # correctness spot check against float64 on 32 rows
        rows = torch.randint(0, M, (32,), device=dev, generator=g)
        ref = F.linear(x[rows].double(), w.double(), b.double())
        got = F.linear(x, w, b)[rows].double()
        rel = ((got - ref).norm() / ref.norm()).item()
        del got
        for _ in range(3):
            F.linear(x, w, b)
        torch.cuda.synchronize()
        best = float("inf")
        batches = []
        for _ in range(3):
            e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            e0.record()
            for _ in range(a.iters):
                F.linear(x, w, b)
            e1.record()
            torch.cuda.synchronize()
            ms = e0.elapsed_time(e1) / a.iters
            batches.append(ms)
            best = min(best, ms)
        tflops = 2 * M * N * K / (best * 1e-3) / 1e12
        r = {"shape": f"{M}x{K}x{N}", "M": M, "K": K, "N": N, "precision": prec, "ms": best, "tflops": tflops, "relErr": rel, "batches": batches}
        results.append(r)
        print(f"shape {r['shape']}  precision {prec}  ms {best:.4g}  TFLOP/s {tflops:.4g}  relErr {rel:.3g}", flush=True)
        del x, w, b, y
        torch.cuda.empty_cache()

if a.json:
    with open(a.json, "w") as f:
        json.dump({"bench": "torch_gemm", "env": env, "iters": a.iters, "results": results}, f, indent=2)
    print(f"wrote {a.json}")
