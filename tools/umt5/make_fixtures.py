#!/usr/bin/env python3
"""umT5 fixtures for shardit (issue 21), made by the real Python libraries.

  python tools/umt5/make_fixtures.py tokenizer test/fixtures   (sentencepiece, tokenizers, transformers)
  python tools/umt5/make_fixtures.py encoder test/fixtures     (torch + transformers, after `tokenizer`)

tokenizer: trains a small Unigram model with sentencepiece (umT5's special ids: pad 0, </s> 1, <s> 2, <unk> 3,
nmt_nfkc normalization, byte_fallback on), converts it to tokenizer.json with transformers' converter (what
made umT5's tokenizer.json), and writes umt5-tokenizer/:
  tokenizer.json, tokenizer_config.json
  cases.json: {strings: [{text, off, on}]} where off / on are the ids of Python's `tokenizers` reading the same
    tokenizer.json with model.byte_fallback false / true, truncated to 512 with </s> kept (what T5TokenizerFast
    gives diffusers); {clean: [{raw, clean}]} diffusers' prompt_clean without ftfy.
encoder: for each config below, transformers' UMT5EncoderModel in float64 with every weight by the fixtures'
deterministic rule (shared/fixtures/README.md), run as diffusers' WanPipeline does (ids padded to 512, the
attention mask); writes umt5-<name>/: config.json, model.safetensors (F32), io.safetensors (expected.<i>
[seq_len_i, d_model], the first seq_len rows of last_hidden_state; the rows after it are what the pipeline
zeroes), io.json (the prompts, their input_ids and seq_len), buckets.json (transformers' bucket of every
relative position -511..511).
"""
import html
import json
import math
import os
import random
import re
import struct
import sys

import numpy as np

MAX_LEN = 512
HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- the deterministic weight rule


sys.path.insert(0, os.path.join(HERE, ".."))
from fixture_rule import rule_tensor  # noqa: E402  one copy for this and bench/torch_umt5.py, bench/torch_vae.py


# ---------------------------------------------------------------- text

WORDS = """a the and of in on with at over under near through across into from by while as its their his her
red orange yellow green blue purple pink white black gray brown golden silver dark bright pale soft
cat dog fox horse bird fish dragon robot woman man child girl boy astronaut dancer chef knight wizard
city street forest river ocean beach mountain desert sky cloud rain snow storm sunset sunrise night morning
car train boat plane bicycle house castle bridge tower window door table chair lamp book flower tree grass
runs walks jumps flies swims dances sings smiles looks turns moves rises falls glows shines floats spins
slowly quickly gently softly suddenly calmly camera pans zooms tilts tracks close shot wide aerial view
cinematic realistic detailed beautiful ancient modern futuristic quiet busy empty crowded warm cold
light shadow reflection smoke fire water wind dust sparkle neon lantern candle moon sun star planet
painting photo video film scene frame style lens focus depth field blur motion high quality resolution""".split()
ACCENTED = "café naïve résumé façade Ångström Ōsaka crème brûlée jalapeño São Paulo Zürich Kraków élan".split()
CJK = "猫 狗 一只 在 屋顶 上 走 色调 艳丽 过曝 静态 细节 模糊 字幕 风格 画面 低质量 東京 さくら 夜 한국 서울".split()
# Wan's default negative prompt (WanPipeline users pass it; its characters are mostly outside this vocabulary).
WAN_NEGATIVE = ("色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
                "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
                "杂乱的背景，三条腿，背景人很多，倒着走")


def corpus(rng: random.Random, lines: int):
    out = []
    for _ in range(lines):
        n = rng.randint(4, 24)
        ws = [rng.choice(WORDS) for _ in range(n)]
        if rng.random() < 0.3:
            ws.insert(rng.randrange(len(ws) + 1), rng.choice(ACCENTED))
        if rng.random() < 0.1:
            ws.insert(rng.randrange(len(ws) + 1), rng.choice(CJK))
        s = " ".join(ws)
        if rng.random() < 0.5:
            s = s[0].upper() + s[1:] + rng.choice([".", ",", "!", "?", ""])
        if rng.random() < 0.1:
            s += f" {rng.randint(0, 2026)}"
        out.append(s)
    return out


