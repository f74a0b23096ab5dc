"""Seconds per sampling step and load times: diffusers against our sampler with each speed option.

``python -m bench speed [--size tiny|full]`` times, in one interleaved run (reference, candidate,
candidate, reference, … so every pair shares the machine's load; medians with their spread):

- steps: diffusers' ``StableDiffusionPipeline`` in fp32 (the reference), the same pipeline with its
  own best CPU setting (bf16 weights), our sampler node in fp32, and ours with each option of
  ``studio.diffusion.speed`` (bf16 weights in both layouts, fp32 weights under bf16 autocast, fused
  QKV projections, fp8 weight storage, the compiled UNet). The compiled UNet's warm-up (its first
  call) is printed apart.
- loads: diffusers' ``from_single_file`` against our model manager with an empty conversion cache
  (cold: converted in this process, the cache written afterwards in the background, as on the
  command line; and converted in a child process, as in the window) and with a filled one (warm:
  what every start after the first pays).

``--device cuda`` times fp16 SD1.5 at 512² and SDXL at 1024² and prints it/s. ``--size tiny`` is a
quick smoke run on the tiny test models (its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.sampler import NEGATIVE, PROMPT, _ctx
from bench.timing import compare, time_once

TARGET_SPEEDUP = 1.2  # best option against diffusers' plain fp32 pipeline, on a CPU
TARGET_WARM_LOAD_S = 0.5
CPU_OPTIONS = ("diffusers-bf16", "fp32", "fp32-cl", "bf16", "bf16-nchw", "autocast", "fused-qkv", "fp8", "compile")
CUDA_OPTIONS = ("fp16", "fused-qkv", "fp8", "compile")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench speed", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=("tiny", "full"), default="full")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--res", type=int, help="image side in pixels (default: 256 full, 64 tiny on CPU; "
                                             "512 SD1.5 and 1024 SDXL on CUDA)")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--repeats", type=int, help="interleaved pairs per option (default 5; 3 tiny)")
    ap.add_argument("--load-repeats", type=int, help="pairs of load timings (default 3; 2 full; 0: skip)")
    ap.add_argument("--skip", default="", help="comma-separated options to leave out, e.g. compile,autocast")
    ap.add_argument("--models", help="a models root (default: random models built once)")
    ap.add_argument("--bf16", action="store_true", help="time the bf16 options even on a CPU without native bf16")
    args = ap.parse_args(argv)
    tiny = args.size == "tiny"
    args.repeats = args.repeats or (3 if tiny else 5)
    if args.load_repeats is None:
        args.load_repeats = 2 if not tiny else 3
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    with contextlib.suppress(AttributeError, ValueError):  # a long run: show each line as it comes
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    import torch

    from bench.make_models import ensure_models
    from studio.diffusion import speed

    cuda = args.device.startswith("cuda")
    families = ("sd15", "sdxl") if cuda else ("sd15",)
    root = Path(args.models) if args.models else ensure_models(args.size, families=families)
    threads = speed.apply_threads()
    print(f"torch {torch.__version__}, {args.device}, torch threads {threads} "
          f"({speed.physical_cores()} physical cores, {torch.get_num_threads()} in use)")
    work = Path(tempfile.mkdtemp(prefix="latent-studio-bench-speed-"))
    try:
        speed.enable_compile_cache()  # compiled graphs are kept where the studio keeps them
        if cuda:
            for fam, res in (("sd15", args.res or 512), ("sdxl", args.res or 1024)):
                _steps_report(args, root, fam, res, work, [o for o in CUDA_OPTIONS if o not in skip])
        else:
            _steps_report(args, root, "sd15", args.res or (64 if tiny else 256), work,
                          [o for o in CPU_OPTIONS if o not in skip])
        if args.load_repeats > 0:
            _load_report(args, root, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _checkpoint(root: Path, family: str) -> Path:
    folder = root / "checkpoints"
    return next(folder.glob(f"*-{family}.safetensors"), None) or next(folder.glob(f"*{family}*.safetensors"))


# --- steps ---------------------------------------------------------------------------------------------


def _manager(settings_kw: dict[str, Any], device: str, dtype: str, cache: Path, *, child: bool = False) -> Any:
    from studio.core.settings import Settings
    from studio.diffusion.model_manager import ModelManager

    return ModelManager(Settings(**settings_kw), device=device, dtype=dtype, cache_dir=cache, convert_in_child=child)


def _ours(args: Any, ckpt: Path, family: str, res: int, settings_kw: dict[str, Any], dtype: str, cache: Path,
          autocast: Any = None) -> tuple[Callable[[], None], Any]:
    """One sampler-node run of ``args.steps`` steps on a model loaded with ``settings_kw``."""
    import torch

    from studio.core.registry import default_registry
    from studio.core.services import RunServices
    from studio.core.settings import Settings
    from studio.diffusion.prompts import encode_prompt
    from studio.diffusion.values import Latent

    unet, clip, _vae = _manager(settings_kw, args.device, dtype, cache).load_checkpoint(ckpt)
    with torch.no_grad():
        pos, neg = encode_prompt(clip, PROMPT), encode_prompt(clip, NEGATIVE)
    node = default_registry()["sample.sampler"]
    services = RunServices(settings=Settings(preview="none"))
    latent = Latent(family, torch.randn(1, 4, res // 8, res // 8, generator=torch.Generator().manual_seed(1)))

    def go() -> None:
        ctx = autocast() if autocast is not None else contextlib.nullcontext()
        with torch.no_grad(), ctx:
            node.fn(_ctx(services, []), model=unet, positive=pos, negative=neg, latent=latent, seed=1234,
                    steps=args.steps, cfg=7.0, sampler="euler", scheduler="normal", denoise=1.0)

    return go, unet


def _reference(args: Any, ckpt: Path, family: str, res: int, dtype: str, cache: Path) -> Callable[[], None]:
    """diffusers' own pipeline over the same weights (loaded by us in ``dtype``, eager, no options)."""
    import torch
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    from studio.diffusion.prompts import encode_prompt
    from studio.diffusion.schedulers import make_scheduler

    kw = {"channels_last": "off", "compile_models": "off", "fuse_qkv": False}
    unet, clip, vae = _manager(kw, args.device, dtype, cache).load_checkpoint(ckpt)
    with torch.no_grad():
        pos, neg = encode_prompt(clip, PROMPT), encode_prompt(clip, NEGATIVE)
    sched = make_scheduler("euler", "normal", unet.scheduler_config)
    extra: dict[str, Any] = {}
    pipe: Any
    if family == "sdxl":
        pipe = StableDiffusionXLPipeline(vae=vae.vae, text_encoder=clip.encoders[0], text_encoder_2=clip.encoders[1],
                                         tokenizer=clip.tokenizers[0], tokenizer_2=clip.tokenizers[1], unet=unet.unet,
                                         scheduler=sched)
        extra = {"pooled_prompt_embeds": pos.pooled, "negative_pooled_prompt_embeds": neg.pooled}
    else:
        pipe = StableDiffusionPipeline(vae=vae.vae, text_encoder=clip.encoders[0], tokenizer=clip.tokenizers[0],
                                       unet=unet.unet, scheduler=sched, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)

    def go() -> None:
        with torch.no_grad():
            pipe(prompt_embeds=pos.embeds, negative_prompt_embeds=neg.embeds, num_inference_steps=args.steps,
                 guidance_scale=7.0, height=res, width=res, output_type="latent",
                 generator=torch.Generator("cpu").manual_seed(1234), **extra)

    return go


