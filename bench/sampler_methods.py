"""``python -m bench sampler --methods``: what a step costs with each layout method, against a plain step.

In one run, on one model (the random full-size SD 1.5 by default), the sampler node runs a plain
text-to-image and, interleaved with it (``bench.timing.compare``), the same with each method:

- regional prompts: four prompts, each on a quarter of the image (Conditioning Area), combined;
- GLIGEN: four phrases with their boxes (GLIGEN text-box nodes chained on the prompt);
- layout guidance: two phrases of the prompt guided into boxes on every step.

Each method is one entry (``METHODS``): a function that builds its model and prompts from the plain ones
through the public node types (found in the registry by id or ComfyUI name, so the entries follow the
nodes' own defaults). A method whose node types or weights are not there is reported as not available.
SDXL's size and crop conditioning is left out: it only changes the time ids, which cost nothing per step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.timing import Pairs, compare

PROMPT = "a red brick cottage in a green valley, mountains, sunny day"
# Four regions: a prompt for each quarter of the image.
REGIONS = ("a red brick cottage", "a green valley with a river", "snowy mountains", "a blue sky with clouds")
# Boxes as fractions of the image (x, y, width, height), with their phrases (words of PROMPT for layout
# guidance, which steers the prompt's own tokens).
BOXES = (("red brick cottage", (0.1, 0.5, 0.4, 0.4)), ("mountains", (0.0, 0.0, 1.0, 0.4)),
         ("green valley", (0.5, 0.5, 0.5, 0.5)), ("sunny day", (0.6, 0.0, 0.4, 0.3)))


class Unavailable(Exception):
    """A method that cannot run here: its node types or its weights are missing."""


@dataclass(frozen=True)
class Base:
    """The plain run's inputs, and what an entry needs to build its variant."""

    model: Any  # UNetModel
    clip: Any  # TextEncoder
    positive: Any
    negative: Any
    size: int  # image pixels, square
    steps: int
    root: Path  # the models root
    make_ctx: Callable[[], Any]  # a NodeContext for calling node functions
    registry: Any
    guidance_iterations: int | None = None  # layout guidance's gradient steps per step (None: its default)
    random_size: str | None = None  # "full"/"tiny" when ``root`` holds the bench's random models

    def box_pixels(self, box: tuple[float, float, float, float]) -> dict[str, int]:
        """A fractional box in image pixels, snapped to the latent grid (8 px)."""
        def snap(v: float, least: int) -> int:
            return max(least, round(v * self.size / 8) * 8)

        x, y, w, h = box
        return {"x": snap(x, 0), "y": snap(y, 0), "width": snap(w, 8), "height": snap(h, 8)}


@dataclass(frozen=True)
class Variant:
    model: Any
    positive: Any
    negative: Any
    what: str  # how the method was set up, for the report


@dataclass(frozen=True)
class Method:
    name: str
    build: Callable[[Base], Variant]


def node_type(base: Base, *names: str) -> Any:
    """The first registered node type with one of ``names`` as its id or ComfyUI name."""
    for name in names:
        if name in base.registry:
            return base.registry[name]
    for nt in base.registry:
        if any(name in nt.aliases for name in names):
            return nt
    raise Unavailable(f"no node type {names[0]}")


def call(base: Base, nt: Any, **given: Any) -> Any:
    """``nt``'s function with ``given`` and its own defaults for every other parameter."""
    params = {i.name: i.default for i in nt.inputs if not i.wire and i.name not in given}
    unknown = set(given) - {i.name for i in nt.inputs}
    if unknown:
        raise Unavailable(f"{nt.id} has no input {sorted(unknown)[0]!r} (its inputs changed)")
    out = nt.fn(base.make_ctx(), **params, **given)
    return out[0] if isinstance(out, tuple) else out


