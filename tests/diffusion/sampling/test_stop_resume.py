"""Stop and resume: start_step, end_step, add_noise and return_leftover_noise (a run split in two)."""

from __future__ import annotations

import pytest
import torch

from studio.diffusion import prompts, sampling
from studio.diffusion.values import Latent

TOL = 1e-4
SEED = 77
STEPS = 6


def _conds(ns):
    return prompts.encode_prompt(ns.clip, "a photo of a red cat"), prompts.encode_prompt(ns.clip, "blurry")


def _run(ns, latent, **kw) -> Latent:
    pos, neg = _conds(ns)
    args = dict(seed=SEED, steps=STEPS, cfg=6.0, sampler="euler", scheduler="normal")
    args.update(kw)
    return sampling.sample(ns.model, pos, neg, latent, **args)


def _split(ns, latent, k, **kw) -> Latent:
    first = _run(ns, latent, end_step=k, return_leftover_noise=True, **kw)
    return _run(ns, first, start_step=k, add_noise=False, **kw)


def _init() -> torch.Tensor:
    return torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(9))


def _mask() -> torch.Tensor:
    m = torch.zeros((1, 64, 64))
    m[:, 8:40, 16:56] = 1.0
    return m


def _diff(a, b) -> float:
    return float((a - b).abs().max())


# Samplers whose step depends only on the current sample (dpmpp_sde: its Brownian noise depends only
# on the seed and the noise levels) continue exactly where they stopped.
EXACT = ["euler", "heun", "ddim", "dpmpp_sde"]


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("denoise", [1.0, 0.7])
@pytest.mark.parametrize("sampler", EXACT)
def test_a_split_run_equals_the_uninterrupted_run(sd15, sampler, denoise, k):
    latent = Latent("sd15", _init())
    whole = _run(sd15, latent, sampler=sampler, denoise=denoise).samples
    split = _split(sd15, latent, k, sampler=sampler, denoise=denoise).samples
    assert _diff(split, whole) <= TOL
    # The first half really stopped short of the finished latent.
    half = _run(sd15, latent, sampler=sampler, denoise=denoise, end_step=k, return_leftover_noise=True).samples
    assert _diff(half, whole) > 1e-2


@pytest.mark.parametrize("sampler", ["euler", "heun", "ddim"])
def test_a_split_masked_run_equals_the_uninterrupted_run(sd15, sampler):
    latent = Latent("sd15", _init(), noise_mask=_mask())
    for denoise in (1.0, 0.7):
        whole = _run(sd15, latent, sampler=sampler, denoise=denoise).samples
        first = _run(sd15, latent, sampler=sampler, denoise=denoise, end_step=2, return_leftover_noise=True)
        assert first.kept is not None and first.noise_mask is latent.noise_mask
        split = _run(sd15, first, sampler=sampler, denoise=denoise, start_step=2, add_noise=False).samples
        assert _diff(split, whole) <= TOL


# (sampler, bound on the difference as a fraction of the largest |value| of the uninterrupted result).
# Multistep solvers lose their history at the split: the first step after it is first-order.
# Ancestral and SDE samplers (and LCM) draw fresh noise after the split from a generator that the first
# half advanced in the uninterrupted run, so the rest of the run sees other noise.
BOUNDED = [("dpmpp_2m", 0.1), ("uni_pc", 0.1), ("euler_ancestral", 0.5), ("dpmpp_2m_sde", 0.5), ("lcm", 0.5)]


@pytest.mark.parametrize(("sampler", "bound"), BOUNDED, ids=[s for s, _ in BOUNDED])
def test_a_split_run_of_other_samplers_differs_within_a_bound(sd15, sampler, bound):
    latent = Latent("sd15", _init())
    whole = _run(sd15, latent, sampler=sampler).samples
    for k in (1, 3):
        split = _split(sd15, latent, k, sampler=sampler).samples
        assert torch.isfinite(split).all()
        assert _diff(split, whole) <= bound * float(whole.abs().max())


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m", "ddim"])
def test_stopping_without_leftover_noise_returns_that_steps_x0(sd15, sampler):
    x0s = []
    out = _run(sd15, Latent("sd15", _init()), sampler=sampler, end_step=3, on_step=lambda i, n, x0: x0s.append((i, n, x0)))
    order = 2 if sampler == "heun" else 1
    # Steps 0 and 1 in full, then the first evaluation of step 2, which goes to noise level 0.
    assert [(i, n) for i, n, _ in x0s] == [(i, 2 * order + 1) for i in range(1, 2 * order + 2)]
    assert torch.equal(out.samples, x0s[-1][2])
    assert _diff(out.samples, _run(sd15, Latent("sd15", _init()), sampler=sampler).samples) > 0.1


