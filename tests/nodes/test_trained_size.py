"""The trained resolution nearest a target, and the node that makes a latent of it."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from studio.diffusion.buckets import buckets, nearest_trained_size


@pytest.mark.parametrize("family", ["sd15", "sd2", "sdxl"])
def test_buckets_are_multiples_of_64_near_the_native_area_in_both_orientations(family):
    native = {"sd15": 512, "sd2": 768, "sdxl": 1024}[family] ** 2
    sizes = buckets(family)
    assert (int(math.sqrt(native)),) * 2 in sizes
    for w, h in sizes:
        assert w % 64 == 0 and h % 64 == 0 and (h, w) in sizes
        assert 0.85 <= w * h / native <= 1.15, (w, h)


def test_sdxl_uses_its_published_training_buckets():
    assert {(1344, 768), (768, 1344), (1216, 832), (1152, 896), (1536, 640)} <= set(buckets("sdxl"))
    assert nearest_trained_size("sdxl", 1920, 1080) == (1344, 768)
    assert nearest_trained_size("sdxl", 1080, 1920) == (768, 1344)


def test_the_nearest_aspect_wins_and_square_stays_native():
    assert nearest_trained_size("sd15", 1024, 1024) == (512, 512)
    w, h = nearest_trained_size("sd15", 3072, 1024)
    best = min(abs(math.log(a / b) - math.log(3)) for a, b in buckets("sd15"))
    assert abs(math.log(w / h) - math.log(3)) == pytest.approx(best)
    with pytest.raises(ValueError):
        nearest_trained_size("sd15", 0, 10)


def test_the_node_makes_a_latent_of_the_model_family_at_the_trained_size():
    pytest.importorskip("torch")
    from nodes.latent_trained_size import empty_trained_size

    logs: list[str] = []
    ctx = SimpleNamespace(info=logs.append)
    latent = empty_trained_size(ctx, model=SimpleNamespace(family="sdxl"), target_width=3072, target_height=1024,
                                batch=2)
    assert latent.family == "sdxl" and tuple(latent.samples.shape) == (2, 4, 576 // 8, 1728 // 8)
    assert logs and "1728×576" in logs[0]