def regional(base: Base) -> Variant:
    from studio.diffusion.prompts import encode_prompt

    area, combine = node_type(base, "conditioning.set_area"), node_type(base, "conditioning.combine")
    half = base.size // 2
    combined = None
    for i, text in enumerate(REGIONS):
        cond = call(base, area, conditioning=encode_prompt(base.clip, text), x=(i % 2) * half, y=(i // 2) * half,
                    width=half, height=half)
        combined = cond if combined is None else call(base, combine, conditioning_1=combined, conditioning_2=cond)
    return Variant(base.model, combined, base.negative, "4 prompts on the 4 quarters, combined")


def gligen(base: Base) -> Variant:
    loader = node_type(base, "GLIGENLoader")
    box = node_type(base, "GLIGENTextBoxApply")
    folder = base.root / "gligen"
    files = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if not files and base.random_size is not None:  # random models made before GLIGEN ones were: add them
        import torch

        from bench.make_gligen import write_gligen
        from bench.make_models import Made

        write_gligen(base.root, Made(), size=base.random_size, seed=0, dtype=torch.float16, families=("sd15",))
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise Unavailable(f"no GLIGEN weights in {folder}")
    file_param = next(i.name for i in loader.inputs if not i.wire)
    model = call(base, loader, **{file_param: files[0].relative_to(folder).as_posix()})
    wires = [i for i in box.inputs if i.wire]
    text_param = box.box.label if box.box is not None and box.box.label else "text"
    # every step grounded: the cost of a grounded step (by default only the first steps are)
    every = {"beta": 1.0} if any(i.name == "beta" for i in box.inputs) else {}
    cond = base.positive
    for phrase, frac in BOXES:
        given = {**_gligen_wires(wires, cond, base.clip, model), **base.box_pixels(frac), **every, text_param: phrase}
        cond = call(base, box, **given)
    return Variant(base.model, cond, base.negative, f"{len(BOXES)} phrases with boxes, every step grounded")


def _gligen_wires(wires: list[Any], cond: Any, clip: Any, model: Any) -> dict[str, Any]:
    """The text-box node's wire inputs by their kind: the conditioning, the CLIP and the GLIGEN model."""
    out = {}
    for w in wires:
        kind = str(w.type).upper()
        out[w.name] = cond if "CONDITIONING" in kind else clip if "CLIP" in kind else model
    return out


def layout_guidance(base: Base) -> Variant:
    nt = node_type(base, "guidance.layout")
    model = base.model
    phrases = [p for p in BOXES if p[0] in PROMPT][:2]
    iterations = base.guidance_iterations
    if iterations is None:
        iterations = next(i.default for i in nt.inputs if i.name == "iterations")
    for phrase, frac in phrases:
        model = call(base, nt, model=model, phrase=phrase, steps=base.steps, iterations=iterations,
                     **base.box_pixels(frac))
    return Variant(model, base.positive, base.negative,
                   f"{len(phrases)} phrases, every step guided, {iterations} gradient "
                   f"step{'s' if iterations != 1 else ''} per step")


METHODS: tuple[Method, ...] = (
    Method("regional prompts", regional),
    Method("GLIGEN", gligen),
    Method("layout guidance", layout_guidance),
)


@dataclass
class Outcome:
    method: Method
    variant: Variant | None = None
    why: str = ""  # not available: the reason


def build_all(base: Base, methods: tuple[Method, ...] | None = None) -> list[Outcome]:
    """Each method's variant, or why it is not available (its modules missing, say)."""
    outcomes = []
    for m in METHODS if methods is None else methods:
        try:
            outcomes.append(Outcome(m, m.build(base)))
        except (ImportError, Unavailable) as e:
            outcomes.append(Outcome(m, why=str(e) or type(e).__name__))
    return outcomes


def report(base: Base, run: Callable[[Any, Any, Any], Callable[[], None]], repeats: int, label: str,
           methods: tuple[Method, ...] | None = None) -> list[str]:
    """Time each available method against the plain step, interleaved; the report's lines.
    ``run(model, positive, negative)`` gives a function that samples once."""
    outcomes = build_all(base, methods)
    plain = run(base.model, base.positive, base.negative)
    candidates = {o.method.name: run(o.variant.model, o.variant.positive, o.variant.negative)
                  for o in outcomes if o.variant is not None}
    # each path runs once untimed first (allocator, lazily built layers)
    runs = compare(plain, candidates, repeats, warmup=True) if candidates else {}
    steps = base.steps
    lines = [label, f"{'plain step (reference)':<26}{_median_plain(runs, plain, repeats) / steps:9.3f} s/step"]
    for o in outcomes:
        if o.variant is None:
            lines.append(f"{o.method.name:<26}not available ({o.why})")
            continue
        p = runs[o.method.name]
        lines.append(f"{o.method.name:<26}{p.ours_s / steps:9.3f} s/step   {p.describe()}   {o.variant.what}")
    lines.append(f"{'SDXL size/crop prompts':<26}no cost per step (they change only the time ids)")
    return lines


def _median_plain(runs: dict[str, Pairs], plain: Callable[[], None], repeats: int) -> float:
    if runs:
        import statistics

        return statistics.median(t for p in runs.values() for t in p.reference)
    from bench.timing import best_of

    return best_of(plain, repeats)
