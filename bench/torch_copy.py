"""Torch twin of bench/exchange.ts: the same bytes copied device -> host and host -> device on the same card,
from pageable and from pinned host memory, the hardware's reference for the K/V exchange's copies.
Timing: wall clock around each copy with torch.cuda.synchronize(), best of --repeats after a warm-up.

usage: python3 bench/torch_copy.py [--mb 100.6] [--repeats 5] [--json out.json]
"""
import argparse, json, time, datetime
import torch

p = argparse.ArgumentParser()
p.add_argument("--mb", type=float, default=100.6)
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--json", default="")
a = p.parse_args()
n = round(a.mb * 1e6 / 4096) * 4096
gpu = torch.arange(n, dtype=torch.uint8, device="cuda")
rows = []
for pinned in (False, True):
    host = torch.empty(n, dtype=torch.uint8, pin_memory=pinned)
    for name, fn in (("D2H", lambda: host.copy_(gpu)), ("H2D", lambda: gpu.copy_(host))):
        fn(); torch.cuda.synchronize()
        best = float("inf")
        for _ in range(a.repeats):
            t0 = time.perf_counter(); fn(); torch.cuda.synchronize(); best = min(best, time.perf_counter() - t0)
        ms = best * 1e3
        rows.append({"path": f"torch {name} {'pinned' if pinned else 'pageable'}", "MB": n / 1e6, "ms": ms, "GB/s": n / 1e6 / ms})
        print(f"{rows[-1]['path']:<24} {n / 1e6:.1f} MB {ms:8.2f} ms {n / 1e6 / ms:7.2f} GB/s")
if a.json:
    env = {"adapter": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
           "date": datetime.datetime.now(datetime.timezone.utc).isoformat()}
    with open(a.json, "w") as f:
        json.dump({"env": env, "bytes": n, "rows": rows}, f, indent=2)
