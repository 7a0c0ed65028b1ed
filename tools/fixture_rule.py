"""The fixtures' deterministic weight rule (test/fixtures/README.md), one copy for the Python scripts that build
weights by it: tools/umt5/make_fixtures.py (the umT5 fixtures), bench/torch_umt5.py and bench/torch_vae.py (torch
beside shardit at full dims). The TypeScript copies are src/loaders/synthetic.ts and src/vae/synthetic.ts.

  seed = FNV-1a 32 of the name's UTF-8 bytes; s = seed * 0x9E3779B1 mod 2^32
  element i: h = (i + s) mod 2^32, then the murmur3 finaliser; u = h / 2^32
  value = float32((2u - 1) * scale + offset), computed in float64, rounded once

(scale, offset) by name and shape, first match: names ending in .gamma (the VAE's RMS-norm gains) 0.1, 1; inputs
(names starting with input.) 1, 0; names ending in scale_shift_table 1/sqrt(last dim), 0; names ending in .bias
0.05, 0; other 1-D tensors (norm weights) 0.1, 1; other weights 1/sqrt(product of all dims but the first), 0.
Each caller's names meet only the branches its model has (the umT5 encoder: input., 1-D, weights; the VAE decoder:
.gamma, input., .bias, 1-D, weights), so one table serves all three.
"""
import math

import numpy as np

MASK = 0xFFFFFFFF


def fnv1a(name: str) -> int:
    """FNV-1a 32-bit hash of the name's UTF-8 bytes."""
    h = 0x811C9DC5
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x01000193) & MASK
    return h


def scale_offset(name: str, shape) -> tuple:
    """The rule's (scale, offset) of a tensor name and shape (the table in the module's docstring)."""
    if name.endswith(".gamma"):
        return 0.1, 1.0
    if name.startswith("input."):
        return 1.0, 0.0
    if name.endswith("scale_shift_table"):
        return 1 / math.sqrt(shape[-1]), 0.0
    if name.endswith(".bias"):
        return 0.05, 0.0
    if len(shape) == 1:
        return 0.1, 1.0
    return 1 / math.sqrt(int(np.prod(shape[1:]))), 0.0


def rule_tensor(name: str, shape) -> np.ndarray:
    """The tensor `name` of `shape` by the rule, float32 (numpy, on the CPU)."""
    n = int(np.prod(shape))
    s = (fnv1a(name) * 0x9E3779B1) & MASK
    h = (np.arange(n, dtype=np.uint64) + np.uint64(s)) & np.uint64(MASK)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(0x85EBCA6B)) & np.uint64(MASK)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(0xC2B2AE35)) & np.uint64(MASK)
    h ^= h >> np.uint64(16)
    u = h.astype(np.float64) / 2.0**32
    scale, offset = scale_offset(name, shape)
    return ((2 * u - 1) * scale + offset).astype(np.float32).reshape(shape)


def rule_tensor_torch(name: str, shape, dev):
    """rule_tensor computed by torch on `dev` (full-size weights on a GPU host in seconds): int64 arithmetic keeps
    the low 32 bits of every product exact (wraparound mod 2^64), so the values equal rule_tensor's bit for bit
    (bench/torch_umt5.py asserts it on the CPU before it runs)."""
    import torch

    n = int(np.prod(shape))
    s = (fnv1a(name) * 0x9E3779B1) & MASK
    h = (torch.arange(n, dtype=torch.int64, device=dev) + s) & MASK
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK
    h ^= h >> 16
    u = h.double() / 2.0**32
    scale, offset = scale_offset(name, shape)
    return ((2 * u - 1) * scale + offset).float().reshape(shape)
