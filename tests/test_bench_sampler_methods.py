"""``python -m bench sampler --methods`` keeps working: on the tiny models, one step, one pair, every method
whose node types are installed is timed against the plain step, and a missing one is reported, not fatal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import sampler_methods
from bench.sampler_methods import Base, Method, Unavailable, build_all
from studio.core.registry import Registry, default_registry

MEASURED = r"\s+\d+\.\d{3} s/step   ratio \d+\.\d{3} \(IQR [^)]*1 pair\)"


def _installed(registry, *names: str) -> bool:
    return any(n in registry or any(n in nt.aliases for nt in registry) for n in names)


def test_the_methods_report_times_each_installed_method_against_a_plain_step(tiny_root, capsys) -> None:
    from bench import sampler

    assert sampler.main(["--methods", "--models", str(tiny_root), "--size", "64", "--steps", "1", "--repeats", "1",
                         "--guidance-iterations", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^64x64, 1 steps, euler, .* ratio = method / plain$", out, re.M), out
    assert re.search(r"^plain step \(reference\)\s+\d+\.\d{3} s/step$", out, re.M), out
    registry = default_registry()
    expected = {"regional prompts": ("conditioning.set_area", "conditioning.combine"),
                "GLIGEN": ("GLIGENLoader", "GLIGENTextBoxApply"),
                "layout guidance": ("guidance.layout",)}
    assert [m.name for m in sampler_methods.METHODS] == list(expected)
    for name, types in expected.items():
        line = re.search(rf"^{re.escape(name)}\s.*$", out, re.M)
        assert line is not None, out
        if all(_installed(registry, t) for t in types):
            assert re.match(re.escape(name) + MEASURED, line.group(0)), line.group(0)
        else:
            assert "not available" in line.group(0)
    if _installed(registry, "guidance.layout"):  # the iterations asked for, not the node's default
        assert re.search(r"^layout guidance .* 1 gradient step per step", out, re.M), out


def _bare_base(registry) -> Base:
    return Base(model=None, clip=None, positive=None, negative=None, size=64, steps=1, root=Path("/nonexistent"),
                make_ctx=lambda: None, registry=registry)


def test_a_method_whose_modules_or_nodes_are_missing_is_not_available() -> None:
    def missing_module(base: Base):
        import bench.no_such_method_module  # type: ignore[import-not-found]  # noqa: F401

    def broken(base: Base):
        raise RuntimeError("a real bug")

    outcomes = build_all(_bare_base(Registry()), (*sampler_methods.METHODS, Method("x", missing_module)))
    assert [o.variant for o in outcomes] == [None] * 4
    assert outcomes[0].why == "no node type conditioning.set_area"
    assert outcomes[1].why == "no node type GLIGENLoader"
    assert "no_such_method_module" in outcomes[3].why
    # a failure that is not a missing piece is not hidden
    with pytest.raises(RuntimeError, match="a real bug"):
        build_all(_bare_base(Registry()), (Method("y", broken),))


def test_boxes_snap_to_the_latent_grid() -> None:
    base = _bare_base(Registry())
    assert base.box_pixels((0.1, 0.5, 0.4, 0.4)) == {"x": 8, "y": 32, "width": 24, "height": 24}
    assert base.box_pixels((0.0, 0.0, 0.01, 1.0)) == {"x": 0, "y": 0, "width": 8, "height": 64}
    with pytest.raises(Unavailable, match="no node type"):
        sampler_methods.node_type(base, "nothing.here")
