"""LoRA costs on a full-size SD 1.5 model, in one run: loading the base checkpoint (the reference every
other time is a ratio of), reading and applying a LoRA the first time, changing its strength,
switching to another LoRA, restoring the base; and the UNet step cost with the LoRA patched in place
against the plain UNet. The same for diffusers/PEFT's unfused adapters (``load_lora_adapter`` +
``set_adapters``), the alternative to patching in place.

``--size tiny`` runs the same on the tiny test models (a quick smoke run; the numbers mean nothing).
Random LoRAs (``bench.make_lora``) are written next to the models the first time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.timing import time_once


def _ensure_loras(root: Path, size: str, unet: Any, clip: Any, rank: int) -> tuple[Path, Path]:
    """The kohya LoRA (at ``rank``) and the LoCon of ``bench.make_lora`` for this size, written from the
    loaded model's shapes if missing."""
    import torch

    from bench.make_lora import RANK, kohya_lora, write_loras
    from bench.make_models import TINY, real_configs

    loras = root / "loras"
    first, second = loras / f"{size}-sd15-lora.safetensors", loras / f"{size}-sd15-locon.safetensors"
    reference = {"unet": unet.unet.state_dict(), "text_encoder": clip.encoders[0].state_dict()}
    if not (first.exists() and second.exists()):
        made = SimpleNamespace(paths={}, reference={"checkpoint-sd15": reference})
        write_loras(root, made, size=size, seed=0, dtype=torch.float16, families=("sd15",))
    if rank != RANK:
        first = loras / f"{size}-sd15-lora-r{rank}.safetensors"
        if not first.exists():
            from safetensors.torch import save_file

            cfg = (TINY["sd15"] if size == "tiny" else real_configs("sd15"))["unet"]
            sd = kohya_lora(reference, "sd15", cfg, 1, dtype=torch.float16, rank=rank)
            save_file(sd, str(first), metadata={"latent_studio.family": "sd15"})
    return first, second


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench lora")
    ap.add_argument("--size", choices=("full", "tiny"), default="full", help="full-size SD 1.5, or the tiny test model")
    ap.add_argument("--pixels", type=int, default=None, help="image side for the step cost (default 256; tiny 64)")
    ap.add_argument("--repeats", type=int, default=3, help="UNet calls per median")
    ap.add_argument("--strength", type=float, default=0.8)
    ap.add_argument("--rank", type=int, default=32, help="rank of the LoRA applied (the LoCon switched to has 4)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", help="a models root holding {size}-sd15.safetensors (default: build random ones)")
    args = ap.parse_args(argv)

    import torch

    from bench.make_models import ensure_models
    from studio.core.settings import Settings
    from studio.diffusion.lora import LoraPatch, lora_targets
    from studio.diffusion.model_manager import ModelManager

    root = Path(args.models) if args.models else ensure_models(args.size, families=("sd15",))
    ckpt = root / "checkpoints" / f"{args.size}-sd15.safetensors"
    pixels = args.pixels or (64 if args.size == "tiny" else 256)
    import diffusers  # noqa: F401  (imported before timing: the load is what is measured)
    import transformers  # noqa: F401

    mm = ModelManager(Settings(), device=args.device, dtype="fp32", cache_dir=False)
    t_load = time_once(lambda: mm.load_checkpoint(ckpt))
    unet, clip, _vae = mm.load_checkpoint(ckpt)
    first, second = _ensure_loras(root, args.size, unet, clip, args.rank)
    net = unet.unet

    def patch_for(path: Path, strength: float) -> LoraPatch:
        targets = lora_targets(mm.load_lora(path), {"unet": net})
        return LoraPatch(path.name, strength, {"unet": targets.parts["unet"]})

    def apply_and_restore(make: Callable[[], LoraPatch]) -> tuple[float, float, float]:
        """(read + map, apply, restore) seconds."""
        t0 = time.perf_counter()
        patch = make()
        t1 = time.perf_counter()
        ctx = patch.applied(net)
        ctx.__enter__()
        t2 = time.perf_counter()
        ctx.__exit__(None, None, None)
        return t1 - t0, t2 - t1, time.perf_counter() - t2

    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, pixels // 8, pixels // 8, generator=g)
    ctx_emb = torch.randn(1, 77, net.config.cross_attention_dim, generator=g)

    def step() -> None:
        with torch.no_grad():
            net(x, 500, ctx_emb)

    with torch.no_grad():
        first_run = apply_and_restore(lambda: patch_for(first, args.strength))
        strength = apply_and_restore(lambda: patch_for(first, args.strength / 2))
        switch = apply_and_restore(lambda: patch_for(second, args.strength))
        step()  # warm up
        plain, patched = _pairs(step, patch_for(first, args.strength), net, args.repeats)
        peft = _peft(net, first, args.strength, step, args.repeats)

    n_layers = len(patch_for(first, 1.0).layers["unet"])

    def vs_load(s: float) -> str:
        return f"{s:8.3f} s  = {s / t_load:7.4f} x checkpoint load"

    print(f"{args.size} SD 1.5, {args.device} fp32, torch threads {torch.get_num_threads()}; LoRA: {first.name} "
          f"({n_layers} UNet layers, rank {args.rank}, kohya layout); step = one UNet call at {pixels}x{pixels}, median of {args.repeats}")
    print(f"load base checkpoint (reference):     {t_load:8.3f} s")
    print(f"LoRA, first run: read + map           {vs_load(first_run[0])}")
    print(f"LoRA, first run: patch weights        {vs_load(first_run[1])}")
    print(f"change strength (file cached): patch  {vs_load(strength[0] + strength[1])}")
    print(f"switch to the LoCon file: read + patch {vs_load(switch[0] + switch[1])}")
    print(f"restore base (copy back)              {vs_load(first_run[2])}")
    print(f"step, plain UNet:                     {statistics.median(plain):8.3f} s")
    print(f"step, LoRA patched in place:          {statistics.median(patched):8.3f} s  {_ratio(patched, plain)}")
    print(f"peft unfused adapter: load            {vs_load(peft['load'])}")
    print(f"peft unfused adapter: set strength    {vs_load(peft['set'])}")
    print(f"peft unfused adapter: unload          {vs_load(peft['unload'])}")
    print(f"step, peft unfused adapter:           {statistics.median(peft['on']):8.3f} s  "
          f"{_ratio(peft['on'], peft['off'])} (against its adapters disabled)")
    return 0


