"""Load checkpoints, VAEs and ControlNets into the wire values (``UNetModel``, ``TextEncoder``, ...)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from . import convert_process
from . import loaders as L
from .clip_tokenizer import tokenizers_for
from .conversion_cache import ConversionCache
from .errors import ModelError
from .families import SD2_TE, SD15_TE, SDXL_TE, ModelInfo, inspect_shapes, text_encoder_names
from .values import ControlNet, TextEncoder, UNetModel, VAEModel
from .weights import read_weights, shapes_of

Progress = Callable[[float, str], None]


Converter = Callable[[dict[str, Any]], dict[str, Any]]


class _Source:
    """A weights file read at most once, and only if some component is not in the conversion cache."""

    def __init__(self, kind: str, info: ModelInfo, dtype: torch.dtype, cache: ConversionCache,
                 allow_ckpt: bool) -> None:
        self.kind, self.info, self.dtype, self.cache, self.allow_ckpt = kind, info, dtype, cache, allow_ckpt
        self._weights: dict[str, Any] | None = None

    @property
    def weights(self) -> dict[str, Any]:
        if self._weights is None:
            self._weights = read_weights(self.info.path, allow_ckpt=self.allow_ckpt)
        return self._weights

    def components(self, converters: dict[str, Converter], progress: Progress) -> dict[str, dict[str, Any]]:
        """Each component in the working dtype: from the cache, else converted (in a child process
        when the file is large, see ``convert_process``) and cached."""
        keys = {name: self.cache.key(self.info.path, name, str(self.dtype)) for name in converters}
        out = {name: hit for name in converters if (hit := self.cache.get(keys[name])) is not None}
        missing = [name for name in converters if name not in out]
        folder = self.cache.folder
        if missing and folder is not None and self.cache.convert_in_child and self._out_of_process():
            progress(0.05, f"{self.info.path.name}: converting {', '.join(missing)} (once)")
            job = convert_process.ConvertJob(self.kind, self.info, self.dtype, self.allow_ckpt, folder,
                                             self.cache.max_bytes, {name: keys[name] for name in missing})
            if convert_process.run(job):
                out.update({name: hit for name in missing if (hit := self.cache.get(keys[name])) is not None})
        for name in converters:  # converting here; the cache entries are written in the background
            if name not in out:
                out[name] = self.convert(name, converters[name], keys[name], later=True)
        return {name: out[name] for name in converters}

    def convert(self, name: str, convert: Converter, key: str, *, later: bool = False) -> dict[str, Any]:
        out = L.cast(convert(self.weights), self.dtype)
        if not out:
            raise ModelError(f"{self.info.path.name} has no {name} weights")
        if later:
            self.cache.put_later(key, out)
        else:
            self.cache.put(key, out)
        return out

    def _out_of_process(self) -> bool:
        if not convert_process.available():
            return False
        try:
            return self.info.path.stat().st_size >= convert_process.MIN_BYTES
        except OSError:
            return False


def convert_into_cache(job: convert_process.ConvertJob) -> None:
    """The child's side of ``convert_process.run``: convert the job's components and cache them."""
    src = _Source(job.kind, job.info, job.dtype, ConversionCache(job.folder, job.max_bytes), job.allow_ckpt)
    converters = _converters(job.kind, job.info)
    for name, key in job.keys.items():
        src.convert(name, converters[name], key)


def _converters(kind: str, info: ModelInfo) -> dict[str, Converter]:
    if kind == "checkpoint":
        return _checkpoint_converters(info, L.checkpoint_configs(info))
    if kind == "vae":
        return _vae_converters(info, L.vae_config(info))
    if kind == "controlnet":
        return _controlnet_converters(info, L.controlnet_config(info))
    raise ValueError(f"no conversion for {kind}")


def inspect_pickle(path: Path, kind: str, allow_ckpt: bool) -> ModelInfo:
    """A pickle can only be identified once loaded (which ``read_weights`` refuses without opt-in)."""
    weights = read_weights(path, allow_ckpt=allow_ckpt)
    info = inspect_shapes(path, shapes_of(weights))
    if info.kind != kind:
        raise ModelError(f"{path.name} is a {info.what}, not a {kind}")
    return info


# --- checkpoints ------------------------------------------------------------------------------------


def load_checkpoint(info: ModelInfo, *, dtype: torch.dtype, device: torch.device, cache: ConversionCache,
                    allow_ckpt: bool, progress: Progress) -> tuple[UNetModel, TextEncoder, VAEModel]:
    from diffusers import AutoencoderKL, UNet2DConditionModel

    name, fam = info.path.name, str(info.family)
    if info.layout == "folder":
        cfg = _folder_configs(info)
        unet_w = _folder_weights(info.path / "unet", allow_ckpt)
        vae_w = _folder_weights(info.path / "vae", allow_ckpt)
        te_w = [_folder_weights(info.path / sub, allow_ckpt) for sub in _te_names(fam)]
        te_w = [L.fix_text_model_prefix(w, wrapped=L.make_clip(cfg[sub])[1]) for w, sub in zip(te_w, _te_names(fam),
                                                                                            strict=True)]
    else:
        cfg = L.checkpoint_configs(info)
        progress(0.05, f"{name}: reading weights")
        parts = _Source("checkpoint", info, dtype, cache, allow_ckpt).components(
            _checkpoint_converters(info, cfg), progress)
        unet_w, vae_w, te_w = parts["unet"], parts["vae"], [parts[sub] for sub in _te_names(fam)]
    progress(0.2, f"{name}: building UNet")
    unet = L.build(lambda: UNet2DConditionModel.from_config(cfg["unet"]), unet_w, dtype=dtype, device=device,
                   what=f"{name} (UNet)")
    progress(0.6, f"{name}: building text encoder")
    encoders = []
    for sub, w in zip(_te_names(fam), te_w, strict=True):
        make, _ = L.make_clip(cfg[sub])
        encoders.append(L.build(make, w, dtype=dtype, device=device, what=f"{name} ({sub.replace('_', ' ')})"))
    progress(0.85, f"{name}: building VAE")
    vae = L.build(lambda: AutoencoderKL.from_config(cfg["vae"]), vae_w, dtype=dtype, device=device,
                  what=f"{name} (VAE)")
    src_name = str(info.path)
    return (UNetModel(fam, unet, dict(cfg["scheduler"]), src_name),
            TextEncoder(fam, _tokenizers(fam), tuple(encoders), src_name),
            VAEModel(fam, vae, src_name))


def _checkpoint_converters(info: ModelInfo, cfg: dict[str, dict[str, Any]]) -> dict[str, Converter]:
    fam = str(info.family)
    convs: dict[str, Converter] = {"unet": lambda ck: L.convert_unet(ck, cfg["unet"]),
                                   "vae": lambda ck: L.convert_vae(ck, cfg["vae"])}
    for i, sub in enumerate(_te_names(fam)):
        convs[sub] = _te_converter(fam, i, cfg[sub])
    return convs


def _te_names(family: str) -> tuple[str, ...]:
    return text_encoder_names(family)


def _tokenizers(family: str) -> tuple[Any, ...]:
    # The refiner's one encoder is SDXL's second (OpenCLIP-G): its tokenizer is the base's second.
    return tokenizers_for("sdxl")[1:] if family == "sdxl_refiner" else tokenizers_for(family)


def _te_converter(family: str, index: int, config: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    wrapped = L.make_clip(config)[1]
    if family == "sdxl_refiner":  # OpenCLIP-G alone, as embedder 0
        return lambda ck: L.convert_open_clip(ck, SDXL_TE + "0.model.", config["hidden_size"], wrapped=wrapped)
    if family == "sd15":
        return lambda ck: L.convert_clip(_with_text_model(ck, SD15_TE), SD15_TE, wrapped=wrapped)
    if family == "sd2":
        return lambda ck: L.convert_open_clip(ck, SD2_TE, config["hidden_size"], wrapped=wrapped)
    if index == 0:
        prefix = SDXL_TE + "0.transformer."
        return lambda ck: L.convert_clip(_with_text_model(ck, prefix), prefix, wrapped=wrapped)
    return lambda ck: L.convert_open_clip(ck, SDXL_TE + "1.model.", config["hidden_size"], wrapped=wrapped)


def _with_text_model(ckpt: dict[str, Any], prefix: str) -> dict[str, Any]:
    """Some checkpoints store CLIP-L without ``text_model.`` after the prefix."""
    return {(prefix + "text_model." + k[len(prefix):] if k.startswith(prefix)
             and not k.startswith(prefix + "text_model.") else k): v for k, v in ckpt.items()}


def _folder_configs(info: ModelInfo) -> dict[str, dict[str, Any]]:
    p = info.path
    cfg = {"unet": L._json(p / "unet/config.json"), "vae": L._json(p / "vae/config.json"),
           "scheduler": L._json(p / "scheduler/scheduler_config.json")}
    for sub in _te_names(str(info.family)):
        cfg[sub] = L._json(p / sub / "config.json")
    return cfg


def _folder_weights(folder: Path, allow_ckpt: bool) -> dict[str, Any]:
    """The weights file of one diffusers component folder (plain, then fp16 variant, then pickle)."""
    for stem in ("diffusion_pytorch_model", "model"):
        for suffix in (".safetensors", ".fp16.safetensors", ".bin", ".fp16.bin"):
            f = folder / (stem + suffix)
            if f.is_file():
                return read_weights(f, allow_ckpt=allow_ckpt)
    raise ModelError(f"{folder.parent.name}: no weights file in {folder.name}/")


# --- VAE, ControlNet, TAESD ---------------------------------------------------------------------------


def load_vae(info: ModelInfo, *, dtype: torch.dtype, device: torch.device, cache: ConversionCache,
             allow_ckpt: bool, progress: Progress) -> VAEModel:
    from diffusers import AutoencoderKL

    if info.layout == "folder":
        cfg, w = L._json(info.path / "config.json"), _folder_weights(info.path, allow_ckpt)
    else:
        cfg = L.vae_config(info)
        w = _Source("vae", info, dtype, cache, allow_ckpt).components(_vae_converters(info, cfg), progress)["vae"]
    progress(0.5, f"{info.path.name}: building VAE")
    vae = L.build(lambda: AutoencoderKL.from_config(cfg), w, dtype=dtype, device=device, what=info.path.name)
    return VAEModel(info.family or "sd15", vae, str(info.path))


def _vae_converters(info: ModelInfo, cfg: dict[str, Any]) -> dict[str, Converter]:
    if info.layout == "original":
        return {"vae": lambda ck: L.convert_vae(ck, cfg)}
    return {"vae": lambda ck: {k.removeprefix("vae."): v for k, v in ck.items()}}


def _controlnet_converters(info: ModelInfo, base: dict[str, Any]) -> dict[str, Converter]:
    if info.layout == "original":
        return {"controlnet": lambda ck: L.convert_controlnet(ck, base)}
    return {"controlnet": lambda ck: ck}


def load_controlnet(info: ModelInfo, *, dtype: torch.dtype, device: torch.device, cache: ConversionCache,
                    allow_ckpt: bool, progress: Progress) -> ControlNet:
    from diffusers import ControlNetModel

    if info.layout == "folder":
        cfg, w = L._json(info.path / "config.json"), _folder_weights(info.path, allow_ckpt)
    else:
        base = L.controlnet_config(info)
        w = _Source("controlnet", info, dtype, cache, allow_ckpt).components(
            _controlnet_converters(info, base), progress)["controlnet"]
        cfg = base if "controlnet" in info.configs else L.fit_controlnet_config(base, w)
    progress(0.5, f"{info.path.name}: building ControlNet")
    model = L.build(lambda: ControlNetModel.from_config(cfg), w, dtype=dtype, device=device, what=info.path.name)
    return ControlNet(str(info.family), model, str(info.path))


def load_taesd(path: Path, family: str, *, dtype: torch.dtype, device: torch.device, cache: ConversionCache,
               allow_ckpt: bool, progress: Progress) -> VAEModel:
    """A diffusers ``AutoencoderTiny`` folder, or the original ``taesd*_decoder`` (+ encoder) files."""
    from diffusers import AutoencoderTiny

    if path.is_dir() and (path / "config.json").is_file():
        cfg, w = json.loads((path / "config.json").read_text(encoding="utf-8")), _folder_weights(path, allow_ckpt)
    else:
        cfg = L._json(L.CONFIGS / "taesd" / "config.json")
        w = {}
        for part in ("encoder", "decoder"):
            f = path.with_name(path.name.replace("decoder", part))
            if f.is_file():
                w.update({f"{part}.layers.{k}": v for k, v in read_weights(f, allow_ckpt=allow_ckpt).items()})
        if not any(k.startswith("encoder.") for k in w):  # decoder-only: previews never encode
            with L._empty_weights():
                enc = AutoencoderTiny.from_config(cfg).encoder.state_dict()
            w.update({f"encoder.{k}": torch.zeros(v.shape) for k, v in enc.items()})
    model = L.build(lambda: AutoencoderTiny.from_config(cfg), w, dtype=dtype, device=device, what=path.name)
    return VAEModel(family, model, str(path))
