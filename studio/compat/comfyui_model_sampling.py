"""ComfyUI's model-sampling and model-merging nodes (ModelSamplingDiscrete, ModelMergeSimple,
ModelMergeBlocks) and CheckpointSave → ours.

Importing this module adds the classes' ports and widget orders to ``comfyui_schema.SPECS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .comfyui_core_nodes import split_prefix
from .comfyui_schema import SPECS, ComfySpec

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode

_MODEL = (("MODEL", "MODEL"),)

MODEL_SAMPLING_SPECS: dict[str, ComfySpec] = {
    "ModelSamplingDiscrete": ComfySpec(
        "ModelSamplingDiscrete", inputs=(("model", "MODEL"),), widgets=(("sampling", "eps"), ("zsnr", False)),
        outputs=_MODEL),
    "ModelMergeSimple": ComfySpec(
        "ModelMergeSimple", inputs=(("model1", "MODEL"), ("model2", "MODEL")), widgets=(("ratio", 1.0),),
        outputs=_MODEL),
    "ModelMergeBlocks": ComfySpec(
        "ModelMergeBlocks", inputs=(("model1", "MODEL"), ("model2", "MODEL")),
        widgets=(("input", 1.0), ("middle", 1.0), ("out", 1.0)), outputs=_MODEL),
    "CheckpointSave": ComfySpec(
        "Save Checkpoint", inputs=(("model", "MODEL"), ("clip", "CLIP"), ("vae", "VAE")),
        widgets=(("filename_prefix", "checkpoints/ComfyUI"),)),
}

# ComfyUI's choices we read the same way; anything else (img_to_img) falls back to eps with a note.
_KNOWN = ("eps", "v_prediction", "lcm", "x0")


def _flag(b: _Builder, c: CNode, name: str) -> bool:
    value = c.values.get(name, SPECS[c.class_type].default(name))
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    b.report.approximated(f"{c.label}: {name} {value!r} is not true or false; using false")
    return False


def model_sampling_discrete(b: _Builder, c: CNode) -> None:
    sampling = b.text(c, "sampling")
    if sampling not in _KNOWN:
        b.report.approximated(f"{c.label}: sampling {sampling!r} is not offered here; using eps")
        sampling = "eps"
    elif sampling == "lcm":
        b.report.approximated(f"{c.label}: lcm reads the model as a noise predictor; the LCM boundary condition "
                              "comes from the lcm sampler, so pick that in the sampler")
    b.add(c, "model.sampling_discrete", {"sampling": sampling, "zsnr": _flag(b, c, "zsnr")}, {"model": "model"},
          ["model"])


_MODELS = {"model1": "model1", "model2": "model2"}


def model_merge_simple(b: _Builder, c: CNode) -> None:
    b.add(c, "model.merge_simple", {"ratio": b.num(c, "ratio")}, _MODELS, ["model"])


def model_merge_blocks(b: _Builder, c: CNode) -> None:
    params = {name: b.num(c, name) for name in ("input", "middle", "out")}
    b.add(c, "model.merge_blocks", params, _MODELS, ["model"])


def checkpoint_save(b: _Builder, c: CNode) -> None:
    # ComfyUI writes under its output folder, as we do; its prefix holds the subfolder.
    folder, clean = split_prefix(b, c)
    b.add(c, "model.save_checkpoint", {"folder": folder, "prefix": clean},
          {"model": "model", "clip": "clip", "vae": "vae"}, [])


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "ModelSamplingDiscrete": model_sampling_discrete,
    "ModelMergeSimple": model_merge_simple,
    "ModelMergeBlocks": model_merge_blocks,
    "CheckpointSave": checkpoint_save,
}

SPECS.update(MODEL_SAMPLING_SPECS)