def _steps_report(args: Any, root: Path, family: str, res: int, work: Path, options: list[str]) -> None:
    import torch

    from studio.diffusion.model_manager import cpu_has_bf16
    from studio.diffusion.speed import CompiledForward

    cuda = args.device.startswith("cuda")
    ckpt = _checkpoint(root, family)
    cache = work / "converted"  # converted once here; every variant maps the same files
    base = "fp16" if cuda else "fp32"
    bf16 = not cuda and (cpu_has_bf16() or args.bf16)
    if not cuda and not bf16:
        options = [o for o in options if o not in ("diffusers-bf16", "bf16", "bf16-nchw", "autocast")]
        print("bf16: this CPU does not report native bf16 support; bf16 options skipped (--bf16 times them)")
    fast = base if cuda else ("bf16" if bf16 else "fp32")  # the dtype the options build on
    plain = {"channels_last": "off", "compile_models": "off", "fuse_qkv": False}
    reference = _reference(args, ckpt, family, res, base, cache)
    candidates: dict[str, Callable[[], None]] = {}
    labels: dict[str, str] = {}
    warmups: dict[str, float] = {}
    for opt in options:
        gc.collect()
        if opt == "diffusers-bf16":
            candidates[opt] = _reference(args, ckpt, family, res, "bf16", cache)
            labels[opt] = "diffusers pipeline, bf16"
        elif opt in ("fp32", "fp16"):
            candidates[opt], _ = _ours(args, ckpt, family, res, plain, base, cache)
            labels[opt] = f"ours, {base} eager"
        elif opt == "fp32-cl":
            candidates[opt], _ = _ours(args, ckpt, family, res, {**plain, "channels_last": "on"}, "fp32", cache)
            labels[opt] = "ours, fp32, channels-last"
        elif opt == "bf16":
            candidates[opt], _ = _ours(args, ckpt, family, res, {**plain, "channels_last": "on"}, "bf16", cache)
            labels[opt] = "ours, bf16 weights, channels-last"
        elif opt == "bf16-nchw":
            candidates[opt], _ = _ours(args, ckpt, family, res, plain, "bf16", cache)
            labels[opt] = "ours, bf16 weights, default layout"
        elif opt == "autocast":
            candidates[opt], _ = _ours(args, ckpt, family, res, plain, "fp32", cache,
                                       autocast=lambda: torch.autocast("cpu", dtype=torch.bfloat16))
            labels[opt] = "ours, fp32 weights + bf16 autocast"
        elif opt == "fused-qkv":
            candidates[opt], _ = _ours(args, ckpt, family, res, {"fuse_qkv": True, "compile_models": "off"}, fast,
                                       cache)
            labels[opt] = f"ours, {fast}, fused QKV (layout by probe)"
        elif opt == "fp8":
            candidates[opt], unet = _ours(args, ckpt, family, res, {"fp8_weights": True, "compile_models": "off"},
                                          fast, cache)
            labels[opt] = f"ours, fp8 weights, {fast} compute"
            mib = sum(p.nbytes for p in unet.unet.parameters()) / 2**20
            print(f"fp8 weights: the UNet holds {mib:.0f} MiB of weights")
        elif opt == "compile":
            go, unet = _ours(args, ckpt, family, res, {"compile_models": "on"}, fast, cache)
            warmups[opt] = time_once(go)  # the first run compiles (or reads the compile cache)
            fwd = unet.unet.__dict__.get("forward")
            if not (isinstance(fwd, CompiledForward) and fwd.active):
                print("compile: compiling failed; the compiled option runs eagerly (see the log)")
            candidates[opt], labels[opt] = go, f"ours, {fast}, torch.compile (layout by probe)"
    runs = compare(reference, candidates, args.repeats, warmup=True)
    # every reference run of the whole interleaved sequence (the per-option ratios use their own pairs)
    ref_all = [t for p in runs.values() for t in p.reference] or [time_once(reference)]
    ref_s = statistics.median(ref_all) / args.steps
    print(f"\n{family} {res}x{res}, {args.steps} steps, euler, cfg 7, {args.device}; medians of {args.repeats} "
          f"interleaved pairs; ratio = option / reference (below 1: faster)")
    print(f"  {'diffusers pipeline, ' + base + ' (reference)':46s} {ref_s:8.3f} s/step"
          + (f"  {1 / ref_s:7.2f} it/s" if cuda else ""))
    for name, p in runs.items():
        step = p.ours_s / args.steps
        print(f"  {labels[name]:46s} {step:8.3f} s/step" + (f"  {1 / step:7.2f} it/s" if cuda else "")
              + f"   {p.describe()}")
    for name, s in warmups.items():
        print(f"  {labels[name]}: first run (compiling, or reading the compile cache) {s:.1f} s")
    ours = {n: p for n, p in runs.items() if not n.startswith("diffusers")}
    if ours and not cuda:
        best = min(ours, key=lambda n: ours[n].ratio)
        speedup = 1 / ours[best].ratio
        verdict = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
        print(f"  best of ours: {labels[best]}: {speedup:.2f}x diffusers' plain pipeline "
              f"(target >= {TARGET_SPEEDUP:.2f}x: {verdict})")
        if "diffusers-bf16" in runs:
            print(f"  against diffusers' bf16 pipeline: {runs['diffusers-bf16'].ratio / ours[best].ratio:.2f}x")


