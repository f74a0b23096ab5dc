"""IP-Adapter files: what they are (header only) and loading them into an ``IPAdapterModel``.

The original layout (h94/IP-Adapter, also what ComfyUI keeps in ``models/ipadapter``), as
``.safetensors`` or as a ``.bin`` pickle of ``{"image_proj": {...}, "ip_adapter": {...}}``:

- ``image_proj.*`` turns CLIP image features into a few tokens for the UNet's cross-attention:
  ``proj.weight`` + ``norm.*`` (**base**: a linear map of the image embedding to 4 tokens, e.g.
  ``ip-adapter_sd15``, ``ip-adapter_sdxl_vit-h``), ``latents`` + ``proj_in`` + ``layers.*`` (**plus**: a
  perceiver resampler over the encoder's penultimate hidden states, 16 tokens, e.g.
  ``ip-adapter-plus_sd15``, ``ip-adapter-plus_sdxl_vit-h``, the plus-face ones), ``proj.0…proj.3``
  (**full**: every hidden-state token, ``ip-adapter-full-face``). FaceID models (which need a face
  recognition model) are refused;
- ``ip_adapter.N.to_k_ip.weight`` / ``to_v_ip.weight``: keys and values of the image tokens for the
  N-th attention processor of the UNet (in ``unet.attn_processors`` order, so the cross-attention
  layers are N = 1, 3, 5, …: 16 for SD 1.5, 70 for SDXL).

The family comes from the width of the image tokens (``to_k_ip`` in-features = the UNet's context
width: 768 SD 1.5, 1024 SD 2.x, 2048 SDXL), or, for the small test models, their metadata
(``latent_studio.family``). The projection is converted to diffusers' modules (``ImageProjection``,
``IPAdapterPlusImageProjection``, ``IPAdapterFullImageProjection``) by diffusers' own converter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ModelError
from .families import CONTEXT_DIMS, META_FAMILY, PICKLE_SUFFIXES

Progress = Callable[[float, str], None]
KINDS = {"base": "IP-Adapter", "plus": "IP-Adapter Plus", "full": "IP-Adapter Full"}
_LAYER = re.compile(r"^ip_adapter\.(\d+)\.to_([kv])_ip\.weight$")


@dataclass(frozen=True)
class IPAdapterInfo:
    """What an IP-Adapter file holds. ``image_dim`` is the width of the CLIP features its projection
    reads: the image embedding (base) or the encoder's hidden size (plus, full)."""

    path: Path
    kind: str  # base | plus | full
    family: str | None
    layers: int
    context_dim: int
    tokens: int
    image_dim: int

    @property
    def uses_hidden_states(self) -> bool:
        return self.kind != "base"

    @property
    def what(self) -> str:
        return KINDS[self.kind]


@dataclass(frozen=True, eq=False)
class IPAdapterModel:
    """IPADAPTER: the image projection and the per-layer key/value weights, on the model device.
    ``model`` holds every module, so the model manager counts all the weights against its budget."""

    info: IPAdapterInfo
    model: Any  # torch.nn.ModuleDict: image_proj, to_k_ip (ModuleList), to_v_ip (ModuleList)
    source: str = ""

    @property
    def family(self) -> str | None:
        return self.info.family

    @property
    def kind(self) -> str:
        return self.info.kind

    @property
    def image_proj(self) -> Any:
        return self.model["image_proj"]

    def layer_weights(self) -> list[tuple[Any, Any]]:
        """(to_k_ip, to_v_ip) weight of each cross-attention layer, in the UNet's order."""
        return [(k.weight, v.weight) for k, v in zip(self.model["to_k_ip"], self.model["to_v_ip"], strict=True)]

    def __cache_size__(self) -> int:
        return 64  # owned by the model manager


# --- telling what a file is --------------------------------------------------------------------------


def info_from_shapes(path: Path, shapes: dict[str, tuple[int, ...]], meta_family: str | None = None) -> IPAdapterInfo:
    """An IP-Adapter's description from its (flattened) key names and shapes."""
    name = path.name
    proj = {k.removeprefix("image_proj."): v for k, v in shapes.items() if k.startswith("image_proj.")}
    layers: dict[int, dict[str, tuple[int, ...]]] = {}
    for k, v in shapes.items():
        m = _LAYER.match(k)
        if m:
            layers.setdefault(int(m.group(1)), {})[m.group(2)] = v
    if not proj and not layers:
        raise ModelError(f"{name} is not an IP-Adapter (no image_proj.* and ip_adapter.* weights)")
    if any(k.startswith("perceiver_resampler.") for k in proj) or ("norm.weight" in proj and "proj.3.weight" not in proj
                                                                   and "proj.weight" not in proj):
        raise ModelError(f"{name} is an IP-Adapter FaceID model, which needs a face-recognition model; "
                         "it is not supported")
    if not layers or not proj:
        raise ModelError(f"{name} is incomplete: it lacks its {'ip_adapter' if not layers else 'image_proj'} weights")
    expected = [2 * i + 1 for i in range(len(layers))]
    if sorted(layers) != expected or any(set(p) != {"k", "v"} for p in layers.values()):
        raise ModelError(f"{name}: its attention weights are not numbered 1, 3, 5, … with to_k_ip and to_v_ip each")
    k1 = layers[1]["k"]
    if len(k1) != 2:
        raise ModelError(f"{name}: ip_adapter.1.to_k_ip.weight has shape {k1}, not a matrix")
    context = k1[1]
    if "proj.weight" in proj:
        kind, image_dim = "base", proj["proj.weight"][1]
        norm = proj.get("norm.weight", (context,))[0]
        tokens = proj["proj.weight"][0] // max(norm, 1)
    elif "latents" in proj and "proj_in.weight" in proj:
        kind, image_dim, tokens = "plus", proj["proj_in.weight"][1], proj["latents"][1]
    elif "proj.3.weight" in proj and "proj.0.weight" in proj:
        kind, image_dim, tokens = "full", proj["proj.0.weight"][1], 257
    else:
        raise ModelError(f"{name}: its image projection ({', '.join(sorted(proj)[:3])}, …) is of no known kind")
    family = meta_family or CONTEXT_DIMS.get(context)
    return IPAdapterInfo(path, kind, family, len(layers), context, tokens, image_dim)


