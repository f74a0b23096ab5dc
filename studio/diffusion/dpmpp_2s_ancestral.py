"""DPM++ 2S ancestral (Lu et al. 2022, DPM-Solver++ single-step second order, with ancestral noise as in
Karras et al.'s k-diffusion) as a diffusers scheduler, so that the Sampler's loop runs it like any other.

Over noise levels σ_0 > … > σ_n (the Euler scheduler's, so every spacing Euler offers applies), a step
from σ = σ_i to σ' = σ_{i+1} with η = 1:

    σ_up = min(σ', √(σ'²(σ² - σ'²)/σ²)),  σ_down = √(σ'² - σ_up²),  h = log σ - log σ_down
    D = x0 estimate at (x, σ)
    x₂ = (σ_mid/σ)·x - expm1(-h/2)·D           with σ_mid = √(σ·σ_down)
    D₂ = x0 estimate at (x₂, σ_mid)
    x' = (σ_down/σ)·x - expm1(-h)·D₂ + σ_up·ε  (ε standard normal, drawn from the run's generator)

With η = 1, σ_down = σ'²/σ, so the midpoint σ_mid is σ' itself (the second evaluation sees the next
level's timestep). A step to σ' = 0 (σ_down = 0) is a plain Euler step to D, one evaluation. So ``timesteps`` and ``sigmas``
list every evaluation in order (σ_0, σ_mid,0, σ_1, σ_mid,1, …, σ_{n-1}; then the final level), like
diffusers' Heun layout: 2n - 1 evaluations for n steps ending at 0, ``order`` 2.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from diffusers import EulerDiscreteScheduler
from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteSchedulerOutput
from diffusers.utils.torch_utils import randn_tensor


def ancestral_split(sigma: float, sigma_next: float) -> tuple[float, float]:
    """(σ_down, σ_up) of an ancestral step with η = 1."""
    if sigma_next <= 0:
        return 0.0, 0.0
    up = min(sigma_next, math.sqrt(sigma_next**2 * (sigma**2 - sigma_next**2) / sigma**2))
    return math.sqrt(max(sigma_next**2 - up**2, 0.0)), up


_Euler: Any = EulerDiscreteScheduler  # diffusers' classes are untyped here


class DPMSolverPlusPlus2SAncestralScheduler(_Euler):
    order = 2
    sigmas: Any
    timesteps: Any
    _step_index: Any
    _begin_index: Any

    def set_timesteps(self, num_inference_steps: int | None = None, device: Any = None,
                      timesteps: list[int] | None = None, sigmas: list[float] | None = None) -> None:
        super().set_timesteps(num_inference_steps, device=device, timesteps=timesteps, sigmas=sigmas)
        levels = [float(s) for s in self.sigmas.double()]
        steps_t = self.timesteps.double().cpu().tolist()
        train = np.sqrt((1 - self.alphas_cumprod.double().numpy()) / self.alphas_cumprod.double().numpy())
        log_train = np.log(train)
        evals: list[float] = []
        ts: list[float] = []
        plan: list[tuple[int, int]] = []  # (step, 0: at the level / 1: at the midpoint) per evaluation
        for i in range(len(levels) - 1):
            evals.append(levels[i])
            ts.append(steps_t[i])
            plan.append((i, 0))
            down, _ = ancestral_split(levels[i], levels[i + 1])
            if down > 0:
                mid = math.sqrt(levels[i] * down)
                if i + 1 < len(steps_t) and math.isclose(mid, levels[i + 1], rel_tol=1e-6):
                    evals.append(levels[i + 1])  # η = 1: exactly the next level, at its timestep
                    ts.append(steps_t[i + 1])
                else:
                    evals.append(mid)
                    ts.append(float(self._sigma_to_t(np.array(mid), log_train)))
                plan.append((i, 1))
        self._levels = levels
        self._plan = plan
        self._saved: Any = None
        if self.config.timestep_type == "continuous" and self.config.prediction_type == "v_prediction":
            ts = [0.25 * math.log(e) for e in evals]  # as Euler's continuous-time (EDM) models take them
        self.sigmas = torch.tensor([*evals, levels[-1]], dtype=torch.float32)
        self.timesteps = torch.tensor(ts, dtype=torch.float32, device=device)
        self._step_index = None
        self._begin_index = None

    def step(self, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor, s_churn: float = 0.0,
             s_tmin: float = 0.0, s_tmax: float = float("inf"), s_noise: float = 1.0,
             generator: torch.Generator | None = None, return_dict: bool = True) -> Any:
        if self.step_index is None:
            self._init_step_index(timestep)
        index = self.step_index
        sigma = float(self.sigmas[index])
        denoised = self._x0(model_output, sample, sigma)
        i, stage = self._plan[index]
        level, nxt = self._levels[i], self._levels[i + 1]
        down, up = ancestral_split(level, nxt)
        if down == 0:  # the step to 0: Euler's, landing on the estimate
            prev = denoised
        elif stage == 0:
            self._saved = sample
            h = math.log(level) - math.log(down)
            prev = (math.sqrt(level * down) / level) * sample - math.expm1(-h / 2) * denoised
        else:
            h = math.log(level) - math.log(down)
            prev = (down / level) * self._saved - math.expm1(-h) * denoised
            self._saved = None
            if up > 0:
                noise = randn_tensor(model_output.shape, dtype=model_output.dtype, device=model_output.device,
                                     generator=generator)
                prev = prev + noise * (up * s_noise)
        self._step_index += 1
        prev = prev.to(model_output.dtype)
        if not return_dict:
            return (prev, denoised)
        return EulerDiscreteSchedulerOutput(prev_sample=prev, pred_original_sample=denoised)

    def _x0(self, model_output: torch.Tensor, sample: torch.Tensor, sigma: float) -> torch.Tensor:
        kind = self.config.prediction_type
        if kind == "epsilon":
            return sample - sigma * model_output
        if kind == "v_prediction":
            return model_output * (-sigma / (sigma**2 + 1) ** 0.5) + sample / (sigma**2 + 1)
        if kind in ("sample", "original_sample"):
            return model_output
        raise ValueError(f"prediction type {kind!r} is not epsilon, v_prediction or sample")
