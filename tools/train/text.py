"""The embedded model's text encoder: a word-level vocabulary and a learned embedding table plus learned
positions, trained jointly with the DiT. It stands where umT5 stands for the real Wan2.1: it maps a
prompt to encoder_hidden_states [Lt, text_dim], rows past the prompt's words zero (as WanPipeline pads
umT5's output with zeros to 512). The empty prompt (all rows zero) is the unconditional branch of
classifier-free guidance. src/model/text_encoder.ts is the same function in TypeScript.
"""
from __future__ import annotations

import torch
from torch import nn

from data import COLORS, DIRECTIONS, SHAPES

# Every word of the grammar "a <color> <shape> moving <direction>", in a fixed order (ids = positions).
VOCAB = ["a", "moving", *COLORS, *SHAPES, *DIRECTIONS]
MAX_WORDS = 8  # Lt: the prompt's words, then zero rows


def tokenize(prompt: str) -> list[int]:
    words = prompt.lower().split()
    unknown = [w for w in words if w not in VOCAB]
    if unknown:
        raise ValueError(f"unknown word(s) {unknown} in {prompt!r}; the vocabulary is: {' '.join(VOCAB)}")
    if len(words) > MAX_WORDS:
        raise ValueError(f"prompt {prompt!r} has {len(words)} words, at most {MAX_WORDS}")
    return [VOCAB.index(w) for w in words]


class WordEncoder(nn.Module):
    def __init__(self, text_dim: int):
        super().__init__()
        self.token_embedding = nn.Parameter(torch.randn(len(VOCAB), text_dim))
        self.position_embedding = nn.Parameter(torch.randn(MAX_WORDS, text_dim) * 0.1)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """ids [B, Lt] (anything past the length is ignored), lengths [B] (0 = empty prompt) -> [B, Lt, text_dim]."""
        pos = torch.arange(MAX_WORDS, device=ids.device)
        mask = (pos[None, :] < lengths[:, None]).to(self.token_embedding.dtype)  # [B, Lt]
        emb = self.token_embedding[ids.clamp(min=0)] + self.position_embedding[None]
        return emb * mask[..., None]


def batch_ids(prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.zeros(len(prompts), MAX_WORDS, dtype=torch.long)
    lengths = torch.zeros(len(prompts), dtype=torch.long)
    for i, p in enumerate(prompts):
        t = tokenize(p)
        ids[i, : len(t)] = torch.tensor(t)
        lengths[i] = len(t)
    return ids, lengths
