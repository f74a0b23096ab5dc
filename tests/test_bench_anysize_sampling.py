"""The tiled-sampling part of ``python -m bench anysize`` runs on the tiny models and reports every mode."""

import re


def test_anysize_sampling_bench_runs_on_tiny_models():
    import torch

    from bench.anysize_sampling import run_sampling

    lines: list[str] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: a second busy thread only adds waiting
    try:
        res = run_sampling("tiny", lines.append, steps=4, repeats=1)
    finally:
        torch.set_num_threads(threads)
    text = "\n".join(lines)
    for name in ("fstd", "mixture", "multidiffusion", "fixed grid (reference)"):
        r = res[name]
        assert r["unet_calls"] > 0 and r["s_per_step"] > 0 and r["seam"] > 0
        assert re.search(re.escape(name) + r" +\d+ UNet evaluations .* s/step, seam score \(latent\) \d+\.\d{3}", text)
    # 2×2 fstd tiles a step against 3×3 overlapping windows.
    assert res["evaluation_ratio"] == 9 / 4
    assert res["fstd"]["unet_calls"] < res["multidiffusion"]["unet_calls"] == res["mixture"]["unet_calls"]
    assert re.search(r"fstd speed-up vs multidiffusion: \d+\.\d\dx in seconds per step, 2\.25x in UNet evaluations",
                     text)
