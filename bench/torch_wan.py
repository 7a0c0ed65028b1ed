"""PyTorch twin of shardit's Wan2.1 DiT block stack, for timing beside bench/wan_forward.ts on the same GPU.

Same shapes and math as DESIGN.md ("Wan2.1 DiT forward"), written out (diffusers is not installed on the
GPU hosts): patch embedding as a linear map, LayerNorm + adaLN modulation, QK RMSNorm over d, 3D RoPE
(interleaved pairs), SDPA self-attention, cross-attention to the text, GELU-tanh feed-forward, output
projection. Weights are random (timing only). Prints JSON with ms per layer and the whole forward
scaled to the requested layer count.

usage: python3 bench/torch_wan.py --tokens-grid 21,30,52 --layers 2 --scale-to 30 [--dtypes fp32,bf16] [--json out]

--batches 1,2 (the time-to-video loop, bench/time_to_video.ts): per dtype, the whole forward (patch embedding,
the blocks, the output head) over a batch of B items (B latents, B texts: batched CFG's two branches at B = 2),
and a step-cache step (TeaCache's skipped step: patch embedding + the cached residual + the head), each the
median of --iters, with the blocks scaled from --layers to --scale-to. Printed and written as "loop".
"""
import argparse, json, math, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--tokens-grid", default="21,30,52")
p.add_argument("--heads", type=int, default=12)
p.add_argument("--head-dim", type=int, default=128)
p.add_argument("--ffn", type=int, default=8960)
p.add_argument("--text-len", type=int, default=512)
p.add_argument("--layers", type=int, default=2)
p.add_argument("--scale-to", type=int, default=30)
p.add_argument("--dtypes", default="fp32,bf16")
p.add_argument("--iters", type=int, default=3)
p.add_argument("--json", default="")
p.add_argument("--batches", default="", help="e.g. 1,2: the loop timings (see the docstring)")
p.add_argument("--channels", type=int, default=16, help="latent channels C (in and out) for the loop's patch embedding and head")
p.add_argument("--device", default="cuda", help="cuda, or cpu to check the script at tiny shapes")
a = p.parse_args()

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = a.device


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


def card():
    return torch.cuda.get_device_name(0) if dev == "cuda" else "cpu"
Fp, Hp, Wp = map(int, a.tokens_grid.split(","))
L = Fp * Hp * Wp
N, D = a.heads, a.head_dim
d = N * D


def rope_tables(dtype):
    hd = wd = 2 * (D // 6)
    td = D - hd - wd
    def axis(n, dim):
        j = torch.arange(dim // 2, dtype=torch.float64, device=dev)
        ang = torch.arange(n, dtype=torch.float64, device=dev)[:, None] / (10000 ** (2 * j / dim))[None, :]
        return ang
    f = torch.arange(L, device=dev) // (Hp * Wp)
    h = (torch.arange(L, device=dev) // Wp) % Hp
    w = torch.arange(L, device=dev) % Wp
    ang = torch.cat([axis(Fp, td)[f], axis(Hp, hd)[h], axis(Wp, wd)[w]], dim=1)  # [L, D/2]
    return ang.cos().to(dtype), ang.sin().to(dtype)


def rope(x, cos, sin):  # x [L, N, D], interleaved pairs
    x0, x1 = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)


def rms(x, w, eps=1e-6):
    return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps).to(x.dtype) * w


def weight_makers(dtype_name):
    """The dtype, the seeded generator (seed 0), and W(o, i) / B(o): random weights and biases drawn from it."""
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]
    g = torch.Generator(device=dev).manual_seed(0)
    def W(o, i):
        return (torch.randn(o, i, device=dev, generator=g) / math.sqrt(i)).to(dtype)
    def B(o):
        return (torch.randn(o, device=dev, generator=g) * 0.05).to(dtype)
    return dtype, g, W, B