def test_strings(rng: random.Random):
    fixed = [
        "", " ", "a", "A red fox jumps over the lazy dog.", "  leading spaces", "trailing spaces   ",
        "runs    of     spaces", "tab\tand\nnewline\r\nand\x0bvertical\x0cfeed", "nul\x00bell\x07esc\x1b[31mred\x1b[0m",
        "zero\u200bwidth\u200d joiner\ufeffbom", "no\u00a0break\u3000ideographic\u2003em space", "\u2581already metaspace \u2581",
        "café naïve résumé", "cafe\u0301 decomposed accent", "Ångström Ōsaka Zürich Kraków", "ＡＢＣ１２３ fullwidth", "ﬁne ligature ﬂow",
        "① ② ③ ™ ½ ¼ x² H₂O", "～tilde～wave～", "一只猫在屋顶上走", "東京の夜、さくら", "서울의 밤 한국", WAN_NEGATIVE,
        "🐱 cat 🐶 dog", "family 👨\u200d👩\u200d👧 emoji", "flags 🇫🇷🇯🇵", "math 𝔸𝕓𝒞 letters", "<s> </s> <pad> <unk> tags",
        "<extra_id_0> sentinel <extra_id_3>", "&amp; &lt;b&gt; html", "MiXeD CaSe WoRdS", "numbers 0123456789 3.14159 -42",
        "punctuation!!! ??? ... --- ((()))", "\ufffd replacement \ufffd", "lone\u0300combining", "a\u0000b\u0001c\u001fd\u007fe\u0080f\u009fg",
        "line\u2028sep\u2029para", "arabic مرحبا hebrew שלום", "thai สวัสดี devanagari नमस्ते", "cyrillic Привет мир",
        "greek Καλημέρα κόσμε", "mixed 漢字 and latin 文字 text", "    ", "\n\n\n", "\t", "ß ẞ ŉ ǅ ﬀ", "Ⅻ ⅻ ㎏ ㍻ ℃",
    ]
    out = list(fixed)
    for _ in range(80):  # sentences from the training vocabulary, with case and punctuation
        out.append(corpus(rng, 1)[0])
    pools = [range(0x20, 0x7F), range(0xA0, 0x250), range(0x370, 0x400), range(0x4E00, 0x4F00), range(0x3040, 0x30FF),
             range(0xAC00, 0xAD00), range(0x1F300, 0x1F650), range(0x0, 0x20), range(0x2000, 0x2070), range(0xFF00, 0xFF60)]
    for _ in range(70):  # random code points from several blocks, controls and spaces included
        n = rng.randint(1, 30)
        out.append("".join(chr(rng.choice(rng.choice(pools))) for _ in range(n)))
    for k in range(4):  # 600-word prompts: over 512 tokens, truncated
        out.append(" ".join(rng.choice(WORDS + ACCENTED + CJK[:3]) for _ in range(600)) + f" end{k}")
    return out


# diffusers' prompt_clean (pipelines/wan/pipeline_wan.py) without ftfy
def basic_clean(text):
    text = html.unescape(html.unescape(text))
    return text.strip()


def whitespace_clean(text):
    text = re.sub(r"\s+", " ", text)
    return text.strip()


def prompt_clean(text):
    return whitespace_clean(basic_clean(text))


