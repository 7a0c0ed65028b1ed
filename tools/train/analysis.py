"""What the picture tests measure, in numpy: the same rules as src/pipeline/clip_analysis.ts.

- object pixels: max(R, G, B) > OBJECT_THRESHOLD, with pixel values mapped from [-1, 1] to [0, 1]
  (the background is 0.08 at most, every palette colour has a channel >= 0.95);
- dominant colour: the palette colour nearest (Euclidean, RGB in [0, 1]) to the mean over all object
  pixels of all frames; "none" when fewer than half the frames have an object pixel;
- centroid of each frame: the mean (x, y) of its object pixels, pixel centres at i + 0.5, y downwards;
- motion: the centroid of the last frame that has one minus that of the first; the direction is the
  sign of the larger component (x: left/right, y: up/down), the travel its magnitude.
A clip matches its prompt when colour and direction are the prompt's and travel >= side / 4.
"""
from __future__ import annotations

import numpy as np

from data import COLORS, DIRECTIONS, PALETTE

OBJECT_THRESHOLD = 0.35


def analyze(clip: np.ndarray) -> dict:
    """clip [3, T, H, W] in [-1, 1]."""
    rgb = np.clip((clip + 1) / 2, 0, 1)
    mask = rgb.max(axis=0) > OBJECT_THRESHOLD  # [T, H, W]
    T, H, W = mask.shape
    counts = mask.sum(axis=(1, 2))
    if (counts > 0).sum() * 2 < T:
        return {"color": "none", "direction": "none", "travel": 0.0}
    mean = (rgb * mask[None]).sum(axis=(1, 2, 3)) / mask.sum()
    palette = np.array([PALETTE[c] for c in COLORS])
    color = COLORS[int(np.argmin(((palette - mean) ** 2).sum(axis=1)))]
    ys, xs = np.meshgrid(np.arange(H) + 0.5, np.arange(W) + 0.5, indexing="ij")
    frames = [t for t in range(T) if counts[t] > 0]
    cent = [((mask[t] * xs).sum() / counts[t], (mask[t] * ys).sum() / counts[t]) for t in frames]
    dx, dy = cent[-1][0] - cent[0][0], cent[-1][1] - cent[0][1]
    if abs(dx) >= abs(dy):
        direction, travel = ("right" if dx > 0 else "left"), abs(dx)
    else:
        direction, travel = ("down" if dy > 0 else "up"), abs(dy)
    return {"color": color, "direction": direction, "travel": float(travel)}


def matches(clip: np.ndarray, prompt: str) -> bool:
    words = prompt.split()
    a = analyze(clip)
    side = clip.shape[-1]
    return a["color"] == words[1] and a["direction"] == words[4] and a["travel"] >= side / 4