# --- loading -------------------------------------------------------------------------------------------


def _config_folder(ckpt: Path, folder: Path) -> Path:
    """A diffusers config folder for ``from_single_file`` with no network: the configs our loader uses."""
    from studio.diffusion import loaders as L
    from studio.diffusion.clip_tokenizer import tokenizers_for
    from studio.diffusion.families import inspect

    info = inspect(ckpt)
    cfg = L.checkpoint_configs(info)
    (folder / "scheduler").mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text((L.CONFIGS / "sd15" / "model_index.json").read_text())
    for sub in ("unet", "vae", "text_encoder"):
        (folder / sub).mkdir(exist_ok=True)
        (folder / sub / "config.json").write_text(json.dumps(cfg[sub]))
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(cfg["scheduler"]))
    tokenizers_for("sd15")[0].save_pretrained(folder / "tokenizer")
    return folder


def _load_report(args: Any, root: Path, work: Path) -> None:
    import torch
    from diffusers import StableDiffusionPipeline

    from studio.diffusion import speed
    from studio.diffusion.conversion_cache import wait_for_writes

    ckpt = _checkpoint(root, "sd15")
    config = _config_folder(ckpt, work / "sd15-config")
    warm_cache = work / "load-warm"
    cold_folders: list[Path] = []

    def diffusers_load() -> None:
        StableDiffusionPipeline.from_single_file(str(ckpt), config=str(config), local_files_only=True,
                                                 safety_checker=None, requires_safety_checker=False,
                                                 torch_dtype=torch.float32)
        gc.collect()

    def ours(cache: Callable[[], Path], layout: str = "auto", child: bool = False) -> Callable[[], None]:
        def go() -> None:
            _manager({"compile_models": "off", "channels_last": layout}, "cpu", "fp32", cache(),
                     child=child).load_checkpoint(ckpt)
            gc.collect()

        return go

    writes: list[float] = []

    def settle() -> None:  # a cold load's cache entries are written after it returns: not over the next timing
        t = time_once(wait_for_writes)
        if t > 0.01:
            writes.append(t)

    def cold_cache() -> Path:
        for old in cold_folders:  # keep the disk use flat: one cold cache at a time
            shutil.rmtree(old, ignore_errors=True)
        cold_folders.append(work / f"load-cold-{len(cold_folders)}")
        return cold_folders[-1]

    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()
    ours(lambda: warm_cache)()  # fill the warm cache once
    wait_for_writes()
    runs = compare(diffusers_load, {"cold": ours(cold_cache), "cold-child": ours(cold_cache, child=True),
                                    "warm": ours(lambda: warm_cache),
                                    "warm-nchw": ours(lambda: warm_cache, "off")}, args.load_repeats, warmup=False,
                   settle=settle)
    ref = runs["cold"].reference_s
    print(f"\nloading {ckpt.name} (fp32, CPU; page cache warm); medians of {args.load_repeats} interleaved pairs")
    print(f"  {'diffusers from_single_file (reference)':46s} {ref:8.3f} s")
    cold, warm = runs["cold"], runs["warm"]
    print(f"  {'ours, empty conversion cache (cold)':46s} {cold.ours_s:8.3f} s   {cold.describe()}  "
          f"(target <= 1.00: {'met' if cold.ratio <= 1.0 else 'NOT met'})")
    child = runs["cold-child"]
    print(f"  {'ours, cold, converting in a child (the window)':46s} {child.ours_s:8.3f} s   {child.describe()}")
    if writes:
        print(f"  {'  then, in the background: writing the cache':46s} {statistics.median(writes):8.3f} s   "
              "(not timed above; the child writes before the window maps its files)")
    print(f"  {'ours, filled conversion cache (warm)':46s} {warm.ours_s:8.3f} s   {warm.describe()}  "
          f"(target <= {TARGET_WARM_LOAD_S:.1f} s: {'met' if warm.ours_s <= TARGET_WARM_LOAD_S else 'NOT met'})")
    plain = runs["warm-nchw"]
    layout = "yes" if speed.use_channels_last(speed.SpeedOptions(), torch.device("cpu"), torch.float32) else "no"
    print(f"  {'ours, warm, default layout (no channels-last)':46s} {plain.ours_s:8.3f} s   {plain.describe()}  "
          f"(channels-last by default here: {layout})")