CLEAN_CASES = [
    "", "   ", "plain prompt", "  spaces  around  ", "tabs\tand\nnewlines\r\n", "&amp;amp; double escaped",
    "&lt;b&gt;bold&lt;/b&gt;", "&copy 2026 &copy; &COPY;", "&#65;&#x42;&#X43; numeric", "&#128; &#150; windows-1252",
    "&#0; &#xD800; &#1114112; invalid", "&#1; &#x7f; &#xFDD0; removed code points", "&notit; &notin; longest prefix",
    "&ampamp; &ltfoo &unknown; &", "&#38;lt; escaped twice", "no\u00a0break\u3000space\u2003em", "\x1c\x1d\x1e\x1f\x85 python spaces",
    "\ufeffbom\ufeff", "mixed &nbsp; entity", "&NotNestedGreaterGreater; &nGt; long names", "&#9999999999; huge", "&#x; &#; empty",
    "一只猫 &amp; 狗", "emoji 🐱&#x1F436;", "  \t multiple \n\n lines \t ", "&Amp; &AMP case", "a&b c&d; e&#f",
]


def make_tokenizer(out_root):
    import sentencepiece as spm
    from tokenizers import Tokenizer

    d = os.path.join(out_root, "umt5-tokenizer")
    os.makedirs(d, exist_ok=True)
    rng = random.Random(21)
    text = corpus(rng, 4000) + [" ".join(CJK)] * 3 + [" ".join(ACCENTED)] * 3
    prefix = os.path.join("/tmp", "umt5_spm")
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(text), model_prefix=prefix, model_type="unigram", vocab_size=640,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, byte_fallback=True, character_coverage=0.9995,
        normalization_rule_name="nmt_nfkc", input_sentence_size=0, shuffle_input_sentence=False, num_threads=1,
        seed_sentencepiece_size=100000)
    # spiece.model stays in /tmp: shardit reads tokenizer.json only
    # transformers' converter (what made umT5's tokenizer.json); transformers 5 keeps it in convert_slow_tokenizer
    from transformers.convert_slow_tokenizer import T5Converter

    class Slow:  # what the converter reads from a slow tokenizer
        vocab_file = prefix + ".model"
        _extra_ids = 8
        extra_ids = 8
        def __init__(self):
            import sentencepiece as s
            self.sp_model = s.SentencePieceProcessor(model_file=self.vocab_file)
        def convert_tokens_to_ids(self, t):
            return self.sp_model.piece_to_id(t)
    tok = T5Converter(Slow()).converted()
    j = json.loads(tok.to_str())
    # T5Converter does not carry spiece.model's byte_fallback (it warns): the file keeps what the converter wrote,
    # as umT5's does; cases.json has the ids with byte_fallback off and on.
    print("tokenizer.json byte_fallback:", j["model"].get("byte_fallback"))
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "T5Tokenizer", "model_max_length": MAX_LEN, "pad_token": "<pad>", "eos_token": "</s>",
                   "unk_token": "<unk>", "extra_ids": 8}, f, indent=1)

    def load(byte_fallback):
        jj = json.loads(json.dumps(j))
        jj["model"]["byte_fallback"] = byte_fallback
        t = Tokenizer.from_str(json.dumps(jj))
        t.enable_truncation(MAX_LEN)
        return t
    off, on = load(False), load(True)
    strings = test_strings(random.Random(2101))
    cases = [{"text": s, "off": off.encode(s).ids, "on": on.encode(s).ids} for s in strings]
    differ = sum(c["off"] != c["on"] for c in cases)
    clean = [{"raw": r, "clean": prompt_clean(r)} for r in CLEAN_CASES]
    with open(os.path.join(d, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"max_length": MAX_LEN, "vocab_size": off.get_vocab_size(), "strings": cases, "clean": clean}, f, ensure_ascii=False)
    print(f"{d}: vocab {off.get_vocab_size()}, {len(cases)} strings ({differ} differ with byte_fallback), {len(clean)} clean cases")


# ---------------------------------------------------------------- encoder goldens

