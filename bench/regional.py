"""The cost of a sampling step with regional prompts, against a plain step in the same run.

``measure`` times the sampler on a plain prompt and, interleaved with it (``bench.timing.pair``), on the
same prompt combined with four area prompts, one per quarter of the image (what ComfyUI's area
composition does). Each quarter is evaluated on its own crop; the four crops have one size, so they
share one UNet call, and the whole frame (both CFG halves) takes another: about twice the UNet calls of
a plain step, on the same number of latent pixels plus one more image's worth.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.timing import pair


def quarters(positive: Any, width: int, height: int, texts: list[Any] | None = None) -> Any:
    """``positive`` over the whole image combined with four entries on its quarters (image pixels);
    ``texts`` (four conditionings) default to copies of ``positive``."""
    from studio.diffusion.values import Area, combine

    w, h = width // 16 * 8, height // 16 * 8
    entries = texts if texts is not None else [positive] * 4
    boxes = [(0, 0), (w, 0), (0, h), (w, h)]
    return combine(positive, *(replace(e.entries()[0], area=Area(x, y, w, h)) for e, (x, y) in zip(entries, boxes,
                                                                                                     strict=True)))


def measure(model: Any, positive: Any, negative: Any, latent: Any, *, steps: int = 2, repeats: int = 3,
            cfg: float = 7.0, sampler: str = "euler", scheduler: str = "normal", regional: Any = None) -> dict[str, Any]:
    """Seconds per step of a plain run and of a run with ``regional`` (default: ``quarters`` of the
    positive), timed in ``repeats`` interleaved pairs on ``model`` (a UNetModel) over ``latent`` (a
    Latent). Returns plain_step_s, regional_step_s (medians), ratio (median of the per-pair ratios),
    spread (text), unet_calls_per_step (regional) and pairs."""
    from studio.diffusion import sampling
    from studio.diffusion.regional import regional_denoiser
    from studio.diffusion.vae import SCALE

    _, _, lh, lw = latent.samples.shape
    if regional is None:
        regional = quarters(positive, lw * SCALE, lh * SCALE)
    def run(prompt: Any) -> None:
        sampling.sample(model, prompt, negative, latent, seed=1, steps=steps, cfg=cfg, sampler=sampler,
                        scheduler=scheduler)

    def plain() -> None:
        run(positive)

    def with_regions() -> None:
        run(regional)

    timed = pair(plain, with_regions, repeats, warmup=True)
    denoiser = regional_denoiser(model, regional, negative, batch=latent.samples.shape[0], cfg=cfg,
                                 height=lh * SCALE, width=lw * SCALE)
    return {"plain_step_s": timed.reference_s / steps, "regional_step_s": timed.ours_s / steps,
            "ratio": timed.ratio, "spread": timed.spread(), "unet_calls_per_step": len(denoiser._groups()),
            "pairs": timed}