def block_weights(W, B, g, dtype):
    """One Wan block's weights, drawn in a fixed order (run and run_loop draw the same stream)."""
    return dict(
        q=W(d, d), bq=B(d), k=W(d, d), bk=B(d), v=W(d, d), bv=B(d), o=W(d, d), bo=B(d), nq=1 + B(d), nk=1 + B(d),
        q2=W(d, d), bq2=B(d), k2=W(d, d), bk2=B(d), v2=W(d, d), bv2=B(d), o2=W(d, d), bo2=B(d), nq2=1 + B(d), nk2=1 + B(d),
        n2w=1 + B(d), n2b=B(d), f1=W(a.ffn, d), bf1=B(a.ffn), f2=W(d, a.ffn), bf2=B(d),
        mod=(torch.randn(6, d, device=dev, generator=g) / math.sqrt(d)).to(dtype))


def run(dtype_name):
    dtype, g, W, B = weight_makers(dtype_name)
    blocks = [block_weights(W, B, g, dtype) for _ in range(a.layers)]
    h0 = torch.randn(L, d, device=dev, generator=g).to(dtype)
    ctx = torch.randn(a.text_len, d, device=dev, generator=g).to(dtype)
    cos, sin = rope_tables(dtype)

    def block(h, b):
        shift, scale, gate, cshift, cscale, cgate = b["mod"].unbind(0)
        n = (F.layer_norm(h.float(), (d,), eps=1e-6) * (1 + scale.float()) + shift.float()).to(dtype)
        q = rope(rms(F.linear(n, b["q"], b["bq"]), b["nq"]).view(L, N, D), cos, sin)
        k = rope(rms(F.linear(n, b["k"], b["bk"]), b["nk"]).view(L, N, D), cos, sin)
        v = F.linear(n, b["v"], b["bv"]).view(L, N, D)
        o = F.scaled_dot_product_attention(q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None])
        o = o[0].transpose(0, 1).reshape(L, d)
        h = h + F.linear(o, b["o"], b["bo"]) * gate
        n = F.layer_norm(h.float(), (d,), b["n2w"].float(), b["n2b"].float(), eps=1e-6).to(dtype)
        q = rms(F.linear(n, b["q2"], b["bq2"]), b["nq2"]).view(L, N, D)
        k = rms(F.linear(ctx, b["k2"], b["bk2"]), b["nk2"]).view(-1, N, D)
        v = F.linear(ctx, b["v2"], b["bv2"]).view(-1, N, D)
        o = F.scaled_dot_product_attention(q.transpose(0, 1)[None], k.transpose(0, 1)[None], v.transpose(0, 1)[None])
        h = h + F.linear(o[0].transpose(0, 1).reshape(L, d), b["o2"], b["bo2"])
        n = (F.layer_norm(h.float(), (d,), eps=1e-6) * (1 + cscale.float()) + cshift.float()).to(dtype)
        f = F.linear(F.gelu(F.linear(n, b["f1"], b["bf1"]), approximate="tanh"), b["f2"], b["bf2"])
        return h + f * cgate

    def forward():
        h = h0
        for b in blocks:
            h = block(h, b)
        return h

    with torch.no_grad():
        forward()
        sync()
        times = []
        for _ in range(a.iters):
            t0 = time.perf_counter()
            forward()
            sync()
            times.append((time.perf_counter() - t0) * 1000)
    per_layer = min(times) / a.layers
    return {"dtype": dtype_name, "ms_per_layer": per_layer, "ms_forward_scaled": per_layer * a.scale_to, "layers_run": a.layers}


