"""Noise-level spacings over a model's training schedule, as ComfyUI's schedulers space them.

``train`` is σ of every training timestep (index = timestep, ascending), σ = √((1-ᾱ)/ᾱ). Each spacing
gives the timesteps to evaluate, highest first; σ at a fractional timestep is interpolated linearly in
log σ between its whole neighbours (k-diffusion's ``sigma(t)``), so a whole timestep gives its training σ.

- ``simple``: every (N/steps)-th training timestep from the top: N-1 - ⌊i·N/steps⌋.
- ``sgm_uniform``: ``steps`` timesteps evenly spaced from N-1 towards 0, 0 left out (fractional).
- ``ddim_uniform``: DDIM's 1, 1 + c, 1 + 2c, … (c = N // steps), from the top; one more than ``steps``
  where c·steps < N - 1.
- ``beta``: the Beta(0.6, 0.6) quantiles of 1, 1 - 1/steps, …, 1/steps, scaled to N-1 and rounded
  (Lee et al. 2024, "Beta Sampling is All You Need"); a timestep equal to the one before is dropped.
- ``exponential``: σ evenly spaced in log σ from the largest training σ to the smallest.

Only numpy: the quantile of the Beta distribution is computed here (no scipy).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

BETA_ALPHA = BETA_BETA = 0.6
_TINY = 1e-300


def _continued_fraction(a: float, b: float, x: np.ndarray, iterations: int = 300) -> np.ndarray:
    """The continued fraction of the incomplete beta function (modified Lentz evaluation); converges
    fast for x < (a + 1) / (a + b + 2)."""
    c = np.ones_like(x)
    d = 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
    h = d.copy()
    for m in range(1, iterations + 1):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / np.where(np.abs(d) < _TINY, _TINY, d)
            c = 1.0 + numerator / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            delta = c * d
            h = h * delta
        if float(np.max(np.abs(delta - 1.0))) < 1e-15:
            break
    return h


def beta_cdf(x: np.ndarray | float, a: float, b: float) -> np.ndarray:
    """The regularized incomplete beta function I_x(a, b): the CDF of Beta(a, b) at ``x``."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0)
    out = np.where(x >= 1.0, 1.0, 0.0)
    inner = (x > 0.0) & (x < 1.0)
    if not inner.any():
        return out
    xi = x[inner]
    log_beta = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    # Evaluate the fraction where it converges: directly, or through I_x(a, b) = 1 - I_{1-x}(b, a).
    direct = xi < (a + 1.0) / (a + b + 2.0)
    values = np.empty_like(xi)
    for flip in (False, True):
        sel = direct != flip
        if not sel.any():
            continue
        p, q, y = (b, a, 1.0 - xi[sel]) if flip else (a, b, xi[sel])
        front = np.exp(p * np.log(y) + q * np.log1p(-y) - log_beta) / p
        part = front * _continued_fraction(p, q, y)
        values[sel] = 1.0 - part if flip else part
    out[inner] = np.clip(values, 0.0, 1.0)
    return out


def beta_ppf(p: np.ndarray | float, a: float, b: float) -> np.ndarray:
    """The quantile (inverse CDF) of Beta(a, b) at probabilities ``p``, by bisection of ``beta_cdf``
    (the CDF is increasing, so 60 halvings leave an interval below 1e-17)."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    lo, hi = np.zeros_like(p), np.ones_like(p)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        below = beta_cdf(mid, a, b) < p
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    x = 0.5 * (lo + hi)
    return np.where(p <= 0.0, 0.0, np.where(p >= 1.0, 1.0, x))


# --- timesteps of each spacing ---------------------------------------------------------------------------

def simple_timesteps(n_train: int, steps: int) -> np.ndarray:
    stride = n_train / steps
    return np.array([n_train - 1 - int(i * stride) for i in range(steps)], dtype=np.float64)


def sgm_uniform_timesteps(n_train: int, steps: int) -> np.ndarray:
    return np.linspace(n_train - 1, 0, steps + 1)[:-1]


def ddim_uniform_timesteps(n_train: int, steps: int) -> np.ndarray:
    stride = max(n_train // steps, 1)
    return np.arange(1, n_train, stride, dtype=np.float64)[::-1].copy()


def beta_timesteps(n_train: int, steps: int, a: float = BETA_ALPHA, b: float = BETA_BETA) -> np.ndarray:
    probs = 1.0 - np.arange(steps, dtype=np.float64) / steps
    # Rounded to 1e-9 first: a quantile a hair below a half (0.5 of the symmetric Beta) rounds as the exact one.
    ts = np.rint(np.round(beta_ppf(probs, a, b) * (n_train - 1), 9))
    keep = np.concatenate([[True], ts[1:] != ts[:-1]])
    return ts[keep]


TIMESTEP_SPACINGS: dict[str, Callable[[int, int], np.ndarray]] = {
    "simple": simple_timesteps, "sgm_uniform": sgm_uniform_timesteps,
    "ddim_uniform": ddim_uniform_timesteps, "beta": beta_timesteps,
}
# Spacings whose timesteps are always whole numbers (any scheduler that takes custom timesteps runs them).
WHOLE_TIMESTEPS = frozenset({"simple", "ddim_uniform", "beta"})


def sigma_at(train: np.ndarray, timesteps: np.ndarray) -> np.ndarray:
    """σ at (possibly fractional) timesteps: log-linear between the neighbouring training timesteps."""
    t = np.asarray(timesteps, dtype=np.float64)
    lo = np.floor(t).astype(np.int64)
    hi = np.minimum(lo + 1, len(train) - 1)
    w = t - lo
    log = np.log(np.asarray(train, dtype=np.float64))
    return np.exp((1 - w) * log[lo] + w * log[hi])


def exponential_levels(train: np.ndarray, steps: int) -> np.ndarray:
    return np.exp(np.linspace(math.log(float(train[-1])), math.log(float(train[0])), steps))


def levels(name: str, train: np.ndarray, steps: int) -> np.ndarray:
    """The noise levels (σ, highest first, without the final 0) of spacing ``name`` for ``steps``."""
    if name == "exponential":
        return exponential_levels(train, steps)
    return sigma_at(train, TIMESTEP_SPACINGS[name](len(train), steps))


def training_sigmas_of(alphas_cumprod: np.ndarray) -> np.ndarray:
    a = np.asarray(alphas_cumprod, dtype=np.float64)
    return np.sqrt((1 - a) / a)
