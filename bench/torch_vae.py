"""PyTorch twin of shardit's Wan VAE decoder (bench/vae_decode.ts), timed on the same GPU in the same call.

diffusers is not installed on the GPU hosts, so this is diffusers' AutoencoderKLWan decode path
(autoencoder_kl_wan.py: WanCausalConv3d, WanRMS_norm, WanResidualBlock, WanAttentionBlock, WanResample,
WanUpBlock, WanDecoder3d, _decode with clear_cache and one latent frame per chunk, CACHE_T = 2) written out
in plain torch with the same module names, so every parameter gets its weights from the fixtures' rule by
its diffusers name. Checked first against diffusers' own float64 output (--fixture: a wan-vae-* folder's
io.safetensors `decoded`), so the twin is the same math.

usage: python3 bench/torch_vae.py [--fixture test/fixtures/wan-vae-tiny] [--check-latent 2,8,8 --check-out F]
         [--latent 21,60,104] [--dtypes fp32,bf16] [--json out]
--check-out writes the real-dims (base_dim 96) decode of the rule's latents at --check-latent in float64,
as raw little-endian f32 [3, T', 8h, 8w], for bench/vae_decode.ts to check itself against.
"""
import argparse, json, math, os, struct, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CACHE_T = 2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from fixture_rule import rule_tensor as rule  # noqa: E402  the fixtures' rule, .gamma as norm gains (test/fixtures/README.md)


class CausalConv3d(nn.Conv3d):
    def __init__(self, cin, cout, k, padding=0):
        super().__init__(cin, cout, k, padding=padding)
        self._padding = (self.padding[2], self.padding[2], self.padding[1], self.padding[1], 2 * self.padding[0], 0)
        self.padding = (0, 0, 0)

    def forward(self, x, cache_x=None):
        padding = list(self._padding)
        if cache_x is not None and self._padding[4] > 0:
            x = torch.cat([cache_x, x], dim=2)
            padding[4] -= cache_x.shape[2]
        return super().forward(F.pad(x, padding))


class RMSNorm(nn.Module):
    def __init__(self, dim, images=True):
        super().__init__()
        self.scale = dim**0.5
        self.gamma = nn.Parameter(torch.ones((dim, 1, 1) if images else (dim, 1, 1, 1)))

    def forward(self, x):
        up = x.dtype in (torch.float16, torch.bfloat16)
        return F.normalize(x.float() if up else x, dim=1).to(x.dtype) * self.scale * self.gamma


def cached(conv, x, cache, idx):
    i = idx[0]
    cache_x = x[:, :, -CACHE_T:].clone()
    if cache_x.shape[2] < 2 and cache[i] is not None:
        cache_x = torch.cat([cache[i][:, :, -1:], cache_x], dim=2)
    x = conv(x, cache[i])
    cache[i] = cache_x
    idx[0] += 1
    return x


class ResidualBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = RMSNorm(cin, images=False)
        self.conv1 = CausalConv3d(cin, cout, 3, padding=1)
        self.norm2 = RMSNorm(cout, images=False)
        self.conv2 = CausalConv3d(cout, cout, 3, padding=1)
        self.conv_shortcut = CausalConv3d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, cache, idx):
        h = self.conv_shortcut(x)
        x = cached(self.conv1, F.silu(self.norm1(x)), cache, idx)
        x = cached(self.conv2, F.silu(self.norm2(x)), cache, idx)
        return x + h


class AttentionBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.norm = RMSNorm(dim)
        self.to_qkv = nn.Conv2d(dim, dim * 3, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x):
        identity = x
        b, c, t, h, w = x.size()
        x = self.norm(x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w))
        qkv = self.to_qkv(x).reshape(b * t, 1, c * 3, -1).permute(0, 1, 3, 2).contiguous()
        q, k, v = qkv.chunk(3, dim=-1)
        x = F.scaled_dot_product_attention(q, k, v)
        x = self.proj(x.squeeze(1).permute(0, 2, 1).reshape(b * t, c, h, w))
        return x.view(b, t, c, h, w).permute(0, 2, 1, 3, 4) + identity


