"""``python -m bench speed`` must keep working: quick runs on the tiny models (the output's shape only;
no timing asserted). Compiling is left out here (it has its own slow test); the load timings, which
build diffusers' pipeline from the file several times, are ``slow``."""

import re

import pytest
import torch

from bench import speed as bench_speed
from studio.diffusion import speed


def _run(tiny_root, monkeypatch, *extra: str) -> None:
    before = torch.get_num_threads()
    monkeypatch.setattr(speed, "_threads_applied", before)  # keep this process's thread count
    try:
        assert bench_speed.main(["--size", "tiny", "--models", str(tiny_root), "--steps", "1", "--repeats", "1",
                                 "--skip", "compile,autocast,diffusers-bf16,bf16-nchw,fp32-cl", *extra]) == 0
    finally:
        torch.set_num_threads(before)


def test_speed_bench_times_steps_on_the_tiny_models(tiny_root, capsys, monkeypatch):
    _run(tiny_root, monkeypatch, "--load-repeats", "0")
    out = capsys.readouterr().out
    assert "sd15 64x64, 1 steps" in out
    assert re.search(r"diffusers pipeline, fp32 \(reference\) +\d+\.\d{3} s/step", out), out
    assert re.search(r"ours, fp32 eager +\d+\.\d{3} s/step +ratio \d+\.\d{3} \(IQR", out), out
    assert re.search(r"ours, \w+, fused QKV .* ratio \d+\.\d{3}", out), out
    assert re.search(r"best of ours: .*: \d+\.\d\dx diffusers' plain pipeline \(target >= 1\.20x: (met|NOT met)\)",
                     out), out
    assert "loading" not in out


@pytest.mark.slow
def test_speed_bench_times_loading_on_the_tiny_models(tiny_root, capsys, monkeypatch):
    _run(tiny_root, monkeypatch, "--load-repeats", "1", "--skip",
         "fused-qkv,compile,autocast,diffusers-bf16,bf16-nchw,fp32-cl")
    out = capsys.readouterr().out
    assert re.search(r"diffusers from_single_file \(reference\) +\d+\.\d{3} s", out), out
    assert re.search(r"ours, empty conversion cache \(cold\) .* ratio \d+\.\d{3}", out), out
    assert re.search(r"ours, filled conversion cache \(warm\) .* \(target <= 0\.5 s: (met|NOT met)\)", out), out
