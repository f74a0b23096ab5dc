"""Training-free layout guidance: move the latent so that a phrase's cross-attention falls inside its box.

Backward guidance of Chen et al., "Training-Free Layout Control with Cross-Attention Guidance"
(arXiv 2304.03373), written from the paper's equations:

- At each of the first ``steps`` (K) steps of the schedule, before the ordinary step, the UNet is run
  on the current latent z_t with gradients on, and the cross-attention probabilities A (spatial
  position u × prompt token i) of a few layers are captured: the cross-attention of the **mid block**
  and of the **first up block that has cross-attention** (SD 1.x at 512 px: 8×8 and 16×16; SDXL at
  1024 px: both 32×32). These low-resolution layers carry the layout.
- For every box B with the prompt tokens T of its phrase, per layer (heads averaged):
  E = (1 − Σ_{u∈B} Σ_{i∈T} A_ui / Σ_u Σ_{i∈T} A_ui)². The energy is the **mean** over layers and boxes
  (the paper sums over boxes; the mean keeps one loss scale for SD 1.x's few layers and SDXL's many,
  and for any number of boxes).
- z_t ← z_t − η·σ_t²·∇E, ``iterations`` times, then the ordinary step on the moved latent. η is the
  loss scale (paper: 30) and σ_t the noise level in the x0 + σ·ε form. For schedulers that keep the
  sample as √ᾱ·x0 + √(1−ᾱ)·ε (ddim, DPM-Solver, UniPC, LCM) the same move in those units is
  η·σ_t²/(σ_t²+1)·∇E = η·(1−ᾱ_t)·∇E.

Plumbing: the guidance node returns a MODEL whose patches hold one ``LayoutGuidance`` (all boxes of a
chain of nodes). The sampler asks every patch with a ``step_hook`` method for a before-step hook
(``studio.diffusion.sampling.StepHooks``); ``LayoutGuidance.applied`` changes nothing, so the UNet is
untouched outside the guidance evaluations. The probabilities are read by forward pre-hooks on the chosen
``attn2`` modules, present only during a guidance evaluation and recording only in the thread running it,
with gradients on (another run sharing the cached UNet is not seen): the attention processors are never
replaced, so an IP-Adapter's processors, or any other, keep working inside the guidance evaluation, and
the ordinary evaluations are exactly those of plain sampling.

The phrase's positions come from the token ids that ``studio.diffusion.prompts.encode_prompt`` records
in ``Conditioning.extras`` ("token_ids": the first tokenizer's id at every embedding position, and
"tokenizer"; "other_token_ids" for encoders given their own prompt, searched after the first): the
phrase, tokenized alone, is found as a run of consecutive ids (every occurrence).
SDXL given two prompts (one per encoder) looks in the CLIP-L one first, then the CLIP-G one. A combined (regional)
positive conditioning is guided on its first entry, whose prompt must hold the phrases.

Cost: each guidance iteration is a forward and a backward pass of the UNet on the positive half of the
batch (no CFG batch, no ControlNet: the guidance evaluation is the plain model on the positive prompt,
with its IP-Adapter or GLIGEN patches), about three times a single-half forward, so a guided step with
5 iterations costs about 8 plain CFG steps. Memory: the backward pass needs the activations of that
whole forward, which plain sampling frees layer by layer. Counted for a batch of one in fp16 (on the
meta device, so an estimate): SD 1.5 at 512 px keeps about 0.8 GiB with fused attention (CUDA's SDPA),
3.5 GiB where attention runs as plain matrix products; SDXL at 1024 px 5.6 GiB and 16.5 GiB. The
captured probabilities themselves are small (0.1 MiB and 6 MiB).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from studio.core.context import NodeFailure

from .values import Conditioning, UNetModel

FAMILIES = ("sd15", "sdxl")
DEFAULT_LOSS_SCALE = 30.0
DEFAULT_ITERATIONS = 5
DEFAULT_STEPS = 10
TITLE = "Layout Guidance"


@dataclass(frozen=True)
class LayoutBox:
    """A phrase of the positive prompt and where it should go: x, y, width, height in image pixels.
    ``node`` names the node that set it, for error messages."""

    phrase: str
    x: int
    y: int
    width: int
    height: int
    node: str = TITLE


@dataclass(frozen=True, eq=False)
class LayoutGuidance:
    """The model patch of layout guidance: every box of a chain of guidance nodes, and the settings (the
    last node's): ``loss_scale`` η, gradient steps per sampling step, and K, the number of sampling steps
    (of the schedule that ``denoise`` keeps, from its first) that are guided."""

    boxes: tuple[LayoutBox, ...] = ()
    loss_scale: float = DEFAULT_LOSS_SCALE
    iterations: int = DEFAULT_ITERATIONS
    steps: int = DEFAULT_STEPS

    @property
    def key(self) -> str:
        boxes = ", ".join(f"{b.phrase!r}@{b.x},{b.y},{b.width}x{b.height}" for b in self.boxes)
        return f"layout_guidance:{self.loss_scale:g}:{self.iterations}x{self.steps}:{boxes}"

    def applied(self, module: Any) -> Any:
        return nullcontext()  # nothing changes the UNet between guidance evaluations

    def with_box(self, box: LayoutBox, *, loss_scale: float, iterations: int, steps: int) -> LayoutGuidance:
        return LayoutGuidance((*self.boxes, box), float(loss_scale), int(iterations), int(steps))

    def step_hook(self, *, model: UNetModel, positive: Conditioning, negative: Conditioning, scheduler: Any,
                  plan: Any, batch: int, height: int, width: int, check_cancel: Callable[[], None] | None = None
                  ) -> LayoutStep:
        """The before-step hook for one run over a latent batch of ``batch`` (``plan``: the sampler's
        ``Plan``; height, width: the image in pixels)."""
        from .denoiser import build_denoiser

        # Checked before the first step, so that a missing phrase or a box off the image fails at once.
        targets = [Target(b, phrase_positions(positive, b)) for b in self.boxes]
        for b in self.boxes:
            box_mask(b, height, width, max(1, height // 8), max(1, width // 8))
        denoiser = None
        if targets and self.iterations > 0 and self.steps > 0:
            entry = replace(positive.entries()[0], controls=(), area=None, mask=None)
            denoiser = build_denoiser(model, entry, entry, batch=batch, cfg=1.0, height=height, width=width)
        else:
            targets = []
        return LayoutStep(self, targets, denoiser, scheduler, guidance_layers(model.unet), plan.tail,
                          int(getattr(scheduler, "order", 1)), height, width, check_cancel)


@dataclass(frozen=True)
class Target:
    box: LayoutBox
    positions: tuple[int, ...]


def check_family(family: str, node: str = TITLE) -> None:
    if family not in FAMILIES:
        raise NodeFailure(f"{node}: layout guidance works with SD 1.x and SDXL models; MODEL[{family}] is "
                          "another family (its attention layers and loss scale were not tuned for it)")


# --- prompt tokens -----------------------------------------------------------------------------

def phrase_positions(cond: Conditioning, box: LayoutBox) -> tuple[int, ...]:
    """Embedding positions of every occurrence of ``box.phrase`` in the prompt of ``cond`` (its first
    entry), as a run of consecutive token ids."""
    extras = cond.entries()[0].extras
    ids, tokenizer = extras.get("token_ids"), extras.get("tokenizer")
    if ids is None or tokenizer is None:
        raise NodeFailure(f"{box.node}: the positive conditioning does not say which tokens it holds (it was not "
                          f"made by a text-encode node), so the phrase {box.phrase!r} cannot be found")
    wanted: list[int] = []
    found: list[int] = []
    # The first encoder's prompt, then the others' where they were given their own (SDXL's CLIP-G text).
    for prompt_ids, tok in ((ids, tokenizer), *extras.get("other_token_ids", ())):
        wanted = tok(box.phrase, add_special_tokens=False, truncation=False, verbose=False).input_ids
        found = find_runs(list(prompt_ids), list(wanted))
        if wanted and found:
            break
    if not wanted or not found:
        raise NodeFailure(f"{box.node}: the phrase {box.phrase!r} is not in the positive prompt; use words "
                          "exactly as the prompt writes them")
    return tuple(found)


def find_runs(ids: Sequence[int], wanted: Sequence[int]) -> list[int]:
    """Positions covered by every occurrence of ``wanted`` as a run inside ``ids``."""
    n = len(wanted)
    out: list[int] = []
    if n == 0:
        return out
    for i in range(len(ids) - n + 1):
        if list(ids[i:i + n]) == list(wanted):
            out.extend(range(i, i + n))
    return sorted(set(out))


# --- attention capture -------------------------------------------------------------------------

def guidance_layers(unet: Any) -> list[tuple[str, Any]]:
    """The cross-attention (``attn2``) modules of the mid block and of the first up block with
    cross-attention, by name."""
    names = [n for n, _ in unet.named_modules() if n.endswith(".attn2")]
    ups = sorted({int(n.split(".")[1]) for n in names if n.startswith("up_blocks.")})
    prefixes = ["mid_block."] + ([f"up_blocks.{ups[0]}."] if ups else [])
    chosen = [n for n in names if any(n.startswith(p) for p in prefixes)]
    return [(n, unet.get_submodule(n)) for n in chosen]


def attention_probs(attn: Any, hidden_states: Any, encoder_hidden_states: Any) -> Any:
    """Softmax(q·kᵀ·scale) of a diffusers ``Attention``, averaged over heads: (batch, queries, tokens),
    computed as its stock processors do (group norm, cross norm, upcasting)."""
    if hidden_states.ndim == 4:
        b, c, h, w = hidden_states.shape
        hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
    if attn.group_norm is not None:
        hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
    if encoder_hidden_states is None:
        encoder_hidden_states = hidden_states
    elif attn.norm_cross:
        encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
    query = attn.head_to_batch_dim(attn.to_q(hidden_states))
    key = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
    probs = attn.get_attention_scores(query, key, None)  # (batch·heads, queries, tokens)
    return probs.reshape(-1, attn.heads, probs.shape[1], probs.shape[2]).mean(dim=1)


@contextmanager
def captured(layers: Sequence[tuple[str, Any]]) -> Iterator[list[Any]]:
    """While open, every forward of the ``layers`` run with gradients on, in this thread, appends its
    attention probabilities (``attention_probs``) to the list yielded; the hooks are removed on exit
    (also on an error or a cancel)."""
    import threading

    import torch

    maps: list[Any] = []
    thread = threading.get_ident()

    def hook(module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if not torch.is_grad_enabled() or threading.get_ident() != thread:
            return  # an ordinary (no-grad) evaluation, or another run's, of the shared UNet
        hidden = args[0] if args else kwargs["hidden_states"]
        context = kwargs.get("encoder_hidden_states", args[1] if len(args) > 1 else None)
        maps.append(attention_probs(module, hidden, context))

    handles = []
    try:
        for _, module in layers:
            handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
        yield maps
    finally:
        for h in handles:
            h.remove()


def layer_grid(queries: int, height: int, width: int) -> tuple[int, int]:
    """(rows, cols) of a layer with ``queries`` positions for a latent of height×width: the latent halved
    (rounding up, as the UNet's stride-2 downsamplers do) until it has that many positions."""
    h, w = height, width
    while h * w > queries:
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    if h * w != queries:
        raise NodeFailure(f"an attention layer of {queries} positions does not fit a {width}×{height} latent")
    return h, w


def box_mask(box: LayoutBox, height: int, width: int, rows: int, cols: int) -> Any:
    """(rows·cols,) float mask of the grid cells inside ``box`` (image pixels of a height×width image);
    edges round to the nearest cell boundary, and a box covers at least one cell."""
    import torch

    def span(start: float, size: float, total: int, cells: int) -> tuple[int, int]:
        a = min(max(round(start / total * cells), 0), cells - 1)
        b = min(max(round((start + size) / total * cells), a + 1), cells)
        return a, b

    if box.width <= 0 or box.height <= 0 or box.x >= width or box.y >= height or box.x + box.width <= 0 \
            or box.y + box.height <= 0:
        raise NodeFailure(f"{box.node}: the box of {box.phrase!r} ({box.x}, {box.y}, {box.width}×{box.height}) "
                          f"lies outside the {width}×{height} image")
    r0, r1 = span(box.y, box.height, height, rows)
    c0, c1 = span(box.x, box.width, width, cols)
    mask = torch.zeros(rows, cols)
    mask[r0:r1, c0:c1] = 1.0
    return mask.reshape(-1)


def inside_fractions(maps: Sequence[Any], targets: Sequence[Target], height: int, width: int) -> Any:
    """(layers, boxes, batch): the share of each phrase's attention mass that lies inside its box."""
    import torch

    lh, lw = height // 8, width // 8
    rows = []
    for probs in maps:
        grid = layer_grid(probs.shape[1], lh, lw)
        per_box = []
        for target in targets:
            mask = box_mask(target.box, height, width, *grid).to(probs.device, torch.float32)
            mass = probs[:, :, list(target.positions)].float().sum(dim=-1)  # (batch, queries)
            per_box.append((mass * mask).sum(dim=-1) / mass.sum(dim=-1).clamp_min(1e-12))
        rows.append(torch.stack(per_box))
    return torch.stack(rows)


def energy(maps: Sequence[Any], targets: Sequence[Target], height: int, width: int) -> Any:
    """The paper's E = (1 − mass inside / total mass)², averaged over layers, boxes and the batch."""
    return ((1.0 - inside_fractions(maps, targets, height, width)) ** 2).mean()


# --- the step hook -----------------------------------------------------------------------------

@dataclass
class LayoutStep:
    """The before-step hook (see the module docstring). ``energies`` records E before each update, for
    tests and benchmarks."""

    guidance: LayoutGuidance
    targets: list[Target]
    denoiser: Any
    scheduler: Any
    layers: list[tuple[str, Any]]
    tail: int
    order: int
    height: int
    width: int
    check_cancel: Callable[[], None] | None = None
    energies: list[float] = field(default_factory=list)

    def active(self, index: int) -> bool:
        """Whether the evaluation at ``timesteps[index]`` is guided: one of the first K steps, and, for
        second-order samplers (heun, dpmpp_sde), the step's first evaluation (the corrector continues
        from the sample the scheduler stored, so moving its input would only skew it)."""
        if not self.targets or (index - self.tail) // self.order >= self.guidance.steps:
            return False
        return bool(getattr(self.scheduler, "state_in_first_order", True))

    def __call__(self, state: Any) -> None:
        if not self.active(state.index):
            return
        from .sampling import _noise_level, _variance_exploding

        sigma2 = _noise_level(self.scheduler, state.index) ** 2
        move = self.guidance.loss_scale * (sigma2 if _variance_exploding(self.scheduler) else sigma2 / (sigma2 + 1))
        latents = state.latents
        for _ in range(self.guidance.iterations):
            if self.check_cancel is not None:
                self.check_cancel()
            value, grad = self.gradient(latents, state.t, state.index)
            self.energies.append(value)
            latents = (latents - move * grad).detach()
        state.latents = latents

    def maps(self, latents: Any, t: Any, index: int) -> Any:
        """The attention maps of the guidance evaluation at ``latents`` (differentiable w.r.t. it when it
        requires grad), one per guidance layer."""
        import torch

        total = len(self.scheduler.timesteps) - self.tail
        with torch.enable_grad(), captured(self.layers) as maps:
            self.denoiser(self.scheduler.scale_model_input(latents, t), t, index - self.tail, total)
        return maps

    def gradient(self, latents: Any, t: Any, index: int) -> tuple[float, Any]:
        """(E, ∇E) at ``latents``, the batch evaluated on the positive prompt only."""
        import torch

        with torch.enable_grad():
            z = latents.detach().requires_grad_(True)
            e = energy(self.maps(z, t, index), self.targets, self.height, self.width)
            (grad,) = torch.autograd.grad(e, z)
        return float(e.detach()), grad.to(latents.dtype)