class Resample(nn.Module):
    def __init__(self, dim, mode):
        super().__init__()
        self.mode = mode
        self.resample = nn.Sequential(nn.Upsample(scale_factor=(2.0, 2.0), mode="nearest-exact"), nn.Conv2d(dim, dim // 2, 3, padding=1))
        if mode == "upsample3d":
            self.time_conv = CausalConv3d(dim, dim * 2, (3, 1, 1), padding=(1, 0, 0))

    def forward(self, x, cache, idx):
        b, c, t, h, w = x.size()
        if self.mode == "upsample3d":
            i = idx[0]
            if cache[i] is None:
                cache[i] = "Rep"
                idx[0] += 1
            else:
                cache_x = x[:, :, -CACHE_T:].clone()
                if cache_x.shape[2] < 2 and cache[i] != "Rep":
                    cache_x = torch.cat([cache[i][:, :, -1:], cache_x], dim=2)
                if cache_x.shape[2] < 2 and cache[i] == "Rep":
                    cache_x = torch.cat([torch.zeros_like(cache_x), cache_x], dim=2)
                x = self.time_conv(x) if cache[i] == "Rep" else self.time_conv(x, cache[i])
                cache[i] = cache_x
                idx[0] += 1
                x = x.reshape(b, 2, c, t, h, w)
                x = torch.stack((x[:, 0], x[:, 1]), 3).reshape(b, c, t * 2, h, w)
        t = x.shape[2]
        x = x.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        x = self.resample[1](self.resample[0](x.float()).type_as(x))
        return x.view(b, t, x.size(1), x.size(2), x.size(3)).permute(0, 2, 1, 3, 4)


class UpBlock(nn.Module):
    def __init__(self, cin, cout, nres, mode):
        super().__init__()
        self.resnets = nn.ModuleList([ResidualBlock(cin if i == 0 else cout, cout) for i in range(nres + 1)])
        self.upsamplers = nn.ModuleList([Resample(cout, mode)]) if mode else None

    def forward(self, x, cache, idx):
        for r in self.resnets:
            x = r(x, cache, idx)
        if self.upsamplers is not None:
            x = self.upsamplers[0](x, cache, idx)
        return x


class Decoder(nn.Module):
    def __init__(self, dim, z_dim, dim_mult, nres, temperal_upsample):
        super().__init__()
        dims = [dim * u for u in [dim_mult[-1]] + dim_mult[::-1]]
        self.conv_in = CausalConv3d(z_dim, dims[0], 3, padding=1)
        self.mid_block = nn.Module()
        self.mid_block.resnets = nn.ModuleList([ResidualBlock(dims[0], dims[0]), ResidualBlock(dims[0], dims[0])])
        self.mid_block.attentions = nn.ModuleList([AttentionBlock(dims[0])])
        self.up_blocks = nn.ModuleList()
        for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
            if i > 0:
                cin = cin // 2
            up = i != len(dim_mult) - 1
            mode = ("upsample3d" if temperal_upsample[i] else "upsample2d") if up else None
            self.up_blocks.append(UpBlock(cin, cout, nres, mode))
        self.norm_out = RMSNorm(dims[-1], images=False)
        self.conv_out = CausalConv3d(dims[-1], 3, 3, padding=1)

    def forward(self, x, cache, idx):
        x = cached(self.conv_in, x, cache, idx)
        x = self.mid_block.resnets[0](x, cache, idx)
        x = self.mid_block.attentions[0](x)
        x = self.mid_block.resnets[1](x, cache, idx)
        for b in self.up_blocks:
            x = b(x, cache, idx)
        return cached(self.conv_out, F.silu(self.norm_out(x)), cache, idx)


class WanVaeDecode(nn.Module):
    """post_quant_conv + decoder, parameters named as in diffusers' AutoencoderKLWan."""

    def __init__(self, cfg):
        super().__init__()
        base = cfg.get("decoder_base_dim") or cfg["base_dim"]
        self.post_quant_conv = CausalConv3d(cfg["z_dim"], cfg["z_dim"], 1)
        self.decoder = Decoder(base, cfg["z_dim"], cfg["dim_mult"], cfg["num_res_blocks"], cfg["temperal_downsample"][::-1])
        with torch.no_grad():
            for name, prm in self.named_parameters():
                prm.copy_(torch.from_numpy(rule(name, tuple(prm.shape))))

    @torch.no_grad()
    def decode(self, z):
        x = self.post_quant_conv(z)
        cache = [None] * 64
        out = []
        for i in range(z.shape[2]):
            out.append(self.decoder(x[:, :, i : i + 1], cache, [0]))
        return torch.clamp(torch.cat(out, 2), -1.0, 1.0)


def read_safetensors(path, names):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8 : 8 + n])
    out = {}
    for k in names:
        e = head[k]
        a, b = e["data_offsets"]
        out[k] = np.frombuffer(data[8 + n + a : 8 + n + b], dtype=np.float32).reshape(e["shape"])
    return out


