"""GLIGEN (arXiv 2301.07093): phrases grounded in boxes through gated self-attention layers.

A GLIGEN model adds, after the self-attention of every transformer block of an SD 1.x UNet, a gated
self-attention layer over the block's visual tokens joined with one token per grounded object:
``v = v + tanh(γ) · TS(SelfAttn(LN([v, h_e])))``, then ``v = v + tanh(γ') · FF(LN(v))`` (TS keeps the
visual tokens), where each object token ``h_e`` is made by the ``position_net`` from the phrase's pooled
CLIP text embedding and a Fourier embedding of its box (x0, y0, x1, y1 as fractions of the image).

Files (``studio.diffusion.gligen_keys``): ComfyUI's ``models/gligen`` single files (the original
layout) and diffusers' gated UNets. ``load_gligen`` builds diffusers' own modules from either
(``GatedSelfAttentionDense`` per layer, ``GLIGENTextBoundingboxProjection``), so diffusers' gated code
path does the work: ``UNet2DConditionModel.forward`` turns ``cross_attention_kwargs["gligen"] = {"boxes",
"positive_embeddings", "masks"}`` into ``{"objs": self.position_net(...)}``, and each
``BasicTransformerBlock`` given those kwargs calls ``self.fuser(hidden_states, objs)`` after its
self-attention. A block only needs a ``fuser`` attribute for that (its ``attention_type`` is only
read when diffusers builds the block), and the UNet a ``position_net``.

**How a run uses it.** Grounding travels on the conditioning (``Conditioning.gligen``: ``GligenBox``
items, added by the text-box node), not on the MODEL, so it is the denoiser that applies it
(``grounding``, called by ``build_denoiser``): it wraps the UNet so that around each evaluation that
grounds, ``GligenPatch.applied`` (a ``ModelPatch``) sets the ``fuser`` modules and the ``position_net``
on the shared UNet and removes them on exit (also on an error or a cancel): the cached UNet is
unchanged between evaluations and after the run. Its ``GligenStep`` (a ``ConditioningPatch``) adds
the ``gligen`` kwargs during the first β of the evaluations (scheduled sampling: ``int(β · steps)``
of them, as diffusers' ``gligen_scheduled_sampling_beta``) and nothing after, so later steps are
plain ones.

**CFG.** As diffusers' GLIGEN pipeline: while grounding, every row of the batch goes through the
gated layers, and a half with no boxes (the negative, usually) gets only the learned null objects
(mask 0), not no gated layer at all. (ComfyUI applies the gated layers only to conditionings that
carry boxes, so its negative half skips them; and it grounds for every step.) Each half's rows get
that half's own boxes, up to 30 objects (the rest are dropped, as diffusers does).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from studio.core.context import NodeFailure

from .errors import ModelError
from .families import META_FAMILY, PICKLE_SUFFIXES
from .gligen_keys import GligenInfo, check_family, diffusers_block, info_from_shapes, split_key, strip_prefix
from .model_patches import applied
from .values import Area, Conditioning, TextEncoder

Progress = Callable[[float, str], None]
MAX_OBJECTS = 30  # the object tokens GLIGEN was trained with (diffusers' ``max_objs``)
DEFAULT_BETA = 0.3  # diffusers' ``gligen_scheduled_sampling_beta`` and the paper's choice
FUSER_HEADS = 8  # the original SD 1.x GLIGEN's gated attention heads (= every SD 1.x block's heads)
_WEIGHT_NAMES = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


@dataclass(frozen=True, eq=False)
class GLIGENModel:
    """GLIGEN: the gated self-attention layers and the position net, on the model device. ``model`` holds
    them all (``fusers``: a ModuleList in ``info.blocks`` order; ``position_net``), so the model manager
    counts their weights against its budget."""

    info: GligenInfo
    model: Any  # torch.nn.ModuleDict
    source: str = ""

    @property
    def family(self) -> str | None:
        return self.info.family

    @property
    def position_net(self) -> Any:
        return self.model["position_net"]

    @property
    def fusers(self) -> Any:
        return self.model["fusers"]

    @property
    def context_dim(self) -> int:
        return self.info.context_dim

    def __cache_size__(self) -> int:
        return 64  # owned by the model manager


@dataclass(frozen=True, eq=False)
class GligenBox:
    """One grounded object of a conditioning entry: a phrase's pooled text embedding ((D,) float32, CPU)
    and its box (image pixels, or fractions when ``area.relative``); ``beta`` is the fraction of the
    sampling steps during which it grounds."""

    gligen: GLIGENModel
    embedding: Any
    area: Area
    phrase: str = ""
    beta: float = DEFAULT_BETA

    def xyxy(self, height: int, width: int) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) as fractions of an output of ``height``×``width`` pixels, inside [0, 1]."""
        a = self.area
        if a.relative:
            x, y, w, h = a.x, a.y, a.width, a.height
        else:
            x, y, w, h = a.x / width, a.y / height, a.width / width, a.height / height

        def clip(v: float) -> float:
            return min(max(float(v), 0.0), 1.0)

        return clip(x), clip(y), clip(x + w), clip(y + h)


