"""The random test and bench models are a function of their seed alone."""

from __future__ import annotations

import torch

from bench.make_models import write_models


def _tensors(x, prefix=""):
    if isinstance(x, torch.Tensor):
        yield prefix, x
    elif isinstance(x, dict):
        for k, v in x.items():
            yield from _tensors(v, f"{prefix}/{k}")


def test_the_same_seed_writes_the_same_weights_whatever_drew_from_the_global_generator_before(tmp_path):
    # Layers initialise from torch's global generator; a test that drew from it earlier must not change
    # the session's tiny models (their tolerances were set on one set of weights).
    first = dict(_tensors(write_models(tmp_path / "a", "tiny", seed=0, families=("sd15",)).reference))
    torch.randn(7)
    state = torch.get_rng_state()
    second = dict(_tensors(write_models(tmp_path / "b", "tiny", seed=0, families=("sd15",)).reference))
    assert torch.equal(state, torch.get_rng_state())  # and the caller's generator is left as it was
    assert first.keys() == second.keys() and len(first) > 100
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = dict(_tensors(write_models(tmp_path / "c", "tiny", seed=1, families=("sd15",)).reference))
    assert any(not torch.equal(first[k], other[k]) for k in first)
