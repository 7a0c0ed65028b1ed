"""Synthetic training clips for the embedded model: one shape on a plain dark background moving in a
straight line. Deterministic by seed (numpy's PCG64), nothing downloaded, numpy only (runs here and on
the GPU host).

Prompt grammar (tests and users rely on it): "a <color> <shape> moving <direction>".
Clip: T frames of H x W RGB, float32 in [-1, 1], laid out [3, T, H, W] (the video layout WanPipeline
decodes to, less the batch axis).

Geometry, in pixels, y growing downwards ("up" = decreasing row index):
- size s (circle radius, square half-side, triangle circumradius-ish) ~ U[SIZE_MIN, SIZE_MAX];
- speed v ~ U[SPEED_MIN, SPEED_MAX] px/frame along the direction, so the centre travels
  (T-1) v >= 10.5 px for T = 8: more than a quarter of a 32-px frame, which the picture tests require;
- the start on the motion axis is drawn so that the whole path keeps the shape inside the frame; the
  other coordinate ~ U[s, side - s].
Edges are anti-aliased by coverage = clip(0.5 - signed_distance, 0, 1) (signed distance in pixels).
"""
from __future__ import annotations

import numpy as np

COLORS = ["red", "green", "blue", "yellow", "white"]
SHAPES = ["circle", "square", "triangle"]
DIRECTIONS = ["left", "right", "up", "down"]
# RGB in [0, 1]. Chosen far apart (and far from the background) so the dominant colour is unambiguous.
PALETTE = {
    "red": (0.95, 0.15, 0.15),
    "green": (0.15, 0.85, 0.20),
    "blue": (0.20, 0.35, 1.00),
    "yellow": (0.95, 0.90, 0.15),
    "white": (0.95, 0.95, 0.95),
}
BACKGROUND = (0.06, 0.06, 0.08)
# (dx, dy) unit step of each direction, y downwards.
DIRECTION_STEP = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}

FRAMES = 8
SIDE = 32
SIZE_MIN, SIZE_MAX = 3.5, 6.0
SPEED_MIN, SPEED_MAX = 1.5, 2.6


def prompt_of(color: int, shape: int, direction: int) -> str:
    return f"a {COLORS[color]} {SHAPES[shape]} moving {DIRECTIONS[direction]}"


def all_prompts() -> list[str]:
    """The 60 prompts of the grammar, colour slowest, direction fastest."""
    return [prompt_of(c, s, d) for c in range(len(COLORS)) for s in range(len(SHAPES)) for d in range(len(DIRECTIONS))]


def sample_params(n: int, seed: int, frames: int = FRAMES, side: int = SIDE) -> dict[str, np.ndarray]:
    """Random labels and geometry of n clips (each an array of length n)."""
    rng = np.random.default_rng(seed)
    color = rng.integers(0, len(COLORS), n)
    shape = rng.integers(0, len(SHAPES), n)
    direction = rng.integers(0, len(DIRECTIONS), n)
    size = rng.uniform(SIZE_MIN, SIZE_MAX, n)
    speed = rng.uniform(SPEED_MIN, SPEED_MAX, n)
    travel = (frames - 1) * speed
    # Along the motion axis: the centre goes from a to a + travel * sign, both ends inside [s, side - s].
    along = rng.uniform(0.0, 1.0, n) * np.maximum(side - 2 * size - travel, 0.0)
    across = size + rng.uniform(0.0, 1.0, n) * (side - 2 * size)
    step = np.array([DIRECTION_STEP[d] for d in DIRECTIONS])[direction]  # [n, 2]
    forward = step.sum(axis=1) > 0  # right or down: start at the low end
    start_axis = np.where(forward, size + along, side - size - along)
    horizontal = step[:, 0] != 0
    x0 = np.where(horizontal, start_axis, across)
    y0 = np.where(horizontal, across, start_axis)
    return {"color": color, "shape": shape, "direction": direction, "size": size, "speed": speed, "x0": x0, "y0": y0}


