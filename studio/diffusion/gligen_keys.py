"""GLIGEN weight files: their key layouts and what a file holds, read from key names and shapes only.

Two layouts hold the same modules, a gated self-attention layer (``fuser``) per transformer block of the
UNet plus the box/phrase encoder (``position_net``):

- **original** (the GLIGEN repository's checkpoints, ComfyUI's ``models/gligen`` files such as
  ``gligen_sd14_textbox_pruned.safetensors``): LDM block names, ``input_blocks.N.1.transformer_blocks.K
  .fuser.*``, ``middle_block.1.transformer_blocks.K.fuser.*``, ``output_blocks.N.1.transformer_blocks.K
  .fuser.*``, optionally under ``model.diffusion_model.``; the pruned files hold nothing else;
- **diffusers** (a UNet made with ``attention_type="gated"``, e.g. ``masterful/gligen-1-4-generation-text-box``):
  ``down_blocks.B.attentions.A.transformer_blocks.K.fuser.*``, ``mid_block.attentions.0…``,
  ``up_blocks.B.attentions.A…``, among the UNet's own weights (which are not used).

Below a block the names are the same in both (``linear``, ``attn.to_q|to_k|to_v|to_out.0``,
``ff.net.0.proj``, ``ff.net.2``, ``norm1``, ``norm2``, ``alpha_attn``, ``alpha_dense``), and so are the
``position_net`` names (``linears.0|2|4``, ``null_positive_feature``, ``null_position_feature``).
The family comes from the width of the phrase embedding a file reads (768 for SD 1.x: the published
GLIGEN weights are all SD 1.4 ones) or, for the small test models, their metadata.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError
from .families import CONTEXT_DIMS

PREFIXES = ("model.diffusion_model.", "diffusion_model.", "unet.")
_ORIGINAL = re.compile(r"^((?:input_blocks|output_blocks)\.\d+\.1|middle_block\.1)\.(transformer_blocks\.\d+)\.fuser\.(.+)$")
_DIFFUSERS = re.compile(
    r"^((?:down_blocks|up_blocks)\.\d+\.attentions\.\d+|mid_block\.attentions\.0)\.(transformer_blocks\.\d+)\.fuser\.(.+)$")
FUSER_PARTS = ("linear.weight", "linear.bias", "attn.to_q.weight", "attn.to_k.weight", "attn.to_v.weight",
               "attn.to_out.0.weight", "attn.to_out.0.bias", "ff.net.0.proj.weight", "ff.net.0.proj.bias",
               "ff.net.2.weight", "ff.net.2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias",
               "alpha_attn", "alpha_dense")
POSITION_PARTS = ("linears.0.weight", "linears.0.bias", "linears.2.weight", "linears.2.bias", "linears.4.weight",
                  "linears.4.bias", "null_positive_feature", "null_position_feature")
FAMILY_NAMES = {"sd15": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL", "sdxl_refiner": "the SDXL refiner"}


@dataclass(frozen=True)
class GligenInfo:
    """What a GLIGEN file holds. ``blocks`` names each gated layer's transformer block in the file's own
    layout (``input_blocks.1.1.transformer_blocks.0`` or ``down_blocks.0.attentions.0.transformer_blocks.0``),
    in the file's order; ``dims`` is each layer's width; ``context_dim`` the width of the phrase
    embeddings (and of the object tokens)."""

    path: Path
    layout: str  # original | diffusers
    family: str | None
    blocks: tuple[str, ...]
    dims: tuple[int, ...]
    context_dim: int


def strip_prefix(key: str) -> str:
    for p in PREFIXES:
        if key.startswith(p):
            return key[len(p):]
    return key


def split_key(key: str) -> tuple[str, str, str] | None:
    """(layout, block name, part below ``fuser.``) of a gated-layer key, or None for any other key."""
    key = strip_prefix(key)
    for layout, pattern in (("original", _ORIGINAL), ("diffusers", _DIFFUSERS)):
        m = pattern.match(key)
        if m:
            return layout, f"{m.group(1)}.{m.group(2)}", m.group(3)
    return None


def _block_order(name: str) -> tuple[int, int, int, int]:
    """Input/down blocks, then the middle, then output/up blocks, each in number order."""
    nums = [int(n) for n in re.findall(r"\d+", name)]
    stage = 0 if name.startswith(("input_blocks", "down_blocks")) else 1 if name.startswith(("middle", "mid")) else 2
    return (stage, *(nums + [0, 0, 0])[:3])  # type: ignore[return-value]


def info_from_shapes(path: Path, shapes: dict[str, tuple[int, ...]], meta_family: str | None = None) -> GligenInfo:
    """A GLIGEN file's description from its key names and shapes; ``ModelError`` naming what is wrong."""
    name = path.name
    layers: dict[str, dict[str, tuple[int, ...]]] = {}
    layouts: set[str] = set()
    position: dict[str, tuple[int, ...]] = {}
    for key, shape in shapes.items():
        bare = strip_prefix(key)
        if bare.startswith("position_net."):
            position[bare.removeprefix("position_net.")] = shape
            continue
        split = split_key(key)
        if split is not None:
            layouts.add(split[0])
            layers.setdefault(split[1], {})[split[2]] = shape
    if not layers and not position:
        raise ModelError(f"{name} is not a GLIGEN model (no gated self-attention 'fuser' layers and no position_net)")
    if "linears_text.0.weight" in position or "null_image_feature" in position:
        raise ModelError(f"{name} is a GLIGEN text-image model (grounding on reference images); only the "
                         "text-box models are supported")
    if not layers or not position:
        raise ModelError(f"{name} is incomplete: it has {'no gated self-attention layers' if not layers else 'no position_net'}")
    if len(layouts) > 1:
        raise ModelError(f"{name} mixes original and diffusers block names")
    missing = [p for p in POSITION_PARTS if p not in position]
    if missing:
        raise ModelError(f"{name}: its position_net lacks {', '.join(missing)}")
    blocks = tuple(sorted(layers, key=_block_order))
    dims: list[int] = []
    context = position["null_positive_feature"][0]
    for block in blocks:
        parts = layers[block]
        lacking = [p for p in FUSER_PARTS if p not in parts]
        if lacking:
            raise ModelError(f"{name}: the gated layer of {block} lacks {', '.join(lacking[:4])}")
        out_dim, in_dim = parts["linear.weight"]
        if in_dim != position["linears.4.weight"][0]:
            raise ModelError(f"{name}: the gated layer of {block} reads tokens {in_dim} wide, the position_net "
                             f"makes them {position['linears.4.weight'][0]} wide")
        dims.append(out_dim)
    family = meta_family or CONTEXT_DIMS.get(context)
    return GligenInfo(path, layouts.pop(), family, blocks, tuple(dims), context)


