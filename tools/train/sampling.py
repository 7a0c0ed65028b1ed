"""The sampler of src/sampler/flow_match.ts transcribed to torch (batched), so the H200 can measure the
settings that the TypeScript sampler then uses: the same shifted sigma schedule (integer timesteps),
classifier-free guidance v = v_u + g (v_c - v_u), Euler and UniPC (bh2, order 2, predict x0,
lower_order_final). Only the noise differs (torch's generator instead of shardit's counter hash).
"""
from __future__ import annotations

import math


def flow_sigmas(steps: int, shift: float, T: int = 1000) -> list[float]:
    out = [0.0] * (steps + 1)
    start, stop = 1.0, 1.0 / T
    delta = (stop - start) / steps
    for i in range(1, steps + 1):
        alpha = stop if i == steps else i * delta + start
        s = 1 - alpha
        out[steps - i] = shift * s / (1 + (shift - 1) * s)
    out[steps] = 0.0
    return out


def _lambda(sigma: float) -> float:
    return math.log(1 - sigma) - math.log(sigma)


def _coeffs(s0: float, t: float):
    alpha_t = 1 - t
    if t == 0:
        return dict(ratio=0.0, alpha_t=alpha_t, hphi1=-1.0, B=-1.0, b1=1.0, b2=0.5, h=math.inf)
    h = _lambda(t) - _lambda(s0)
    hh = -h
    hphi1 = math.expm1(hh)
    B = hphi1
    phi1 = hphi1 / hh - 1
    b1 = phi1 / B
    phi2 = phi1 / hh - 0.5
    b2 = phi2 * 2 / B
    return dict(ratio=t / s0, alpha_t=alpha_t, hphi1=hphi1, B=B, b1=b1, b2=b2, h=h)


def sample(x0: torch.Tensor, velocity, steps: int, shift: float, solver: str, T: int = 1000) -> torch.Tensor:
    """velocity(x, timestep: float) -> guided v, same shape as x (torch or numpy). Returns the final sample."""
    sigmas = flow_sigmas(steps, shift, T)
    timesteps = [float(math.trunc(s * T)) for s in sigmas[:-1]]
    x = x0 * 1.0  # a copy (torch tensor or numpy array alike)
    if solver == "euler":
        for i in range(steps):
            v = velocity(x, timesteps[i])
            x = x + (sigmas[i + 1] - sigmas[i]) * v
        return x
    m0 = m1 = last_sample = None
    last_order = 0
    for i in range(steps):
        v = velocity(x, timesteps[i])
        si = sigmas[i]
        mt = x - si * v
        if i > 0 and last_sample is not None:
            c = _coeffs(sigmas[i - 1], si)
            base = c["ratio"] * last_sample - c["alpha_t"] * c["hphi1"] * m0
            if last_order == 1:
                x = base - c["alpha_t"] * c["B"] * 0.5 * (mt - m0)
            else:
                r1 = (_lambda(sigmas[i - 2]) - _lambda(sigmas[i - 1])) / c["h"]
                rho0 = (c["b1"] - c["b2"]) / (1 - r1)
                rho1 = c["b1"] - rho0
                d1 = (m1 - m0) / r1
                x = base - c["alpha_t"] * c["B"] * (rho0 * d1 + rho1 * (mt - m0))
        m1, m0 = m0, mt
        order = min(2, steps - i, i + 1)
        last_sample, last_order = x, order
        c = _coeffs(si, sigmas[i + 1])
        if order == 1:
            x = c["ratio"] * x - c["alpha_t"] * c["hphi1"] * m0
        else:
            r1 = (_lambda(sigmas[i - 1]) - _lambda(si)) / c["h"]
            d1 = (m1 - m0) / r1
            x = c["ratio"] * x - c["alpha_t"] * c["hphi1"] * m0 - c["alpha_t"] * c["B"] * 0.5 * d1
    return x
