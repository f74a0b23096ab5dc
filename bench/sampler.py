"""Seconds per sampling step: diffusers' pipeline against our sampler node, same weights and settings.

Uses full-size random-weight SD1.5 models (built once outside the repository, see
``bench.make_models.ensure_models``). Prints, in one run: the fp32 reference pipeline, our node
with previews on and off, the preview function's own cost, and our bf16 CPU path where the CPU
supports bf16. ``--controlnet`` adds one ControlNet to both sides. Each of ours runs in interleaved
pairs with the reference, so the ratios (medians, with their spread) hold on a busy machine.
``--inpaint`` instead times our sampler on a latent with a noise mask against the same sampler on
the plain latent (the reference), so the ratio is what the per-step mask blending costs.
``--methods`` times a step with each layout method (regional prompts, GLIGEN, layout guidance) against
a plain step of the same sampler, interleaved in one run (``bench.sampler_methods``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.timing import Pairs, best_of, compare

PROMPT = "a red brick cottage in a green valley, mountains, sunny day"
NEGATIVE = "blurry, low quality"


def _ctx(services: Any, frames: list[Any]) -> Any:
    from studio.core.context import CancelToken, NodeContext

    def emit(kind: str, data: dict[str, Any]) -> None:
        if kind == "preview":
            frames.append(data["image"])

    return NodeContext(node_id="bench", title="Sampler", run_id=0, cancel=CancelToken(), emit=emit, services=services)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench sampler")
    ap.add_argument("--size", type=int, choices=(64, 256, 512), default=256, help="64: for the tiny models")
    ap.add_argument("--steps", type=int, help="default 4 (2 with --methods)")
    ap.add_argument("--repeats", "--pairs", dest="repeats", type=int,
                    help="interleaved (reference, ours) pairs per variant; default 5 (3 with --methods)")
    ap.add_argument("--controlnet", action="store_true")
    ap.add_argument("--inpaint", action="store_true", help="a noise-masked step against a plain one")
    ap.add_argument("--methods", action="store_true",
                    help="a step with regional prompts, GLIGEN and layout guidance against a plain one")
    ap.add_argument("--guidance-iterations", type=int,
                    help="with --methods: layout guidance's gradient steps per step (default: the node's)")
    ap.add_argument("--sampler", default="euler")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or mps")
    ap.add_argument("--models", help="a models root with full-size models (default: build random ones)")
    args = ap.parse_args(argv)
    args.steps = args.steps or (2 if args.methods else 4)
    args.repeats = args.repeats or (3 if args.methods else 5)

    import torch
    from diffusers import StableDiffusionControlNetPipeline, StableDiffusionPipeline

    from bench.make_models import ensure_models
    from studio.core.registry import default_registry
    from studio.core.services import RunServices
    from studio.core.settings import Settings
    from studio.diffusion.model_manager import ModelManager, cpu_has_bf16
    from studio.diffusion.previews import preview
    from studio.diffusion.prompts import encode_prompt
    from studio.diffusion.schedulers import make_scheduler
    from studio.diffusion.values import ControlSpec, Latent

    root = ensure_models("full", families=("sd15",)) if not args.models else Path(args.models)
    ckpt = next((root / "checkpoints").glob("*sd15*.safetensors"), None) or next((root / "checkpoints").iterdir())
    cn_file = next((root / "controlnet").glob("*sd15-canny.safetensors"), None)
    node = default_registry()["sample.sampler"]
    size, steps, seed, cfg = args.size, args.steps, 1234, 7.0
    fp16_gpu = args.device != "cpu"
    base_dtype = "fp16" if fp16_gpu else "fp32"
    hint = np.zeros((1, size, size, 3), np.float32)
    hint[:, size // 4: 3 * size // 4, size // 4: 3 * size // 4] = 1.0

    def setup(dtype: str) -> dict[str, Any]:
        # the models root among the folders, for the models a method's node loads by name (GLIGEN)
        mm = ModelManager(Settings(extra_model_roots=[str(root)]), device=args.device, dtype=dtype, cache_dir=False)
        unet, clip, vae = mm.load_checkpoint(ckpt)
        cn = mm.load_controlnet(cn_file) if args.controlnet and cn_file else None
        with torch.no_grad():
            pos, neg = encode_prompt(clip, PROMPT), encode_prompt(clip, NEGATIVE)
        if cn is not None:
            spec = ControlSpec(cn, hint, 1.0, 0.0, 1.0)
            pos, neg = pos.with_control(spec), neg.with_control(spec)
        return {"unet": unet, "clip": clip, "vae": vae, "cn": cn, "pos": pos, "neg": neg, "mm": mm}

    def ours(m: dict[str, Any], previews: bool, frames: list[Any], n: int = steps, *,
             masked: bool = False, denoise: float = 1.0) -> Callable[[], None]:
        services = RunServices(settings=Settings(preview="auto" if previews else "none"))
        samples = torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(1))
        mask = None
        if masked:  # a disc in the middle: repaint it, keep the rest
            yy, xx = np.mgrid[:size, :size]
            mask = torch.from_numpy(((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 4) ** 2)[None]).float()
        latent = Latent("sd15", samples, noise_mask=mask)

        def go() -> None:
            frames.clear()
            with torch.no_grad():
                node.fn(_ctx(services, frames), model=m["unet"], positive=m["pos"], negative=m["neg"], latent=latent,
                        seed=seed, steps=n, cfg=cfg, sampler=args.sampler, scheduler="normal", denoise=denoise)

        return go

    def reference(m: dict[str, Any], n: int = steps) -> Callable[[], None]:
        u, clip = m["unet"], m["clip"]
        common = dict(vae=m["vae"].vae, text_encoder=clip.encoders[0], tokenizer=clip.tokenizers[0], unet=u.unet,
                      scheduler=make_scheduler(args.sampler, "normal", u.scheduler_config), safety_checker=None,
                      feature_extractor=None, requires_safety_checker=False)
        extra: dict[str, Any] = {}
        pipe: Any
        if m["cn"] is not None:
            pipe = StableDiffusionControlNetPipeline(controlnet=m["cn"].model, **common)
            extra["image"] = torch.from_numpy(hint).permute(0, 3, 1, 2)
        else:
            pipe = StableDiffusionPipeline(**common)
        pipe.set_progress_bar_config(disable=True)

        def go() -> None:
            pipe(prompt_embeds=m["pos"].embeds, negative_prompt_embeds=m["neg"].embeds, num_inference_steps=n,
                 guidance_scale=cfg, height=size, width=size, output_type="latent",
                 generator=torch.Generator("cpu").manual_seed(seed), **extra)

        return go

    m = setup(base_dtype)
    if args.methods:
        return _methods_report(args, m, root, size, steps, cfg, seed, base_dtype)
    if args.inpaint:
        return _inpaint_report(args, m, ours, size, steps, cfg, base_dtype)
    frames: list[Any] = []
    candidates = {"on": ours(m, True, frames), "off": ours(m, False, [])}
    has_bf16 = not fp16_gpu and cpu_has_bf16()
    if has_bf16:
        mb = setup("bf16")  # both model sets stay loaded so that every pair runs under the same load
        candidates["bf16"] = ours(mb, True, [])
        ours(mb, True, [], 1)()
    reference(m, 1)()  # warm up both paths (allocator, kernels)
    ours(m, True, [], 1)()
    runs = compare(reference(m), candidates, args.repeats)
    ref_s = runs["on"].reference_s / steps

    def per_step(p: Pairs) -> str:
        return f"{p.ours_s / steps:8.3f} s/step   {p.describe()}"

    x0 = torch.randn(1, 4, size // 8, size // 8)
    prev_s = best_of(lambda: [preview(x0, "sd15") for _ in range(50)], 3) / 50
    off_s = runs["off"].ours_s / steps
    label = f"{size}x{size}, {steps} steps, {args.sampler}, cfg {cfg}{', 1 ControlNet' if args.controlnet else ''}, " \
            f"{args.device} {base_dtype}, torch threads {torch.get_num_threads()}; medians of {args.repeats} " \
            f"interleaved pairs, ratio = ours / reference"
    print(label)
    print(f"diffusers pipeline (reference): {ref_s:8.3f} s/step")
    print(f"our sampler node, previews on:  {per_step(runs['on'])}  (target <= 1.00)")
    print(f"our sampler node, previews off: {per_step(runs['off'])}")
    print(f"preview frames per run: {len(frames)} of {steps}; latent->RGB preview: {prev_s * 1e3:.3f} ms = "
          f"{100 * prev_s / off_s:.3f} % of a step (target <= 1 %); on/off difference "
          f"{100 * (runs['on'].ratio / runs['off'].ratio - 1):+.2f} %")
    if fp16_gpu:
        print(f"it/s: reference {1 / ref_s:.2f}, ours {steps / runs['on'].ours_s:.2f}")
    elif has_bf16:
        print(f"our sampler node, bf16 CPU:     {per_step(runs['bf16'])} vs fp32 reference (target <= 0.5)")
    else:
        print("bf16: this CPU does not report bf16 support; skipped")
    return 0


def _inpaint_report(args: Any, m: dict[str, Any], ours: Callable[..., Callable[[], None]], size: int,
                    steps: int, cfg: float, dtype: str) -> int:
    """An inpainting step (noise mask blended after every step) against a plain img2img step."""
    import torch

    plain, masked = ours(m, False, [], denoise=0.9), ours(m, False, [], masked=True, denoise=0.9)
    plain()  # warm up both paths
    masked()
    runs = compare(plain, {"masked": masked}, args.repeats)
    p = runs["masked"]
    print(f"{size}x{size}, {steps} steps, {args.sampler}, cfg {cfg}, {args.device} {dtype}, torch threads "
          f"{torch.get_num_threads()}; medians of {args.repeats} interleaved pairs, ratio = masked / plain")
    print(f"plain step (reference):   {p.reference_s / steps:8.3f} s/step")
    print(f"inpainting step (mask):   {p.ours_s / steps:8.3f} s/step   {p.describe()}  (target <= 1.05)")
    return 0


def _methods_report(args: Any, m: dict[str, Any], root: Path, size: int, steps: int, cfg: float, seed: int,
                    dtype: str) -> int:
    """Each layout method's step against a plain step (``bench.sampler_methods``)."""
    import torch

    from bench.sampler_methods import Base, report
    from studio.core.registry import default_registry
    from studio.core.services import RunServices
    from studio.core.settings import Settings
    from studio.diffusion.values import Latent

    registry = default_registry()
    node = registry["sample.sampler"]
    services = RunServices(settings=Settings(preview="none", extra_model_roots=[str(root)]),
                           models_provider=lambda: m["mm"])
    latent = Latent("sd15", torch.zeros(1, 4, size // 8, size // 8))

    def run(model: Any, positive: Any, negative: Any) -> Callable[[], None]:
        def go() -> None:  # no no_grad here: layout guidance takes gradients (the sampler turns them off)
            node.fn(_ctx(services, []), model=model, positive=positive, negative=negative, latent=latent,
                    seed=seed, steps=steps, cfg=cfg, sampler=args.sampler, scheduler="normal", denoise=1.0)

        return go

    base = Base(m["unet"], m["clip"], m["pos"], m["neg"], size, steps, root, lambda: _ctx(services, []), registry,
                guidance_iterations=args.guidance_iterations, random_size=None if args.models else "full")
    label = f"{size}x{size}, {steps} steps, {args.sampler}, cfg {cfg}, {args.device} {dtype}, torch threads " \
            f"{torch.get_num_threads()}; medians of {args.repeats} interleaved pairs, ratio = method / plain"
    for line in report(base, run, args.repeats, label):
        print(line)
    return 0