WAN21 = {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2, "temperal_downsample": [False, True, True],
         "latents_mean": [-0.7571, -0.7089, -0.9113, 0.1075, -0.1745, 0.9653, -0.1517, 1.5508, 0.4134, -0.0715, 0.5517, -0.3632, -0.1922, -0.9497, 0.2503, -0.2921],
         "latents_std": [2.8184, 1.4541, 2.3275, 2.6558, 1.2196, 1.7708, 2.6052, 2.0743, 3.2687, 2.1526, 2.8652, 1.5579, 1.6382, 1.1253, 2.8251, 1.916]}


def rule_z(cfg, T, h, w):
    lat = rule("input.latents", (1, cfg["z_dim"], T, h, w)).astype(np.float64)
    z = lat * np.array(cfg["latents_std"]).reshape(1, -1, 1, 1, 1) + np.array(cfg["latents_mean"]).reshape(1, -1, 1, 1, 1)
    return z.astype(np.float32)  # shardit's latentsToZ rounds z to f32 too


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fixture", default="")
    p.add_argument("--check-latent", default="")
    p.add_argument("--check-out", default="")
    p.add_argument("--latent", default="21,60,104")
    p.add_argument("--dtypes", default="fp32,bf16")
    p.add_argument("--json", default="")
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda"
    result = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "rows": []}
    if a.fixture:
        cfg = json.load(open(f"{a.fixture}/config.json"))
        io = read_safetensors(f"{a.fixture}/io.safetensors", ["z", "expected"])
        m = WanVaeDecode(cfg).double().to(dev)
        got = m.decode(torch.from_numpy(io["z"]).double().to(dev)).cpu().numpy()
        ref = io["expected"].astype(np.float64)
        err = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
        print(f"torch twin vs diffusers ({a.fixture}, float64): rel L2 {err:.3e}")
        result["fixture_rel_l2"] = err
        assert err < 1e-6, f"torch twin differs from diffusers' decode: {err}"
    m = WanVaeDecode(WAN21).to(dev)
    if a.check_latent:
        T, h, w = map(int, a.check_latent.split(","))
        md = WanVaeDecode(WAN21).double().to(dev)
        out = md.decode(torch.from_numpy(rule_z(WAN21, T, h, w)).double().to(dev))[0].float().cpu().numpy()
        out.astype("<f4").tofile(a.check_out)
        print(f"check decode {T}x{h}x{w} (float64) -> {a.check_out} {list(out.shape)}")
        del md
    T, h, w = map(int, a.latent.split(","))
    z = torch.from_numpy(rule_z(WAN21, T, h, w)).to(dev)
    for dt in a.dtypes.split(","):
        tdt = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dt]
        mm = m.to(tdt)
        mm.decode(z[:, :, :2].to(tdt))  # warm-up: kernels and algorithms chosen
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        out = mm.decode(z.to(tdt))
        torch.cuda.synchronize()
        ms = (time.perf_counter() - t0) * 1e3
        row = {"dtype": dt, "latent": [T, h, w], "frames": list(out.shape[2:]), "ms": ms, "peak_gib": torch.cuda.max_memory_allocated() / 2**30}
        print(json.dumps(row))
        result["rows"].append(row)
        del out
    if a.json:
        json.dump(result, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