@pytest.mark.parametrize("sampler", ["euler", "ddim", "dpmpp_2m"])
def test_without_add_noise_the_latent_is_taken_as_noise_of_the_first_level(sd15, sampler):
    from studio.diffusion.schedulers import make_scheduler

    noise = torch.randn((1, 4, 8, 8), generator=torch.Generator("cpu").manual_seed(SEED))
    sched = make_scheduler(sampler, "normal", sd15.model.scheduler_config)
    sched.set_timesteps(STEPS)
    # The leftover form is x0 + σ·ε: pure noise at the first level is ε·σ_max for every sampler (ε·√(σ²+1),
    # which is what the diffusers schedulers start from, at that size of σ).
    if hasattr(sched, "sigmas"):
        sigma = float(sched.sigmas[0])
    else:
        alpha_bar = float(sched.alphas_cumprod[int(sched.timesteps[0])])
        sigma = ((1 - alpha_bar) / alpha_bar) ** 0.5
    scale = sigma if float(sched.init_noise_sigma) > 1 else (sigma**2 + 1) ** 0.5
    default = _run(sd15, Latent("any", torch.zeros(1, 4, 8, 8)), sampler=sampler).samples
    as_is = _run(sd15, Latent("any", noise * scale), sampler=sampler, add_noise=False).samples
    assert _diff(as_is, default) <= TOL


def test_start_step_with_noise_is_img2img_from_that_step(sd15):
    latent = Latent("sd15", _init())
    for sampler in ("euler", "heun", "ddim", "dpmpp_2m"):
        started = _run(sd15, latent, sampler=sampler, start_step=2).samples
        strength = _run(sd15, latent, sampler=sampler, denoise=4 / STEPS).samples
        assert _diff(started, strength) <= TOL


def test_start_and_end_index_the_steps_that_denoise_keeps(sd15):
    seen = []
    _run(sd15, Latent("sd15", _init()), denoise=0.5, start_step=1, end_step=2, return_leftover_noise=True,
         on_step=lambda i, n, x0: seen.append((i, n)))
    assert seen == [(1, 1)]  # 3 steps kept of 6; only the second runs


def test_nothing_to_run_returns_the_latent_unchanged(sd15):
    latent = Latent("sd15", _init(), noise_mask=_mask())
    for start, end in ((3, 3), (4, 2), (STEPS, 10000)):
        out = _run(sd15, latent, start_step=start, end_step=end)
        assert out.samples is latent.samples and out.noise_mask is latent.noise_mask


def test_defaults_run_the_whole_schedule(sd15):
    latent = Latent("sd15", _init())
    base = _run(sd15, latent, sampler="heun").samples
    explicit = _run(sd15, latent, sampler="heun", start_step=0, end_step=STEPS, add_noise=True,
                    return_leftover_noise=True).samples
    assert torch.equal(base, explicit)


def test_sampler_node_splits_a_run(sd15):
    from nodes.sampling import sampler
    from studio.core.context import CancelToken, NodeContext

    def ctx():
        return NodeContext(node_id="s", title="Sampler", run_id=1, cancel=CancelToken(), emit=lambda k, d: None)

    pos, neg = _conds(sd15)
    common = dict(model=sd15.model, positive=pos, negative=neg, seed=SEED, steps=STEPS, cfg=6.0, sampler="heun",
                  scheduler="karras", denoise=1.0)
    empty = Latent("any", torch.zeros(1, 4, 8, 8))
    whole = sampler(ctx(), latent=empty, **common)
    first = sampler(ctx(), latent=empty, end_step=2, return_leftover_noise=True, **common)
    second = sampler(ctx(), latent=first, start_step=2, add_noise=False, **common)
    assert _diff(second.samples, whole.samples) <= TOL


def test_sampler_node_version_and_old_files(sd15):
    from studio.core import workflow
    from studio.core.registry import default_registry

    reg = default_registry()
    nt = reg.get("sample.sampler")
    assert nt.version == "1.1.0"
    assert {k: nt.input(k).default for k in ("start_step", "end_step", "add_noise", "return_leftover_noise")} == {
        "start_step": 0, "end_step": 10000, "add_noise": True, "return_leftover_noise": False}
    old = {"format": "latent-studio.workflow", "version": 1, "nodes": [{
        "id": "s", "type": "sample.sampler", "version": "1.0.0", "pos": [0, 0],
        "params": {"seed": 1, "steps": 20, "cfg": 7.0, "sampler": "euler", "scheduler": "normal", "denoise": 1.0}}],
        "links": []}
    graph = workflow.document_to_graph(old, reg)
    assert not [p for p in graph.validate() if p.port in ("start_step", "end_step", "add_noise",
                                                             "return_leftover_noise")]
    params = graph.nodes["s"].params
    assert params.get("start_step", 0) == 0 and params.get("add_noise", True) is True  # the defaults apply
