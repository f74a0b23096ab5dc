"""How a MODEL's output is read: its prediction type and zero-terminal-SNR noise schedule.

Both live in the diffusers scheduler config a ``UNetModel`` carries, which every sampling run builds
its scheduler from (``schedulers.make_scheduler``):

- ``prediction_type``: ``epsilon`` (the noise), ``v_prediction`` (v = α·ε − σ·x₀) or ``sample`` (x₀);
- zero terminal SNR (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are
  Flawed"): ``rescale_betas_zero_snr`` rescales the betas so that the last timestep is pure noise,
  and ``timestep_spacing`` "trailing" makes the first step start there, as the paper and diffusers
  recommend.

A checkpoint says which it needs in one of the ways the community uses (``checkpoint_sampling``):
the ``modelspec.prediction_type`` metadata, the empty ``v_pred`` / ``ztsnr`` marker tensors some v-prediction
SDXL checkpoints carry, or "v-pred" / "vpred" in the file name.

This module imports no torch: the node and the loader only compute configs.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

# Choices a ModelSamplingDiscrete node offers → diffusers prediction type. "lcm" is an
# epsilon model whose consistency boundary condition diffusers' LCM scheduler applies: pair it with
# the lcm sampler.
PREDICTIONS: dict[str, str] = {"eps": "epsilon", "v_prediction": "v_prediction", "lcm": "epsilon",
                               "x0": "sample"}
SAMPLINGS: tuple[str, ...] = tuple(PREDICTIONS)

_V_NAME = re.compile(r"v[-_ ]?pred", re.IGNORECASE)
_ZSNR_NAME = re.compile(r"z(t)?snr", re.IGNORECASE)
_META_PREDICTION = {"v": "v_prediction", "v_prediction": "v_prediction", "v-prediction": "v_prediction",
                    "epsilon": "epsilon", "eps": "epsilon"}


def sampling_config(config: Mapping[str, Any], sampling: str, zsnr: bool) -> dict[str, Any]:
    """``config`` with the prediction type of ``sampling`` and zero terminal SNR on or off."""
    try:
        prediction = PREDICTIONS[sampling]
    except KeyError:
        raise ValueError(f"unknown sampling {sampling!r}; choose one of {', '.join(SAMPLINGS)}") from None
    out = dict(config)
    out["prediction_type"] = prediction
    return zsnr_config(out) if zsnr else _without_zsnr(out)


def zsnr_config(config: Mapping[str, Any]) -> dict[str, Any]:
    return {**config, "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}


def _without_zsnr(config: dict[str, Any]) -> dict[str, Any]:
    # Only undo what zsnr_config did: a model trained with trailing spacing keeps it.
    if config.pop("rescale_betas_zero_snr", False) and config.get("timestep_spacing") == "trailing":
        config["timestep_spacing"] = "leading"
    return config


def with_sampling(model: Any, sampling: str, zsnr: bool) -> Any:
    """A new MODEL value (``UNetModel``) over the same shared UNet, read with another sampling."""
    return replace(model, scheduler_config=sampling_config(model.scheduler_config, sampling, zsnr))


def detect(name: str, metadata: Mapping[str, str], tensors: Collection[str]) -> dict[str, Any]:
    """Scheduler-config overrides a checkpoint asks for (empty: none). Metadata beats the markers, which
    beat the file name."""
    out: dict[str, Any] = {}
    meta = {k.lower(): str(v).strip().lower() for k, v in metadata.items()}
    stated = _META_PREDICTION.get(meta.get("modelspec.prediction_type", ""))
    if stated:
        out["prediction_type"] = stated
    elif "v_pred" in tensors or _V_NAME.search(name):
        out["prediction_type"] = "v_prediction"
    if "ztsnr" in tensors or _truthy(meta.get("ztsnr")) or _truthy(meta.get("modelspec.ztsnr")) \
            or _ZSNR_NAME.search(name):
        out.update(zsnr_config({}))
    return out


def _truthy(value: str | None) -> bool:
    return value in ("1", "true", "yes")


def checkpoint_sampling(path: Path) -> dict[str, Any]:
    """``detect`` for a checkpoint file: the safetensors header where there is one, else the name."""
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return detect(path.name, {}, ())
    from .errors import ModelError
    from .safetensors_header import read_header

    try:
        h = read_header(path)
    except ModelError:  # an unreadable header is the loader's to report, not ours
        return detect(path.name, {}, ())
    return detect(path.name, h.metadata, h.tensors.keys())
