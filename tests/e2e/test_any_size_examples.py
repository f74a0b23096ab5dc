"""The any-size examples (panorama, hires fix, tile upscale) run on the tiny models."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from studio.core.executor import Executor  # noqa: E402
from studio.core.registry import default_registry  # noqa: E402
from studio.core.workflow import load_file  # noqa: E402

from .examples import FLOWS, example_id  # noqa: E402

_id = example_id


def _run(graph, services) -> Image.Image:
    assert not [p for p in graph.validate() if p.severity == "error"]
    summary = Executor().run(graph.snapshot(), services=services)
    assert summary.ok, summary.failed
    (out,) = summary.outputs
    return Image.open(out)


def _panorama(target: tuple[int, int], tile: int):
    f = "any_size"
    g = load_file(FLOWS / f"{f}.json", default_registry())
    g.set_param(_id(f, "sampler"), "steps", 2)
    g.set_param(_id(f, "refine"), "steps", 4)  # denoise 0.45: two steps of the four
    g.set_param(_id(f, "latent"), "target_width", target[0])
    g.set_param(_id(f, "latent"), "target_height", target[1])
    g.set_param(_id(f, "enlarge"), "width", target[0])
    g.set_param(_id(f, "enlarge"), "height", target[1])
    for name in ("tile_width", "tile_height"):
        g.set_param(_id(f, "refine"), name, tile)
    return g


def test_the_any_size_recipe_makes_the_target_size(services):
    """Trained size nearest 3:1, enlarged to the target, refined in FSTD tiles, decoded in tiles (a
    smaller target than the example's 3072×1024, and small tiles, to stay quick)."""
    assert _run(_panorama((768, 256), 256), services).size == (768, 256)


@pytest.mark.slow
def test_the_any_size_example_as_shipped_makes_a_3072_by_1024_panorama(services):
    assert _run(_panorama((3072, 1024), 0), services).size == (3072, 1024)


def test_the_hires_fix_example_enlarges_one_and_a_half_times(services):
    f = "hires_fix"
    g = load_file(FLOWS / f"{f}.json", default_registry())
    g.set_param(_id(f, "latent"), "width", 64)
    g.set_param(_id(f, "latent"), "height", 64)
    g.set_param(_id(f, "sampler"), "steps", 2)
    g.set_param(_id(f, "hires"), "steps", 4)
    assert _run(g, services).size == (96, 96)


def test_the_tile_upscale_example_runs_with_the_tile_controlnet(services, tmp_path):
    f = "tile_upscale"
    g = load_file(FLOWS / f"{f}.json", default_registry())
    Image.open(FLOWS.parent / "images" / "sample.png").convert("RGB").resize((64, 64)).save(tmp_path / "small.png")
    g.set_param(_id(f, "image"), "image", str(tmp_path / "small.png"))
    g.set_param(_id(f, "sampler"), "steps", 5)  # denoise 0.4: two steps of the five
    for name, value in (("tile_width", 96), ("tile_height", 96), ("overlap", 64)):  # 2×2 tiles of 128 px
        g.set_param(_id(f, "sampler"), name, value)
    assert _run(g, services).size == (128, 128)
