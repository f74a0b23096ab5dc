"""The tiled-VAE part of the any-size benchmark runs on the tiny VAE (small sizes; numbers not asserted
beyond their sense). Each size is measured in a fresh subprocess; the fast test runs the same measuring
function in this process, the slow one through the subprocess."""

from __future__ import annotations

import re

import pytest


@pytest.fixture
def bench(tiny_root, monkeypatch):
    import torch

    from bench import anysize_vae

    monkeypatch.setattr(anysize_vae, "_vae_path", lambda size: tiny_root / "vae" / "tiny-vae.safetensors")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small convolutions: threads only add overhead (and stall on a busy machine)
    yield anysize_vae
    torch.set_num_threads(threads)


def test_run_vae_reports_memory_per_size_and_seam_scores(bench, monkeypatch):
    monkeypatch.setattr(bench, "_measure", lambda path, side, tile, overlap, contrast: bench.child(
        str(path), side, tile, overlap, contrast))
    lines: list[str] = []
    result = bench.run_vae("tiny", out=lines.append, plan=(128, 256, 64, 16))
    text = "\n".join(lines)
    assert re.search(r"tiled VAE decode 128² \(64-px tiles, tiny\): working memory -?\d+ MiB above the 0 MiB output "
                     r"\((VmHWM reset|maxrss)\)", text), text
    assert re.search(r"tiled VAE decode memory 256² / 128²: -?\d+\.\d{3} \(target ≤ 1\.10\)", text), text
    assert re.search(r"seam score 256² .*: \d+\.\d{3} \(target ≤ 1\.10\); at 128²: .*hard-cut tiles \d+\.\d{3}, "
                     r"untiled on the same lines \d+\.\d{3}", text), text
    mem, seam = result["memory"], result["seam"]
    assert mem["sides"] == (128, 256) and mem["tile"] == 64 and len(mem["working_bytes"]) == 2
    assert seam["hard_cut_small"] > seam["tiled_small"] and 0.5 < seam["tiled"] < 2.0


@pytest.mark.slow
def test_each_size_is_measured_in_a_fresh_process(bench, tiny_root, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    r = bench._measure(tiny_root / "vae" / "tiny-vae.safetensors", 128, 64, 16, True)
    assert r["side"] == 128 and r["output"] == 128 * 128 * 3 * 4 and r["working"] > 0
    assert r["method"] == "VmHWM reset" and r["seam_hard_cut"] > r["seam"]
