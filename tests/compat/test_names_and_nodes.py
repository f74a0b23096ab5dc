"""Name tables against the engine, the ControlNet percent conversion, the two small nodes, layering."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from studio.compat.names import A1111_SAMPLERS, COMFY_SAMPLERS, NO_KARRAS
from studio.compat.sigmas import percent_to_sigma, step_fraction
from studio.core.registry import default_registry

ROOT = Path(__file__).resolve().parents[2]


def test_name_tables_point_at_our_samplers():
    ours = set(default_registry()["sample.sampler"].input("sampler").choices)
    assert {s for s, _ in COMFY_SAMPLERS.values()} <= ours
    assert {s for s, _ in A1111_SAMPLERS.values()} <= ours


def test_no_karras_matches_the_engine():
    schedulers = pytest.importorskip("studio.diffusion.schedulers")
    pytest.importorskip("diffusers")
    with_karras = {s for s, k in schedulers.combinations() if k == "karras"}
    assert set(schedulers.SAMPLERS) - with_karras == NO_KARRAS


def test_percent_conversion():
    assert percent_to_sigma(0.0) == pytest.approx(14.6146, rel=1e-3)  # SD's sigma_max
    assert percent_to_sigma(1.0) == pytest.approx(0.0292, rel=2e-2)  # and sigma_min
    assert step_fraction(0.0, "karras") == 0.0 and step_fraction(1.0, "karras") == 1.0
    assert step_fraction(0.3, "normal") == 0.3
    fractions = [step_fraction(p / 10, "karras") for p in range(11)]
    assert fractions == sorted(fractions)


def test_compat_imports_neither_qt_nor_torch():
    code = ("from studio.compat import load_any\nfrom studio.core.registry import default_registry\n"
            "g, r = load_any('tests/compat/corpus/controlnet_canny.comfyui.png', default_registry())\n"
            "g.validate()\nimport sys\nprint('\\n'.join(sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert not {m for m in out.stdout.split() if m.split(".")[0] in ("PySide6", "torch", "diffusers")}


def test_latent_upscale_node():
    torch = pytest.importorskip("torch")
    from nodes.latent_upscale import upscale
    from studio.diffusion.values import Latent

    class Ctx:
        def warn(self, message: str) -> None:
            pass

    lat = Latent("sd15", torch.arange(2 * 4 * 8 * 12, dtype=torch.float32).reshape(2, 4, 8, 12))
    out = upscale.fn(Ctx(), lat, "size", 192, 0, 1.0, "nearest-exact", False)
    assert out.samples.shape == (2, 4, 16, 24) and out.family == "sd15"
    out = upscale.fn(Ctx(), lat, "factor", 0, 0, 0.5, "area", False)
    assert out.samples.shape == (2, 4, 4, 6)
    out = upscale.fn(Ctx(), lat, "size", 64, 64, 1.0, "bilinear", True)  # centre crop to square
    assert out.samples.shape == (2, 4, 8, 8)
    assert torch.equal(upscale.fn(Ctx(), lat, "size", 64, 64, 1.0, "nearest-exact", True).samples,
                       lat.samples[..., :, 2:10])


def test_clip_skip_node():
    from nodes.clip_skip import clip_skip
    from studio.diffusion.values import TextEncoder

    clip = TextEncoder("sd15", ("tok",), ("enc",))
    out = clip_skip.fn(None, clip, 2)
    assert out.skip == 2 and out.encoders is clip.encoders and clip.skip == 0
