"""CFG rescale (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed", §3.4).

A high CFG scale inflates the guided prediction's spread; rescaling brings its standard deviation back
to that of the positive prediction, and ``multiplier`` mixes the rescaled and the plain guided result::

    g = u + cfg·(c − u);   r = g · std(c) / std(g);   out = multiplier·r + (1 − multiplier)·g

with std per sample over all other dimensions. As ComfyUI's RescaleCFG node does, this is computed on
the *v* prediction (v = α·ε − σ·x₀ in variance-preserving terms), whatever the model predicts: the
outputs are turned into v with the step's noise level, rescaled, and turned back. diffusers'
``guidance_rescale`` applies the same formula to the ε prediction instead; since v = ε/α − (σ/α)·x_t
(x_t the UNet's input) adds a term common to both halves, std(v) is not std(ε)/α and the two
differ except at ``multiplier`` = 0.

``RescaleCFG`` is a model patch that changes nothing in the UNet: it gives the denoiser a CFG function
for each run (``studio.diffusion.denoiser``, guidance extension point).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .denoiser import Guided

_MIN_ALPHA_BAR = 2.0 ** -24  # zero terminal SNR: as diffusers' Euler, keep the last noise level finite


@dataclass(frozen=True)
class RescaleCFG:
    multiplier: float

    @property
    def key(self) -> str:
        return f"rescale_cfg({self.multiplier})"

    @contextmanager
    def applied(self, unet: Any) -> Iterator[None]:
        yield  # nothing to change in the UNet

    def cfg_function(self, *, model: Any, batch: int, guided: bool) -> Any:
        config = model.scheduler_config
        return _Rescale(self.multiplier, NoiseLevels(config), str(config.get("prediction_type", "epsilon")))


class NoiseLevels:
    """σ (variance-exploding, √((1 − ᾱ)/ᾱ)) of a timestep of the model's training schedule; between
    whole timesteps (Karras-style schedules) log σ is interpolated, as diffusers maps σ to t."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        import numpy as np
        from diffusers import DDPMScheduler

        bar = DDPMScheduler.from_config(dict(config)).alphas_cumprod.double().numpy()
        bar = np.clip(bar, _MIN_ALPHA_BAR, 1.0)
        self.log_sigmas = 0.5 * np.log((1.0 - bar) / bar)

    def __call__(self, t: Any) -> float:
        import numpy as np

        t = float(t)
        return float(np.exp(np.interp(t, np.arange(len(self.log_sigmas)), self.log_sigmas)))


@dataclass
class _Rescale:
    multiplier: float
    sigmas: NoiseLevels
    prediction: str

    def __call__(self, g: Guided) -> Any:
        sigma = self.sigmas(g.step.t)
        x = g.model_in[: g.cond.shape[0]]  # both halves see the same latent
        u, c = to_v(g.uncond, x, sigma, self.prediction), to_v(g.cond, x, sigma, self.prediction)
        return from_v(rescaled(u, c, g.cfg, self.multiplier), x, sigma, self.prediction)


def rescaled(u: Any, c: Any, cfg: float, multiplier: float) -> Any:
    """The CFG result of ``u``, ``c`` with its per-sample std brought toward ``c``'s by ``multiplier``."""
    g = u + cfg * (c - u)
    dims = tuple(range(1, g.ndim))
    r = g * (c.std(dim=dims, keepdim=True) / g.std(dim=dims, keepdim=True))
    return multiplier * r + (1.0 - multiplier) * g


def _coefficients(sigma: float) -> tuple[float, float]:
    alpha = (1.0 + sigma * sigma) ** -0.5
    return alpha, sigma * alpha  # the variance-preserving α_t, σ_t


def to_v(out: Any, x: Any, sigma: float, prediction: str) -> Any:
    """A model output (ε, v or x₀ by ``prediction``) as v, for the UNet input ``x`` = α·x₀ + σ_t·ε."""
    a, s = _coefficients(sigma)
    if prediction == "v_prediction":
        return out
    if prediction == "sample":
        return (a * x - out) / s  # v = α·ε − σ_t·x₀ with ε = (x − α·x₀)/σ_t and α² + σ_t² = 1
    return (out - s * x) / a  # ε → v: v = α·ε − σ_t·x₀, x₀ = (x − σ_t·ε)/α


def from_v(v: Any, x: Any, sigma: float, prediction: str) -> Any:
    """``to_v``'s inverse."""
    a, s = _coefficients(sigma)
    if prediction == "v_prediction":
        return v
    if prediction == "sample":
        return a * x - s * v
    return a * v + s * x
