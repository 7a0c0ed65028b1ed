"""PyTorch twin of transformers' UMT5EncoderModel (Wan's text encoder), for timing beside bench/umt5_encoder.ts
on the same GPU (transformers is not installed on the GPU hosts). The same eager math as modeling_umt5.py:
T5 RMS norm (f32 statistics), q/k/v/o without bias, a relative position bias per layer (bidirectional buckets,
computed as transformers does), no 1/sqrt(d_kv), softmax in f32, gated-GELU-tanh FFN, final norm; the prompt's
seq_len tokens only (WanPipeline's mask keeps exactly those rows).

--check FIXTURE_DIR: the twin in float64 against transformers' goldens (test/fixtures/umt5-tiny, umt5-odd):
proves the twin is transformers' math (run on the CPU: python3 bench/torch_umt5.py --check test/fixtures/umt5-tiny).
Bench: full umT5-XXL dims, weights by the fixtures' rule for --rule-layers layers (the check against shardit:
writes --expected FILE), then the full --layers stack (those layers repeated: timing does not depend on the
values) in fp32 (TF32 off) and bf16; prints JSON.

usage: python3 bench/torch_umt5.py --tokens 512 --layers 24 --rule-layers 2 --expected /tmp/umt5_expected.safetensors [--json out]
"""
import argparse, json, math, os, sys, time
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from fixture_rule import rule_tensor, rule_tensor_torch  # noqa: E402  the fixtures' rule (test/fixtures/README.md)