# --- files ------------------------------------------------------------------------------------------


def weights_file(path: Path) -> Path:
    """The file holding the weights: ``path`` itself, or in a diffusers folder (a pipeline or its
    ``unet``) the UNet's weights, after checking its config asks for text-box gating."""
    if not path.is_dir():
        return path
    for folder in (path / "unet", path):
        config = folder / "config.json"
        if config.is_file():
            try:
                kind = json.loads(config.read_text(encoding="utf-8")).get("attention_type", "default")
            except (OSError, ValueError):
                kind = None
            if kind == "gated-text-image":
                raise ModelError(f"{path.name} is a GLIGEN text-image model (grounding on reference images); "
                                 "only the text-box models are supported")
            if kind not in (None, "gated"):
                raise ModelError(f"{path.name} is a diffusers UNet without GLIGEN layers (attention_type {kind!r})")
        for name in _WEIGHT_NAMES:
            if (folder / name).is_file():
                return folder / name
    raise ModelError(f"{path.name} holds no GLIGEN weights (looked for unet/{_WEIGHT_NAMES[0]})")


def inspect_gligen(path: str | Path) -> GligenInfo:
    """Describe a GLIGEN file or folder from its safetensors header (no torch)."""
    from .safetensors_header import read_header

    path = Path(path)
    file = weights_file(path)
    if file.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelError(f"{file.name} is a pickle; its contents are known only once loaded")
    h = read_header(file)
    return info_from_shapes(path, {k: tuple(t.shape) for k, t in h.tensors.items()}, h.metadata.get(META_FAMILY))