CONFIGS = {
    # d_model = the tiny Wan DiT's text_dim (32), so the tiny pipeline folder can use it
    "tiny": dict(d_model=32, num_heads=4, d_kv=8, d_ff=64, num_layers=2),
    # odd sizes: 3 heads of 10 (inner 30 != d_model 28), d_ff 37
    "odd": dict(d_model=28, num_heads=3, d_kv=10, d_ff=37, num_layers=3),
}
PROMPTS = [
    "",
    "A red fox jumps over the lazy dog in the snow, cinematic, golden light.",
    "一只猫 walks across a café at night 🐱, camera pans slowly",
]


def long_prompt():
    rng = random.Random(7)
    return " ".join(rng.choice(WORDS) for _ in range(700))


def make_encoder(out_root):
    import torch
    from safetensors.numpy import save_file
    from tokenizers import Tokenizer
    from transformers import UMT5Config, UMT5EncoderModel
    from transformers.models.umt5.modeling_umt5 import UMT5Attention

    tok = Tokenizer.from_file(os.path.join(out_root, "umt5-tokenizer", "tokenizer.json"))
    tok.enable_truncation(MAX_LEN)
    vocab = tok.get_vocab_size()
    vocab_size = (vocab + 7) // 8 * 8 + 8  # the table is a little larger than the tokenizer, as umT5's (256384)
    prompts = PROMPTS + [long_prompt()]
    for name, dims in CONFIGS.items():
        d = os.path.join(out_root, f"umt5-{name}")
        os.makedirs(d, exist_ok=True)
        cfg = UMT5Config(vocab_size=vocab_size, relative_attention_num_buckets=32, relative_attention_max_distance=128,
                         layer_norm_epsilon=1e-6, feed_forward_proj="gated-gelu", dropout_rate=0.0, is_encoder_decoder=True,
                         tie_word_embeddings=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
                         scalable_attention=True, num_decoder_layers=dims["num_layers"], **dims)
        cfg.architectures = ["UMT5EncoderModel"]
        model = UMT5EncoderModel(cfg).double().eval()
        sd = {}
        for k, v in model.state_dict().items():
            if k == "encoder.embed_tokens.weight":
                continue  # tied to shared.weight
            sd[k] = rule_tensor(k, list(v.shape))
        missing, unexpected = model.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in sd.items()}, strict=False)
        assert not unexpected and all(m == "encoder.embed_tokens.weight" for m in missing), (missing, unexpected)
        model.encoder.embed_tokens.weight = model.shared.weight
        save_file(sd, os.path.join(d, "model.safetensors"))
        cfg.to_json_file(os.path.join(d, "config.json"))
        io, meta = {}, []
        for i, p in enumerate(prompts):
            enc = tok.encode(prompt_clean(p))
            ids = enc.ids[:MAX_LEN]
            n = len(ids)
            input_ids = torch.tensor([ids + [0] * (MAX_LEN - n)])
            mask = torch.tensor([[1] * n + [0] * (MAX_LEN - n)])
            with torch.no_grad():
                out = model(input_ids=input_ids, attention_mask=mask).last_hidden_state[0]
            io[f"expected.{i}"] = out[:n].numpy().astype(np.float32)
            meta.append({"prompt": p, "input_ids": ids, "seq_len": n})
        save_file(io, os.path.join(d, "io.safetensors"))
        with open(os.path.join(d, "io.json"), "w", encoding="utf-8") as f:
            json.dump({"torch": torch.__version__, "dtype": "float64", "cases": meta}, f, ensure_ascii=False)
        rp = torch.arange(-(MAX_LEN - 1), MAX_LEN)
        buckets = UMT5Attention._relative_position_bucket(model.encoder.block[0].layer[0].SelfAttention, rp)
        with open(os.path.join(d, "buckets.json"), "w") as f:
            json.dump({"from": -(MAX_LEN - 1), "buckets": buckets.tolist()}, f)
        print(f"{d}: vocab_size {vocab_size}, seq_len {[m['seq_len'] for m in meta]}")


if __name__ == "__main__":
    what, out = sys.argv[1], sys.argv[2]
    {"tokenizer": make_tokenizer, "encoder": make_encoder}[what](out)
