"""PyTorch twin of bench/elementwise.ts: the same shapes, LayerNorm+modulation, affine LayerNorm, SiLU,
GELU-tanh, fp32 and bf16, timed with CUDA events on the same card. Prints one JSON line per case."""
import json, torch
import torch.nn.functional as F
dev = "cuda"
def t(fn, iters=10):
    for _ in range(2): fn()
    torch.cuda.synchronize()
    best = 1e9
    for _ in range(3):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        for _ in range(iters): fn()
        e.record(); torch.cuda.synchronize()
        best = min(best, s.elapsed_time(e) / iters)
    return best
for dt in [torch.float32, torch.bfloat16]:
    b = 4 if dt == torch.float32 else 2
    for L, d in [(32760, 1536), (75600, 1536), (32760, 5120), (32760, 24)]:
        x = torch.randn(L, d, device=dev, dtype=dt); sc = torch.randn(d, device=dev, dtype=dt); sh = torch.randn(d, device=dev, dtype=dt)
        ms = t(lambda: F.layer_norm(x.float(), (d,), eps=1e-6).to(dt) * (1 + sc) + sh)
        print(json.dumps({"op": "layerNormModulated(torch eager)", "shape": f"{L}x{d}", "dtype": str(dt), "ms": ms, "GBps": 2 * L * d * b / ms / 1e6}))
        ms = t(lambda: F.layer_norm(x, (d,), sc, sh, eps=1e-6))
        print(json.dumps({"op": "layerNormAffine(torch)", "shape": f"{L}x{d}", "dtype": str(dt), "ms": ms, "GBps": 2 * L * d * b / ms / 1e6}))
    h = torch.randn(32760, 8960, device=dev, dtype=dt)
    ms = t(lambda: F.silu(h, inplace=True))
    print(json.dumps({"op": "silu(torch)", "shape": "32760x8960", "dtype": str(dt), "ms": ms, "GBps": 2 * h.numel() * b / ms / 1e6}))
    ms = t(lambda: F.gelu(h, approximate="tanh"))
    print(json.dumps({"op": "geluTanh(torch, out of place)", "shape": "32760x8960", "dtype": str(dt), "ms": ms, "GBps": 2 * h.numel() * b / ms / 1e6}))