def run_loop(dtype_name):
    """Whole forwards over batches of B items and a cached step, ms, the blocks scaled to --scale-to."""
    dtype, g, W, B = weight_makers(dtype_name)
    C = a.channels
    blocks = [block_weights(W, B, g, dtype) for _ in range(a.layers)]
    patch_w, patch_b = W(d, 4 * C), B(d)
    head_w, head_b = W(4 * C, d), B(4 * C)
    head_mod = (torch.randn(2, d, device=dev, generator=g) / math.sqrt(d)).to(dtype)
    cos, sin = rope_tables(dtype)

    def attn(q, k, v):  # [Bt, L, N, D] -> [Bt, L, d]
        o = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return o.transpose(1, 2).reshape(q.shape[0], q.shape[1], d)

    def block(h, ctx, b):  # h [Bt, L, d], ctx [Bt, Lt, d]
        Bt = h.shape[0]
        shift, scale, gate, cshift, cscale, cgate = b["mod"].unbind(0)
        n = (F.layer_norm(h.float(), (d,), eps=1e-6) * (1 + scale.float()) + shift.float()).to(dtype)
        q = rope(rms(F.linear(n, b["q"], b["bq"]), b["nq"]).view(Bt * L, N, D), cos.repeat(Bt, 1), sin.repeat(Bt, 1)).view(Bt, L, N, D)
        k = rope(rms(F.linear(n, b["k"], b["bk"]), b["nk"]).view(Bt * L, N, D), cos.repeat(Bt, 1), sin.repeat(Bt, 1)).view(Bt, L, N, D)
        v = F.linear(n, b["v"], b["bv"]).view(Bt, L, N, D)
        h = h + F.linear(attn(q, k, v), b["o"], b["bo"]) * gate
        n = F.layer_norm(h.float(), (d,), b["n2w"].float(), b["n2b"].float(), eps=1e-6).to(dtype)
        q = rms(F.linear(n, b["q2"], b["bq2"]), b["nq2"]).view(Bt, L, N, D)
        k = rms(F.linear(ctx, b["k2"], b["bk2"]), b["nk2"]).view(Bt, -1, N, D)
        v = F.linear(ctx, b["v2"], b["bv2"]).view(Bt, -1, N, D)
        h = h + F.linear(attn(q, k, v), b["o2"], b["bo2"])
        n = (F.layer_norm(h.float(), (d,), eps=1e-6) * (1 + cscale.float()) + cshift.float()).to(dtype)
        f = F.linear(F.gelu(F.linear(n, b["f1"], b["bf1"]), approximate="tanh"), b["f2"], b["bf2"])
        return h + f * cgate

    def head(h):
        shift, scale = head_mod.unbind(0)
        n = (F.layer_norm(h.float(), (d,), eps=1e-6) * (1 + scale.float()) + shift.float()).to(dtype)
        return F.linear(n, head_w, head_b)

    def timed(fn):
        fn()
        sync()
        times = []
        for _ in range(a.iters):
            t0 = time.perf_counter()
            fn()
            sync()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        return times[len(times) // 2]

    rows = []
    for Bt in [int(x) for x in a.batches.split(",")]:
        patches = torch.randn(Bt, L, 4 * C, device=dev, generator=g).to(dtype)
        ctx = torch.randn(Bt, a.text_len, d, device=dev, generator=g).to(dtype)
        residual = torch.randn(Bt, L, d, device=dev, generator=g).to(dtype)
        with torch.no_grad():
            def blocks_only():
                h = F.linear(patches, patch_w, patch_b)
                for b in blocks:
                    h = block(h, ctx, b)
                return h
            def ends():  # patch embedding + head: what a forward costs besides its blocks
                return head(F.linear(patches, patch_w, patch_b))
            def cached():  # a skipped step: the blocks replaced by the cached residual
                return head(F.linear(patches, patch_w, patch_b) + residual)
            full_ms = timed(lambda: head(blocks_only()))
            ends_ms = timed(ends)
            cached_ms = timed(cached)
        per_layer = (full_ms - ends_ms) / a.layers
        rows.append({"dtype": dtype_name, "batch": Bt, "forward_ms": ends_ms + per_layer * a.scale_to, "cached_step_ms": cached_ms,
                     "ms_per_layer": per_layer, "layers_run": a.layers})
        print(json.dumps(rows[-1]))
        del patches, ctx, residual
    del blocks
    if dev == "cuda":
        torch.cuda.empty_cache()
    return rows


if a.batches:
    res = {"torch": torch.__version__, "card": card(), "tokens": L, "grid": [Fp, Hp, Wp], "heads": N, "head_dim": D,
           "ffn": a.ffn, "text_len": a.text_len, "scale_to": a.scale_to, "loop": [r for t in a.dtypes.split(",") for r in run_loop(t)]}
    if a.json:
        open(a.json, "w").write(json.dumps(res))
    raise SystemExit(0)

res = {"torch": torch.__version__, "card": card(), "tokens": L, "grid": [Fp, Hp, Wp], "heads": N, "head_dim": D,
       "ffn": a.ffn, "text_len": a.text_len, "scale_to": a.scale_to, "results": [run(t) for t in a.dtypes.split(",")]}
print(json.dumps(res, indent=1))
if a.json:
    open(a.json, "w").write(json.dumps(res))
