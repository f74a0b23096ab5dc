"""ComfyUI's ControlNet start/end percents → our fractions of steps.

ComfyUI's percent p names a noise level: the sigma of timestep (1 − p)·999 on the model's training
schedule. Our start/end are fractions of the sampling loop. With evenly spaced timesteps ("normal")
the loop passes that timestep at fraction p; with Karras spacing it passes that sigma elsewhere,
found by inverting the Karras formula. Every SD family (1.x, 2.x, XL) shares this schedule.
"""

from __future__ import annotations

import math
from functools import lru_cache

RHO = 7.0  # Karras et al.'s rho, as ComfyUI and diffusers use


@lru_cache(maxsize=1)
def _training_sigmas() -> tuple[float, ...]:
    """The 1000 sigmas of the "scaled_linear" beta schedule (0.00085 → 0.012)."""
    lo, hi = math.sqrt(0.00085), math.sqrt(0.012)
    out, alpha_bar = [], 1.0
    for i in range(1000):
        beta = (lo + (hi - lo) * i / 999) ** 2
        alpha_bar *= 1.0 - beta
        out.append(math.sqrt((1.0 - alpha_bar) / alpha_bar))
    return tuple(out)


def percent_to_sigma(p: float) -> float:
    sigmas = _training_sigmas()
    t = (1.0 - p) * 999
    i = min(int(t), 998)
    w = t - i  # ComfyUI interpolates log-sigma between neighbouring timesteps
    return math.exp((1 - w) * math.log(sigmas[i]) + w * math.log(sigmas[i + 1]))


def step_fraction(p: float, scheduler: str) -> float:
    """Where in our loop (0..1) the noise level of ComfyUI percent ``p`` is reached."""
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    if scheduler != "karras":
        return round(p, 3)
    sigmas = _training_sigmas()
    lo, hi = sigmas[0] ** (1 / RHO), sigmas[-1] ** (1 / RHO)
    f = (percent_to_sigma(p) ** (1 / RHO) - hi) / (lo - hi)
    return round(min(1.0, max(0.0, f)), 3)