def _signed_distance(shape: np.ndarray, dx: np.ndarray, dy: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Signed distance (pixels, < 0 inside) of points (dx, dy) from a shape of size s centred at 0."""
    circle = np.sqrt(dx * dx + dy * dy) - s
    square = np.maximum(np.abs(dx), np.abs(dy)) - 0.9 * s  # 0.9: about the circle's area
    # Triangle pointing up: apex (0, -s), base corners (+-s, 0.8 s). Max of the three edge distances
    # (exact inside, a slight underestimate near the corners outside: fine for anti-aliasing).
    base = dy - 0.8 * s
    # Side edges through the apex with slope 1.8 s / s: outward normals (+-1.8, -1) / |.|
    norm = np.sqrt(1.8 * 1.8 + 1.0)
    right = (1.8 * dx - (dy + s)) / norm
    left = (-1.8 * dx - (dy + s)) / norm
    triangle = np.maximum(base, np.maximum(left, right))
    return np.where(shape == 0, circle, np.where(shape == 1, square, triangle))


def render(params: dict[str, np.ndarray], frames: int = FRAMES, side: int = SIDE) -> np.ndarray:
    """Clips [n, 3, T, side, side] float32 in [-1, 1] for the parameters of sample_params."""
    n = params["color"].shape[0]
    step = np.array([DIRECTION_STEP[d] for d in DIRECTIONS])[params["direction"]]  # [n, 2]
    t = np.arange(frames, dtype=np.float64)
    cx = params["x0"][:, None] + step[:, 0:1] * params["speed"][:, None] * t  # [n, T]
    cy = params["y0"][:, None] + step[:, 1:2] * params["speed"][:, None] * t
    px = np.arange(side, dtype=np.float64) + 0.5  # pixel centres
    dx = px[None, None, None, :] - cx[:, :, None, None]  # [n, T, 1, W]
    dy = px[None, None, :, None] - cy[:, :, None, None]  # [n, T, H, 1]
    dx, dy = np.broadcast_arrays(dx, dy)
    sd = _signed_distance(params["shape"][:, None, None, None], dx, dy, params["size"][:, None, None, None])
    cover = np.clip(0.5 - sd, 0.0, 1.0).astype(np.float32)  # [n, T, H, W]
    color = np.array([PALETTE[c] for c in COLORS], dtype=np.float32)[params["color"]]  # [n, 3]
    bg = np.array(BACKGROUND, dtype=np.float32)
    rgb = bg[None, :, None, None, None] + (color - bg)[:, :, None, None, None] * cover[:, None]  # [n, 3, T, H, W]
    return rgb * 2.0 - 1.0


def make_clips(n: int, seed: int, frames: int = FRAMES, side: int = SIDE) -> tuple[np.ndarray, list[str]]:
    """n clips [n, 3, T, side, side] in [-1, 1] and their prompts."""
    p = sample_params(n, seed, frames, side)
    prompts = [prompt_of(c, s, d) for c, s, d in zip(p["color"], p["shape"], p["direction"])]
    return render(p, frames, side), prompts


if __name__ == "__main__":
    # Self-check: shapes stay inside the frame and move at least a quarter of it; prints one prompt.
    clips, prompts = make_clips(512, seed=1)
    assert clips.shape == (512, 3, FRAMES, SIDE, SIDE) and clips.min() >= -1 and clips.max() <= 1
    mask = (clips.max(axis=1) > -0.6)  # [n, T, H, W] object pixels
    assert mask.sum(axis=(2, 3)).min() > 20, "a shape left the frame or vanished"
    ys, xs = np.meshgrid(np.arange(SIDE) + 0.5, np.arange(SIDE) + 0.5, indexing="ij")
    w = mask.sum(axis=(2, 3))
    cx = (mask * xs).sum(axis=(2, 3)) / w
    cy = (mask * ys).sum(axis=(2, 3)) / w
    moved = np.maximum(np.abs(cx[:, -1] - cx[:, 0]), np.abs(cy[:, -1] - cy[:, 0]))
    assert moved.min() >= SIDE / 4, f"smallest travel {moved.min():.2f} px"
    print(f"ok: {len(prompts)} clips, travel {moved.min():.1f}..{moved.max():.1f} px; e.g. '{prompts[0]}'")