def _pairs(step: Callable[[], None], patch: Any, net: Any, repeats: int) -> tuple[list[float], list[float]]:
    """Interleaved (plain, patched) step times: each pair runs under the same machine load."""
    plain, patched = [], []
    for _ in range(repeats):
        plain.append(time_once(step))
        with patch.applied(net):
            patched.append(time_once(step))
    return plain, patched


def _ratio(ours: list[float], ref: list[float]) -> str:
    ratios = sorted(o / r for o, r in zip(ours, ref, strict=True))
    return f"ratio {statistics.median(ratios):.3f} (min-max {ratios[0]:.3f}-{ratios[-1]:.3f}, {len(ratios)} pairs)"


def _peft(net: Any, path: Path, strength: float, step: Callable[[], None], repeats: int) -> dict[str, Any]:
    """diffusers/PEFT's own way: inject unfused LoRA layers, weight them, unload them."""
    from diffusers.loaders.lora_pipeline import StableDiffusionLoraLoaderMixin

    out: dict[str, Any] = {"on": [], "off": []}
    t0 = time.perf_counter()
    sd, alphas = StableDiffusionLoraLoaderMixin.lora_state_dict(str(path))
    net.load_lora_adapter(sd, prefix="unet", network_alphas=alphas, adapter_name="bench")
    out["load"] = time.perf_counter() - t0
    out["set"] = time_once(lambda: net.set_adapters(["bench"], weights=[strength]))
    step()
    for _ in range(repeats):
        net.disable_adapters()
        out["off"].append(time_once(step))
        net.enable_adapters()
        out["on"].append(time_once(step))
    out["unload"] = time_once(net.unload_lora)
    return out


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