def check_family(info: GligenInfo) -> None:
    """Refuse, with the reason, a GLIGEN file that is not for SD 1.x."""
    if info.family == "sd15":
        return
    if info.family is None:
        raise ModelError(f"{info.path.name}: phrase embeddings {info.context_dim} wide fit no known model family "
                         "(SD 1.x GLIGEN reads 768)")
    raise ModelError(f"{info.path.name} is a GLIGEN model for {FAMILY_NAMES.get(info.family, info.family)} "
                     f"(phrase embeddings {info.context_dim} wide); only SD 1.x GLIGEN models are supported")


def diffusers_block(name: str, layers_per_block: int) -> str:
    """The diffusers module path of a transformer block named in either layout, for a UNet with
    ``layers_per_block`` resnets per down block (2 for SD 1.x): ``input_blocks.1.1.transformer_blocks.0``
    → ``down_blocks.0.attentions.0.transformer_blocks.0``. ``ModelError`` for a block that holds no
    attention in such a UNet (a GLIGEN made for another UNet shape)."""
    m = re.match(r"^(input_blocks|output_blocks)\.(\d+)\.1\.(.+)$", name)
    if m is None:
        m2 = re.match(r"^middle_block\.1\.(.+)$", name)
        return f"mid_block.attentions.0.{m2.group(1)}" if m2 else name
    kind, index, rest = m.group(1), int(m.group(2)), m.group(3)
    per = layers_per_block + 1
    if kind == "input_blocks":
        if index < 1 or (index - 1) % per == layers_per_block:
            raise ModelError(f"{name} is not an attention block of a UNet with {layers_per_block} layers per block")
        return f"down_blocks.{(index - 1) // per}.attentions.{(index - 1) % per}.{rest}"
    return f"up_blocks.{index // per}.attentions.{index % per}.{rest}"


def ldm_block(path: str, layers_per_block: int) -> str:
    """The inverse of ``diffusers_block``: ``down_blocks.0.attentions.0.transformer_blocks.0`` →
    ``input_blocks.1.1.transformer_blocks.0`` (for writing files in the original layout)."""
    m = re.match(r"^(down_blocks|up_blocks)\.(\d+)\.attentions\.(\d+)\.(.+)$", path)
    if m is None:
        m2 = re.match(r"^mid_block\.attentions\.0\.(.+)$", path)
        return f"middle_block.1.{m2.group(1)}" if m2 else path
    kind, block, layer, rest = m.group(1), int(m.group(2)), int(m.group(3)), m.group(4)
    per = layers_per_block + 1
    if kind == "down_blocks":
        return f"input_blocks.{1 + block * per + layer}.1.{rest}"
    return f"output_blocks.{block * per + layer}.1.{rest}"