def inspect_ip_adapter(path: str | Path) -> IPAdapterInfo:
    """Describe an IP-Adapter from its safetensors header (no torch); a pickle must be loaded first."""
    from .safetensors_header import read_header

    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelError(f"{path.name} is a pickle; its contents are known only once loaded")
    h = read_header(path)
    return info_from_shapes(path, {k: tuple(t.shape) for k, t in h.tensors.items()}, h.metadata.get(META_FAMILY))


def family_of_ip_adapter(path: str | Path) -> str | None:
    """The family of an IP-Adapter file, or None where it cannot be told (never raises)."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return _family(str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=128)
def _family(path: str, size: int, mtime_ns: int) -> str | None:
    try:
        return inspect_ip_adapter(path).family
    except (ModelError, OSError, ValueError, RecursionError):
        return None


# --- loading ----------------------------------------------------------------------------------------


def read_ip_adapter(path: Path, *, allow_ckpt: bool) -> tuple[dict[str, Any], str | None]:
    """Flattened tensors (``image_proj.…``, ``ip_adapter.…``) and the metadata family, if any. A ``.bin``
    is read only where pickles are allowed, and then only with ``torch.load(weights_only=True)``."""
    if path.suffix.lower() not in PICKLE_SUFFIXES:
        from .safetensors_header import read_header
        from .weights import read_weights

        return read_weights(path, allow_ckpt=False), read_header(path).metadata.get(META_FAMILY)
    import torch

    from .weights import load_pickle

    obj = load_pickle(path, allow_ckpt=allow_ckpt)
    if not isinstance(obj, dict):
        raise ModelError(f"{path.name} does not hold a state dict")
    flat: dict[str, Any] = {}
    for group in ("image_proj", "ip_adapter"):
        part = obj.get(group)
        if isinstance(part, dict):
            flat.update({f"{group}.{k}": v for k, v in part.items() if isinstance(v, torch.Tensor)})
    flat.update({k: v for k, v in obj.items() if isinstance(v, torch.Tensor) and k.startswith(("image_proj.",
                                                                                                 "ip_adapter."))})
    return flat, None


def load_ip_adapter(path: Path, *, device: Any, dtype: Any, allow_ckpt: bool = False,
                    progress: Progress | None = None) -> IPAdapterModel:
    import torch
    from diffusers.loaders.unet import UNet2DConditionLoadersMixin

    report = progress or (lambda fraction, text: None)
    flat, meta_family = read_ip_adapter(path, allow_ckpt=allow_ckpt)
    info = info_from_shapes(path, {k: tuple(v.shape) for k, v in flat.items()}, meta_family)
    report(0.4, f"{path.name}: building {info.what}")
    proj_sd = {k.removeprefix("image_proj."): v.float() for k, v in flat.items() if k.startswith("image_proj.")}
    try:
        # diffusers' own conversion of the original keys; it uses nothing of ``self`` in this mode.
        image_proj = UNet2DConditionLoadersMixin._convert_ip_adapter_image_proj_to_diffusers(
            None, proj_sd, low_cpu_mem_usage=False)  # type: ignore[arg-type]
    except (RuntimeError, KeyError, ValueError) as exc:
        raise ModelError(f"{path.name}: its image projection does not fit the {info.what} layout "
                         f"({str(exc).splitlines()[0][:200]})") from None

    def linear(w: Any) -> Any:
        lin = torch.nn.Linear(w.shape[1], w.shape[0], bias=False, device="meta")
        lin.weight = torch.nn.Parameter(w.float(), requires_grad=False)
        return lin

    n = info.layers
    to_k = torch.nn.ModuleList([linear(flat[f"ip_adapter.{2 * i + 1}.to_k_ip.weight"]) for i in range(n)])
    to_v = torch.nn.ModuleList([linear(flat[f"ip_adapter.{2 * i + 1}.to_v_ip.weight"]) for i in range(n)])
    model = torch.nn.ModuleDict({"image_proj": image_proj, "to_k_ip": to_k, "to_v_ip": to_v})
    torch.nn.Module.to(model, device=device, dtype=dtype)
    model.eval().requires_grad_(False)
    return IPAdapterModel(info, model, str(path))