def bucket(rp, num_buckets=32, max_distance=128):
    # transformers' UMT5Attention._relative_position_bucket, bidirectional
    num_buckets //= 2
    ret = (rp > 0).to(torch.long) * num_buckets
    n = torch.abs(rp)
    max_exact = num_buckets // 2
    large = max_exact + (torch.log(n.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return ret + torch.where(n < max_exact, n, large)


def rms(x, w, eps):
    v = x.to(torch.float32).pow(2).mean(-1, keepdim=True) if x.dtype != torch.float64 else x.pow(2).mean(-1, keepdim=True)
    y = x * torch.rsqrt(v + eps)
    return w * y.to(w.dtype)


def encoder(x, layers, final, cfg):
    """x [L, d] -> [L, d]; layers: dicts of tensors in nn.Linear layout."""
    L = x.shape[0]
    H, D = cfg["num_heads"], cfg["d_kv"]
    pos = torch.arange(L, device=x.device)
    buckets = bucket(pos[None, :] - pos[:, None], cfg["relative_attention_num_buckets"], cfg["relative_attention_max_distance"])  # [Lq, Lk]
    eps = cfg["layer_norm_epsilon"]
    for w in layers:
        n = rms(x, w["ln0"], eps)
        q = (n @ w["q"].T).view(L, H, D).transpose(0, 1)
        k = (n @ w["k"].T).view(L, H, D).transpose(0, 1)
        v = (n @ w["v"].T).view(L, H, D).transpose(0, 1)
        bias = w["rel"][buckets].permute(2, 0, 1)  # [H, Lq, Lk]
        s = (q @ k.transpose(1, 2)) + bias
        p = torch.softmax(s.float() if s.dtype != torch.float64 else s, dim=-1).to(q.dtype)
        a = (p @ v).transpose(0, 1).reshape(L, H * D)
        x = x + a @ w["o"].T
        n = rms(x, w["ln1"], eps)
        g = torch.nn.functional.gelu(n @ w["wi0"].T, approximate="tanh") * (n @ w["wi1"].T)
        x = x + g @ w["wo"].T
    return rms(x, final, eps)


NAMES = {"ln0": "0.layer_norm.weight", "q": "0.SelfAttention.q.weight", "k": "0.SelfAttention.k.weight", "v": "0.SelfAttention.v.weight",
         "o": "0.SelfAttention.o.weight", "rel": "0.SelfAttention.relative_attention_bias.weight", "ln1": "1.layer_norm.weight",
         "wi0": "1.DenseReluDense.wi_0.weight", "wi1": "1.DenseReluDense.wi_1.weight", "wo": "1.DenseReluDense.wo.weight"}


def save_f32(tensors, path):
    """A safetensors file of F32 tensors (the GPU hosts have torch and numpy, not the safetensors package)."""
    header, blobs, at = {}, [], 0
    for name, t in tensors.items():
        b = np.ascontiguousarray(t, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def check(fixture):
    from safetensors.numpy import load_file
    cfg = json.load(open(os.path.join(fixture, "config.json")))
    sd = {k: torch.from_numpy(v.astype(np.float64)) for k, v in load_file(os.path.join(fixture, "model.safetensors")).items()}
    io = load_file(os.path.join(fixture, "io.safetensors"))
    meta = json.load(open(os.path.join(fixture, "io.json")))
    layers = [{k: sd[f"encoder.block.{i}.layer.{n}"] for k, n in NAMES.items()} for i in range(cfg["num_layers"])]
    worst = 0.0
    for i, c in enumerate(meta["cases"]):
        x = sd["shared.weight"][torch.tensor(c["input_ids"])]
        y = encoder(x, layers, sd["encoder.final_layer_norm.weight"], cfg).numpy()
        want = io[f"expected.{i}"]
        worst = max(worst, float(np.linalg.norm(y - want) / np.linalg.norm(want)))
    print(f"{fixture}: twin vs transformers float64 goldens, worst relative L2 {worst:.2e} over {len(meta['cases'])} prompts")
    assert worst < 1e-6


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--check", default="")
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--layers", type=int, default=24)
    p.add_argument("--rule-layers", type=int, default=2)
    p.add_argument("--expected", default="")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--json", default="")
    a = p.parse_args()
    if a.check:
        check(a.check)
        return
    for name, shape in [("encoder.block.0.layer.1.DenseReluDense.wo.weight", [8, 37]), ("encoder.final_layer_norm.weight", [9]), ("input.hidden_states", [3, 5])]:
        assert torch.equal(rule_tensor_torch(name, shape, "cpu"), torch.from_numpy(rule_tensor(name, shape))), name
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: a dry run of the script
    cfg = dict(d_model=4096, d_kv=64, num_heads=64, d_ff=10240, relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6)
    d, inner, ff = cfg["d_model"], 64 * 64, cfg["d_ff"]
    shapes = {"ln0": [d], "q": [inner, d], "k": [inner, d], "v": [inner, d], "o": [d, inner], "rel": [32, 64], "ln1": [d], "wi0": [ff, d], "wi1": [ff, d], "wo": [d, ff]}
    t0 = time.time()
    rule = [{k: rule_tensor_torch(f"encoder.block.{i}.layer.{NAMES[k]}", shapes[k], dev) for k in NAMES} for i in range(a.rule_layers)]
    final = rule_tensor_torch("encoder.final_layer_norm.weight", [d], dev)
    x = rule_tensor_torch("input.hidden_states", [a.tokens, d], dev)
    gen_s = time.time() - t0
    out = {"tokens": a.tokens, "layers": a.layers, "rule_layers": a.rule_layers, "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "torch": torch.__version__, "rule_seconds": gen_s}
    with torch.no_grad():
        # the check: the rule layers in float64 (the reference shardit's f32 is held to), and in fp32
        y64 = encoder(x.double(), [{k: v.double() for k, v in w.items()} for w in rule], final.double(), cfg)
        if a.expected:
            save_f32({"expected": y64.float().cpu().numpy(), "input": x.cpu().numpy()}, a.expected)
        for name, dt in [("fp32", torch.float32), ("bf16", torch.bfloat16)]:
            ws = [{k: v.to(dt) for k, v in w.items()} for w in rule]
            y = encoder(x.to(dt), ws, final.to(dt), cfg).double()
            out[f"{name}_rel_l2_vs_f64_{a.rule_layers}_layers"] = float((y - y64).norm() / y64.norm())
            stack = [ws[i % len(ws)] for i in range(a.layers)]
            for _ in range(2):
                encoder(x.to(dt), stack, final.to(dt), cfg)
            torch.cuda.synchronize() if dev == "cuda" else None
            times = []
            for _ in range(a.iters):
                t = time.time()
                encoder(x.to(dt), stack, final.to(dt), cfg)
                torch.cuda.synchronize() if dev == "cuda" else None if dev == "cuda" else None
                times.append((time.time() - t) * 1000)
            out[f"{name}_ms"] = min(times)
            out[f"{name}_ms_all"] = times
    print(json.dumps(out))
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