def family_of_gligen(path: str | Path) -> str | None:
    """The family of a GLIGEN file, or None where it cannot be told (never raises)."""
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return _family(str(path), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _family(path: str, size: int, mtime_ns: int) -> str | None:
    try:
        return inspect_gligen(path).family
    except (ModelError, OSError, ValueError, RecursionError):
        return None


def _read(path: Path, allow_ckpt: bool) -> tuple[dict[str, Any], str | None]:
    """The GLIGEN tensors of a file or folder (other keys dropped) and the metadata family, if any."""
    from .weights import read_weights

    file = weights_file(path)
    meta = None
    if file.suffix.lower() not in PICKLE_SUFFIXES:
        from .safetensors_header import read_header

        meta = read_header(file).metadata.get(META_FAMILY)
    flat = read_weights(file, allow_ckpt=allow_ckpt)
    keep = {k: v for k, v in flat.items() if split_key(k) is not None or strip_prefix(k).startswith("position_net.")}
    return keep, meta


def load_gligen(path: Path, *, device: Any, dtype: Any, allow_ckpt: bool = False,
                progress: Progress | None = None) -> GLIGENModel:
    """Build a GLIGEN model (SD 1.x text-box grounding) from a file or diffusers folder."""
    import torch
    from diffusers.models.attention import GatedSelfAttentionDense
    from diffusers.models.embeddings import GLIGENTextBoundingboxProjection

    report = progress or (lambda fraction, text: None)
    path = Path(path)
    flat, meta = _read(path, allow_ckpt)
    info = info_from_shapes(path, {k: tuple(v.shape) for k, v in flat.items()}, meta)
    check_family(info)
    report(0.4, f"{path.name}: building {len(info.blocks)} gated layers")
    position = {strip_prefix(k).removeprefix("position_net."): v.float() for k, v in flat.items()
                if strip_prefix(k).startswith("position_net.")}
    out_dim = position["linears.4.weight"].shape[0]
    with torch.device("meta"):
        net = GLIGENTextBoundingboxProjection(positive_len=info.context_dim, out_dim=out_dim, feature_type="text-only")
    by_block: dict[str, dict[str, Any]] = {}
    for k, v in flat.items():
        split = split_key(k)
        if split is not None:
            by_block.setdefault(split[1], {})[split[2]] = v.float()
    fusers = []
    try:
        net.load_state_dict(position, strict=True, assign=True)
        for block, dim in zip(info.blocks, info.dims, strict=True):
            with torch.device("meta"):
                fuser = GatedSelfAttentionDense(dim, out_dim, FUSER_HEADS, dim // FUSER_HEADS)
            fuser.load_state_dict(by_block[block], strict=True, assign=True)
            fusers.append(fuser)
    except (RuntimeError, KeyError) as exc:
        raise ModelError(f"{path.name}: its weights do not fit the GLIGEN layout ({str(exc).splitlines()[0][:200]})"
                         ) from None
    model = torch.nn.ModuleDict({"position_net": net, "fusers": torch.nn.ModuleList(fusers)})
    torch.nn.Module.to(model, device=device, dtype=dtype)
    model.eval().requires_grad_(False)
    return GLIGENModel(info, model, str(path))


# --- phrases ----------------------------------------------------------------------------------------


def phrase_embedding(clip: TextEncoder, text: str) -> Any:
    """The phrase's pooled text embedding, (D,) float32 on the CPU: the first text encoder's
    ``pooler_output`` (the final layer's end-of-text token after the final norm, not projected), as
    diffusers' GLIGEN pipeline and ComfyUI's "unprojected" pooled output use. CLIP skip does not apply;
    the encoder's patches (LoRA) do."""
    import torch

    if clip.family != "sd15":
        raise NodeFailure(f"GLIGEN phrases need an SD 1.x CLIP; this one is {clip.family}")
    tok, enc = clip.tokenizers[0], clip.encoders[0]
    limit = int(getattr(enc.config, "max_position_embeddings", 77))
    ids = tok(text, truncation=True, max_length=limit, return_tensors="pt").input_ids
    device = next(enc.parameters()).device
    with torch.no_grad(), applied(clip, clip.patches):
        out = enc(ids.to(device))
    pooled = out.pooler_output if hasattr(out, "pooler_output") else out[1]
    return pooled[0].detach().float().cpu()


def add_box(cond: Conditioning, box: GligenBox) -> Conditioning:
    """``cond`` with ``box`` added to every entry (as ComfyUI's GLIGENTextBoxApply does)."""
    return cond.map_entries(lambda e: replace(e, gligen=(*e.gligen, box)))


# --- applying it to a UNet --------------------------------------------------------------------------


def _transformer_blocks(unet: Any) -> list[str]:
    """Module paths of the UNet's transformer blocks that have cross-attention (where GLIGEN goes)."""
    from diffusers.models.attention import BasicTransformerBlock

    return [name for name, m in unet.named_modules() if isinstance(m, BasicTransformerBlock) and m.attn2 is not None]


def block_paths(gligen: GLIGENModel, unet: Any) -> list[str]:
    """The UNet module path of each gated layer; ``NodeFailure`` when the GLIGEN model was made for a
    UNet of another shape."""
    what = Path(gligen.source).name or "this GLIGEN model"
    lpb = unet.config.layers_per_block
    if not isinstance(lpb, int):
        raise NodeFailure(f"{what} cannot be placed in a UNet with per-block layer counts {lpb}")
    try:
        paths = [diffusers_block(b, lpb) if gligen.info.layout == "original" else b for b in gligen.info.blocks]
    except ModelError as exc:
        raise NodeFailure(f"{what} was made for another model: {exc}") from None
    blocks = _transformer_blocks(unet)
    if sorted(paths) != sorted(blocks):
        raise NodeFailure(f"{what} has {len(paths)} gated layers for a UNet with {len(blocks)} transformer blocks "
                          f"at other places: it was made for another model")
    context = unet.config.cross_attention_dim
    if isinstance(context, int) and context != gligen.context_dim:
        raise NodeFailure(f"{what} reads phrase embeddings {gligen.context_dim} wide; this model's text "
                          f"context is {context} wide: it was made for another model family")
    for path, dim in zip(paths, gligen.info.dims, strict=True):
        width = unet.get_submodule(path).attn1.to_q.in_features
        if width != dim:
            raise NodeFailure(f"{what}: its gated layer for {path} is {dim} wide, this model's block {width}")
    return paths


@dataclass(frozen=True, eq=False)
class GligenPatch:
    """A ``ModelPatch``: the GLIGEN layers set on a UNet for the duration of a ``with`` block. ``modules``
    is the GLIGEN model's ModuleDict (or a copy of it on the UNet's device and dtype)."""

    gligen: GLIGENModel
    paths: tuple[str, ...]
    modules: Any

    @property
    def key(self) -> str:
        return f"gligen:{Path(self.gligen.source).name}"

    @contextmanager
    def applied(self, unet: Any) -> Iterator[None]:
        absent = object()
        targets = [unet.get_submodule(p) for p in self.paths]
        before = [getattr(t, "fuser", absent) for t in targets]
        net_before = getattr(unet, "position_net", absent)
        try:
            for target, fuser in zip(targets, self.modules["fusers"], strict=True):
                target.fuser = fuser
            unet.position_net = self.modules["position_net"]
            yield
        finally:
            for target, old in zip(targets, before, strict=True):
                _restore(target, "fuser", old, absent)
            _restore(unet, "position_net", net_before, absent)


def _restore(module: Any, name: str, old: Any, absent: object) -> None:
    if old is absent:
        if name in module._modules or hasattr(module, name):
            delattr(module, name)
    else:
        setattr(module, name, old)


class GroundedUNet:
    """The UNet as the denoiser calls it: a call that carries ``gligen`` kwargs runs with the GLIGEN
    layers set (``GligenPatch.applied``); every other call is the UNet's own. Attributes are the UNet's."""

    def __init__(self, unet: Any, patch: GligenPatch) -> None:
        self.unet = unet
        self.patch = patch

    def __getattr__(self, name: str) -> Any:
        unet = self.__dict__.get("unet")
        if unet is None:  # not yet initialised (a copy being made)
            raise AttributeError(name)
        return getattr(unet, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        extra = kwargs.get("cross_attention_kwargs") or {}
        if extra.get("gligen") is None:
            return self.unet(*args, **kwargs)
        with self.patch.applied(self.unet):
            return self.unet(*args, **kwargs)


@dataclass
class GligenStep:
    """A denoiser ``ConditioningPatch``: the object inputs of every model-batch row ((rows, 30, 4) boxes,
    (rows, 30, D) phrase embeddings, (rows, 30) masks), given while any object still grounds; an object
    grounds during the first ``int(β · total)`` evaluations of its box's β."""

    boxes: Any
    embeddings: Any
    masks: Any
    betas: list[list[float]]  # β of each object of each row (0 where there is none)
    _cache: tuple[int, int, Any] | None = None

    def masks_at(self, index: int, total: int) -> Any:
        """The masks of the objects that still ground at evaluation ``index`` of ``total``."""
        if self._cache is not None and self._cache[:2] == (index, total):
            return self._cache[2]
        import torch

        # diffusers' ``int(beta * len(timesteps))`` grounded evaluations, in Python floats as there.
        on = torch.tensor([[float(int(b * total) > index) for b in row] for row in self.betas])
        masks = self.masks * on.to(self.masks.device, self.masks.dtype)
        self._cache = (index, total, masks)
        return masks

    def __call__(self, inputs: Any, step: Any) -> Any:
        masks = self.masks_at(step.index, step.total)
        if not bool(masks.any()):
            return inputs  # nothing grounds any more: a plain evaluation
        kwargs = dict(inputs.cross_attention_kwargs or {})
        kwargs["gligen"] = {"boxes": self.boxes, "positive_embeddings": self.embeddings, "masks": masks}
        return replace(inputs, cross_attention_kwargs=kwargs)


def _module_on(gligen: GLIGENModel, device: Any, dtype: Any) -> Any:
    p = next(gligen.model.parameters())
    if p.device == device and p.dtype == dtype:
        return gligen.model
    return copy.deepcopy(gligen.model).to(device=device, dtype=dtype)


def grounding(unet: Any, positive: Conditioning, negative: Conditioning, *, batch: int, guided: bool, height: int,
              width: int) -> tuple[Any, list[GligenStep]]:
    """For ``build_denoiser``: the UNet to call and the conditioning patches for the GLIGEN boxes of the
    two halves (``unet`` and [] when neither has any). See the module docstring."""
    import torch

    halves: Sequence[tuple[GligenBox, ...]] = [negative.gligen if guided else (), positive.gligen]
    if not guided:
        halves = halves[1:]
    if not any(halves):
        return unet, []
    models = {id(b.gligen): b.gligen for half in halves for b in half}
    if len(models) > 1:
        raise NodeFailure("the boxes of one run use different GLIGEN models; use one GLIGEN loader for all of them")
    gligen = next(iter(models.values()))
    paths = block_paths(gligen, unet)
    device, dtype = unet.device, unet.dtype
    rows = len(halves) * batch
    boxes = torch.zeros(rows, MAX_OBJECTS, 4)
    embeds = torch.zeros(rows, MAX_OBJECTS, gligen.context_dim)
    masks = torch.zeros(rows, MAX_OBJECTS)
    betas = [[0.0] * MAX_OBJECTS for _ in range(rows)]
    for h, half in enumerate(halves):
        for i, box in enumerate(half[:MAX_OBJECTS]):
            emb = torch.as_tensor(box.embedding).float().reshape(-1)
            if emb.shape[0] != gligen.context_dim:
                raise NodeFailure(f"the phrase {box.phrase!r} was encoded {emb.shape[0]} wide; this GLIGEN model "
                                  f"reads {gligen.context_dim} (encode it with the model's SD 1.x CLIP)")
            r = slice(h * batch, (h + 1) * batch)
            boxes[r, i] = torch.tensor(box.xyxy(height, width))
            embeds[r, i] = emb
            masks[r, i] = 1.0
            for row in range(r.start, r.stop):
                betas[row][i] = float(box.beta)
    patch = GligenPatch(gligen, tuple(paths), _module_on(gligen, device, dtype))
    step = GligenStep(boxes.to(device, dtype), embeds.to(device, dtype), masks.to(device, dtype), betas)
    return GroundedUNet(unet, patch), [step]
