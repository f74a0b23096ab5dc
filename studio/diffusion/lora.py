"""LoRA (and LyCORIS LoCon / LoHa / LoKr) weight patches.

A LoRA file is read once (``read_lora``, through the model manager, tensors kept on the CPU in the
file's dtype) into named layers. ``lora_targets`` places each layer on a module of the model it is
applied to, with diffusers' key conversion (``studio.diffusion.lora_keys``). ``LoraPatch`` is a
``ModelPatch``: while applied it adds ``strength · scale · ΔW`` to each target weight of the shared
module in place (ΔW computed in float32 on the weight's device, then cast to its dtype) and on exit
copies the original tensors back, so the cached base model is bit-identical afterwards.

Patching the weights in place costs one pass over the patched weights per run and nothing per step;
diffusers/PEFT's unfused adapters instead add two small matmuls to every patched layer at every
step. ``python -m bench lora`` measures both: on full-size SD 1.5 (fp32, 2-core CPU, 256², a rank-32
LoRA on the 128 attention projections) patching took 0.18 s per run and restoring 0.04 s, with the step
cost unchanged, while unfused adapters made every step about 3 % slower (more on a busy machine) and
would live inside the shared UNet; so the patch is applied in place.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError
from .lora_keys import PEFT_PAIRS, diffusers_modules, inspect_lora, kohya_modules

log = logging.getLogger(__name__)

# Tensor names inside one kohya/LyCORIS layer, and the kind of layer they make.
LORA_NAMES = {"lora_down.weight", "lora_up.weight", "lora_mid.weight", "alpha"}
LOHA_NAMES = {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "alpha"}
LOKR_NAMES = {"lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "alpha"}
FULL_NAMES = {"diff"}


@dataclass(frozen=True, eq=False)
class LoraLayer:
    """One layer's low-rank factors: ``kind`` is lora, loha, lokr or full; ``tensors`` by short name
    (``down``, ``up``, ``mid`` for LoRA; the LyCORIS names for LoHa / LoKr)."""

    kind: str
    tensors: Mapping[str, Any]
    alpha: float | None = None

    def delta(self, shape: Sequence[int], device: Any, strength: float = 1.0) -> Any:
        """``strength`` · ΔW for a weight of ``shape``, float32 on ``device``, scaled by alpha / rank."""
        import torch

        t = {k: v.to(device=device, dtype=torch.float32) for k, v in self.tensors.items()}
        if self.kind == "lora":
            down, up = t["down"], t["up"]
            rank = down.shape[0]
            if "mid" in t:  # LoCon with a Tucker core: 1×1 down, k×k core, 1×1 up
                d = torch.einsum("oa,abhw,bi->oihw", up.flatten(1), t["mid"], down.flatten(1))
            else:
                d = up.flatten(1) @ down.flatten(1)
        elif self.kind == "loha":
            rank = t["hada_w1_b"].shape[0]
            d = (t["hada_w1_a"] @ t["hada_w1_b"]) * (t["hada_w2_a"] @ t["hada_w2_b"])
        elif self.kind == "lokr":
            w1 = t["lokr_w1"] if "lokr_w1" in t else t["lokr_w1_a"] @ t["lokr_w1_b"]
            w2 = t["lokr_w2"] if "lokr_w2" in t else t["lokr_w2_a"] @ t["lokr_w2_b"]
            # LyCORIS scales by alpha / rank only where a factor is itself low-rank
            rank = t["lokr_w1_b"].shape[0] if "lokr_w1_b" in t else t["lokr_w2_b"].shape[0] if "lokr_w2_b" in t else 0
            if len(shape) == 4:  # a conv: the second factor carries the kernel
                w2 = w2.reshape(w2.shape[0], -1, *shape[2:])
                d = torch.kron(w1[:, :, None, None], w2)
            else:
                d = torch.kron(w1, w2)
        else:
            rank, d = 0, t["diff"].clone()  # scaled in place below: never the stored tensor
        scale = self.alpha / rank if self.alpha is not None and rank else 1.0
        if d.numel() != _numel(shape):
            raise ModelError(f"a LoRA layer of {tuple(d.shape)} does not fit a weight of {tuple(shape)}")
        return d.reshape(tuple(shape)).mul_(scale * strength)

    def low_rank(self, device: Any) -> tuple[Any, Any, float] | None:
        """(up, down, alpha / rank) as float32 2-D matrices on ``device`` for a plain LoRA layer (ΔW =
        scale · up @ down, reshaped), so the patch can add it with one fused multiply-add; None for
        the other kinds."""
        import torch

        if self.kind != "lora" or "mid" in self.tensors:
            return None
        down, up = (self.tensors[k].to(device=device, dtype=torch.float32) for k in ("down", "up"))
        rank = down.shape[0]
        return up.flatten(1), down.flatten(1), self.alpha / rank if self.alpha is not None else 1.0

    def fits(self, shape: Sequence[int]) -> bool:
        """Whether ΔW has the size of a weight of ``shape`` (checked from the factors' shapes only)."""
        t, fan_in = self.tensors, _numel(shape[1:])
        if self.kind == "lora":
            kernel = _numel(t["mid"].shape[2:]) if "mid" in t else 1
            return t["up"].shape[0] == shape[0] and _numel(t["down"].shape[1:]) * kernel == fan_in
        if self.kind == "loha":
            return t["hada_w1_a"].shape[0] == shape[0] and t["hada_w1_b"].shape[1] == fan_in
        if self.kind == "full":
            return _numel(t["diff"].shape) == _numel(shape)
        return True  # LoKr: the Kronecker factors' split is only known once multiplied

    @property
    def nbytes(self) -> int:
        return sum(v.numel() * v.element_size() for v in self.tensors.values())


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


@dataclass(frozen=True, eq=False)
class LoraFile:
    """A parsed LoRA file: its layers by their name in the file (kohya layer name, or the key of the
    down weight for the diffusers layout)."""

    path: Path
    layout: str
    family: str | None
    layers: Mapping[str, LoraLayer]
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(layer.nbytes for layer in self.layers.values())


def read_lora(path: str | Path) -> LoraFile:
    """Read a LoRA file's tensors (CPU, file dtype) into layers; ``ModelError`` naming the file and what
    it holds when the layout or a layer type is not supported."""
    from safetensors import safe_open

    info = inspect_lora(path)
    path = Path(path)
    with safe_open(str(path), framework="pt", device="cpu") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (safe_open is not a Mapping)
        metadata = dict(f.metadata() or {})
    layers = _kohya_layers(path, tensors) if info.layout == "kohya" else _diffusers_layers(path, tensors, metadata)
    return LoraFile(path, info.layout, info.family, layers, metadata)


def _kohya_layers(path: Path, tensors: Mapping[str, Any]) -> dict[str, LoraLayer]:
    groups: dict[str, dict[str, Any]] = {}
    for key, value in tensors.items():
        name, _, rest = key.partition(".")
        groups.setdefault(name, {})[rest] = value
    layers: dict[str, LoraLayer] = {}
    unsupported: dict[str, str] = {}
    for name, parts in groups.items():
        names = set(parts)
        alpha = float(parts["alpha"].float().item()) if "alpha" in parts else None
        if {"lora_down.weight", "lora_up.weight"} <= names and names <= LORA_NAMES:
            t = {"down": parts["lora_down.weight"], "up": parts["lora_up.weight"]}
            if "lora_mid.weight" in parts:
                t["mid"] = parts["lora_mid.weight"]
            layers[name] = LoraLayer("lora", t, alpha)
        elif names <= LOHA_NAMES and {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"} <= names:
            layers[name] = LoraLayer("loha", {k: v for k, v in parts.items() if k != "alpha"}, alpha)
        elif names <= LOKR_NAMES and _lokr_complete(names):
            layers[name] = LoraLayer("lokr", {k: v for k, v in parts.items() if k != "alpha"}, alpha)
        elif names <= FULL_NAMES | {"alpha"} and "diff" in names:
            layers[name] = LoraLayer("full", {"diff": parts["diff"]})
        else:
            unsupported[name] = ", ".join(sorted(names))
    if unsupported:
        kinds = sorted(set(unsupported.values()))
        raise ModelError(f"{path.name}: {len(unsupported)} of its {len(groups)} layers are of a kind this app does not "
                         f"apply (tensors {'; '.join(kinds[:3])}), e.g. {next(iter(unsupported))}. Supported: LoRA/LoCon "
                         "(lora_down/lora_up, lora_mid), LoHa (hada_w1/w2 a/b), LoKr (lokr_w1/w2, factorised or not)")
    return layers


def _lokr_complete(names: set[str]) -> bool:
    w1 = "lokr_w1" in names or {"lokr_w1_a", "lokr_w1_b"} <= names
    w2 = "lokr_w2" in names or {"lokr_w2_a", "lokr_w2_b"} <= names
    return w1 and w2


def _diffusers_layers(path: Path, tensors: Mapping[str, Any], metadata: Mapping[str, str]) -> dict[str, LoraLayer]:
    import json

    try:
        config = json.loads(metadata.get("lora_adapter_metadata", "") or "{}")
    except ValueError:
        config = {}
    layers: dict[str, LoraLayer] = {}
    used: set[str] = set()
    for key, value in tensors.items():
        pair = next(((d, u) for d, u in PEFT_PAIRS if key.endswith(d)), None)
        if pair is None:
            continue
        stem = key[: -len(pair[0])]
        up = tensors.get(stem + pair[1])
        if up is None:
            raise ModelError(f"{path.name}: layer {stem} has a down weight but no up weight")
        alpha = tensors.get(stem + ".alpha")
        layers[key] = LoraLayer("lora", {"down": value, "up": up},
                                float(alpha.item()) if alpha is not None else _peft_alpha(config, stem, value.shape[0]))
        used |= {key, stem + pair[1], stem + ".alpha"}
    rest = [k for k in tensors if k not in used]
    if rest:
        raise ModelError(f"{path.name}: {len(rest)} tensors are not LoRA down/up weights this app reads, "
                         f"e.g. {', '.join(rest[:3])}")
    return layers


def _peft_alpha(config: Mapping[str, Any], stem: str, rank: int) -> float | None:
    """lora_alpha from diffusers' saved adapter config (``unet.lora_alpha``, ``unet.alpha_pattern``);
    without one, PEFT's default scale of 1 (alpha = rank)."""
    part, _, module = stem.partition(".")
    patterns = config.get(f"{part}.alpha_pattern") or {}
    for pattern, value in patterns.items():
        if module == pattern or module.endswith("." + pattern):
            return float(value)
    alpha = config.get(f"{part}.lora_alpha")
    return float(alpha) if alpha is not None else None


# --- placing layers on modules --------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """Layers of one file by part (unet, text_encoder, text_encoder_2) and module path; ``unmatched``
    lists layer names that name no module of the model."""

    parts: Mapping[str, tuple[tuple[str, LoraLayer], ...]]
    unmatched: tuple[str, ...]
    misfits: tuple[str, ...] = ()  # layers whose size differs from their module's weight


def lora_targets(lora: LoraFile, roots: Mapping[str, Any], ignore: Collection[str] = ()) -> Targets:
    """Place each layer of ``lora`` on a module of ``roots`` (the UNet and text encoders by component
    name: unet, text_encoder, text_encoder_2). Layers of a part in ``ignore`` are left out quietly;
    any other layer that names no module is reported in ``unmatched``."""
    if lora.layout == "kohya":
        unet = roots.get("unet")
        names = kohya_modules(lora.layers, getattr(unet, "config", None) if unet is not None else None)
    else:
        names = diffusers_modules(lora.layers)
    parts: dict[str, list[tuple[str, LoraLayer]]] = {}
    unmatched: list[str] = []
    misfits: list[str] = []
    for layer_name, layer in lora.layers.items():
        part, module_path = names.get(layer_name, ("", ""))
        if part in ignore:
            continue
        root = roots.get(part)
        resolved = _module_path(root, module_path) if root is not None else None
        if root is None or resolved is None:
            unmatched.append(layer_name)
        elif not layer.fits(tuple(root.get_submodule(resolved).weight.shape)):
            misfits.append(layer_name)
        else:
            parts.setdefault(part, []).append((resolved, layer))
    return Targets({p: tuple(v) for p, v in parts.items()}, tuple(unmatched), tuple(misfits))


def _module_path(root: Any, path: str) -> str | None:
    """``path`` if ``root`` has a module with a weight there; transformers 5 flattened CLIPTextModel,
    so a ``text_model.`` prefix is tried without it as well."""
    candidates = [path] + ([path.removeprefix("text_model.")] if path.startswith("text_model.") else [])
    for p in candidates:
        try:
            m = root.get_submodule(p)
        except AttributeError:
            continue
        if getattr(m, "weight", None) is not None:
            return p
    return None


# --- the patch ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LoraPatch:
    """Adds a LoRA's deltas to a UNet (``part="unet"``; module = the UNet) or to text encoders
    (module = the TextEncoder value; ``encoder_index`` maps a part to ``encoders[i]``)."""

    name: str
    strength: float
    layers: Mapping[str, tuple[tuple[str, LoraLayer], ...]]  # part → ((module path, layer), …)
    encoder_index: Mapping[str, int] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"lora:{self.name}@{self.strength:g}:{','.join(sorted(self.layers))}"

    @contextmanager
    def applied(self, module: Any) -> Iterator[None]:
        import torch

        from .conversion_cache import wait_for_writes

        wait_for_writes()  # a first load's cache entries are these very tensors: written before they change
        backups: list[tuple[Any, Any]] = []
        narrow = False
        try:
            with torch.no_grad():
                for part, targets in self.layers.items():
                    root = self._root(module, part)
                    if root is None:
                        continue
                    for path, layer in targets:
                        w = root.get_submodule(path).weight
                        backups.append((w, w.detach().clone()))
                        narrow = narrow or w.element_size() == 1
                        fused = layer.low_rank(w.device) if w.dtype == torch.float32 and w.is_contiguous() else None
                        if fused is not None:  # one kernel: W += s · up @ down
                            up, down, scale = fused
                            w.view(w.shape[0], -1).addmm_(up, down, alpha=scale * self.strength)
                        elif w.dtype == torch.float32:
                            w.add_(layer.delta(w.shape, w.device, self.strength))
                        else:  # add in float32, round once
                            w.copy_(w.float().add_(layer.delta(w.shape, w.device, self.strength)))
            if narrow:
                log.warning("LoRA %s is added to fp8 weights, whose coarse steps blur a small change; "
                            "turn fp8 weights off in Preferences for its full effect", self.name)
            yield
        finally:
            with torch.no_grad():
                for w, saved in reversed(backups):
                    w.copy_(saved)

    def _root(self, module: Any, part: str) -> Any:
        if part == "unet":
            return None if hasattr(module, "encoders") else module
        encoders = getattr(module, "encoders", None)
        if encoders is None or part not in self.encoder_index:
            return None
        i = self.encoder_index[part]
        return encoders[i] if i < len(encoders) else None
