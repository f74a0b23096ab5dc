"""What one layout-guided sampling step costs against a plain one, in the same run.

``step_pairs`` times, in interleaved pairs (``bench.timing.pair``), a plain step (the CFG denoiser
evaluation the sampler makes) and a guided step (the layout-guidance hook's ``iterations`` forward and
backward passes on the positive half, then the same evaluation), on one model at one size. The scheduler
is never stepped, so every call times the first step of the schedule (the one guidance acts on).

``python -m bench.layout_guidance_bench [--size 256] [--iterations 5] [--pairs 5] [--device cpu]
[--models ROOT]`` prints the ratio for the random full-size SD 1.5 (``bench.make_models``) or the
checkpoint found under ``--models``. ``python -m bench sampler --methods`` reports the whole-run cost
next to the other layout methods.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.timing import Pairs, pair

PROMPT = "a cat and a dog on a sofa"


def step_pairs(model: Any, positive: Any, negative: Any, *, size: int, pairs: int = 5, iterations: int = 5,
               loss_scale: float = 30.0, cfg: float = 7.0, sampler: str = "euler") -> Pairs:
    """(plain step, guided step) seconds in ``pairs`` interleaved pairs: "cat" guided into the left half
    and "dog" into the right (both must be words of ``positive``'s prompt)."""
    import torch

    from studio.diffusion.denoiser import build_denoiser
    from studio.diffusion.layout_guidance import LayoutBox, LayoutGuidance
    from studio.diffusion.sampling import StepState, plan_steps
    from studio.diffusion.schedulers import make_scheduler

    unet = model.unet
    sched = make_scheduler(sampler, "normal", model.scheduler_config)
    sched.set_timesteps(20, device=unet.device)
    plan = plan_steps(sched, 20, 1.0)
    half = size // 2
    guidance = LayoutGuidance((LayoutBox("cat", 0, 0, half, size), LayoutBox("dog", half, 0, half, size)),
                              loss_scale, iterations, 1)
    with torch.no_grad():
        denoiser = build_denoiser(model, positive, negative, batch=1, cfg=cfg, height=size, width=size)
        hook = guidance.step_hook(model=model, positive=positive, negative=negative, scheduler=sched, plan=plan,
                                  batch=1, height=size, width=size)
    t = sched.timesteps[0]
    z = (torch.randn(1, 4, size // 8, size // 8, generator=torch.Generator().manual_seed(0))
         * sched.init_noise_sigma).to(unet.device, unet.dtype)

    def sync() -> None:
        if unet.device.type == "cuda":
            torch.cuda.synchronize()

    def plain() -> None:
        with torch.no_grad():
            denoiser(sched.scale_model_input(z, t), t, 0, len(sched.timesteps))
        sync()

    def guided() -> None:
        state = StepState(0, t, 1, len(sched.timesteps), z)
        with torch.no_grad():
            hook(state)
            denoiser(sched.scale_model_input(state.latents, t), t, 0, len(sched.timesteps))
        sync()

    return pair(plain, guided, pairs, warmup=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.layout_guidance_bench")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", help="a models root (default: random full-size SD 1.5)")
    args = ap.parse_args(argv)

    import torch

    from bench.make_models import ensure_models
    from studio.core.settings import Settings
    from studio.diffusion.model_manager import ModelManager
    from studio.diffusion.prompts import encode_prompt

    root = Path(args.models) if args.models else ensure_models("full", families=("sd15",))
    ckpt = next((root / "checkpoints").glob("*sd15*.safetensors"), None) or next((root / "checkpoints").iterdir())
    dtype = "fp32" if args.device == "cpu" else "fp16"
    mm = ModelManager(Settings(), device=args.device, dtype=dtype, cache_dir=False)
    unet, clip, _ = mm.load_checkpoint(ckpt)
    with torch.no_grad():
        pos, neg = encode_prompt(clip, PROMPT), encode_prompt(clip, "")
    p = step_pairs(unet, pos, neg, size=args.size, pairs=args.pairs, iterations=args.iterations)
    print(f"{ckpt.name} {args.size}x{args.size}, {args.device} {dtype}, {args.iterations} iterations, cfg 7; "
          f"ratio = guided step / plain step")
    print(f"plain step:  {p.reference_s:8.3f} s")
    print(f"guided step: {p.ours_s:8.3f} s   {p.describe()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
