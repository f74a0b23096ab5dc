"""Speed options (``studio.diffusion.speed``): threads, compiled forward with its fallback, layout probe,
fused QKV, and the settings that choose them. The compiled path's parity with eager is ``slow``
(inductor compiles a tiny UNet in about a minute with a warm cache, several without)."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from studio.core.settings import Settings
from studio.diffusion import speed
from studio.diffusion.model_manager import ModelManager

CPUINFO_HT = "\n\n".join(
    f"processor\t: {i}\nmodel name\t: Some CPU\nphysical id\t: 0\ncore id\t\t: {i // 2}\n" for i in range(4))


def test_physical_cores_count_core_ids_not_hyperthreads():
    assert speed.count_physical_cores(CPUINFO_HT) == 2
    assert speed.count_physical_cores(CPUINFO_HT, allowed={0, 1}) == 1  # both threads of core 0
    assert speed.count_physical_cores("processor\t: 0\nmodel name\t: x\n") == 0  # no core ids: unknown
    assert 1 <= speed.physical_cores() <= (__import__("os").cpu_count() or 1)


def test_options_come_from_settings_and_the_environment_overrides_them(monkeypatch):
    monkeypatch.delenv(speed.ENV_COMPILE, raising=False)
    monkeypatch.delenv(speed.ENV_THREADS, raising=False)
    s = Settings(compile_models="off", fuse_qkv=True, channels_last="on", torch_threads=3)
    assert speed.SpeedOptions.from_settings(s) == speed.SpeedOptions("off", True, "on", 3)
    monkeypatch.setenv(speed.ENV_COMPILE, "1")
    monkeypatch.setenv(speed.ENV_THREADS, "5")
    opts = speed.SpeedOptions.from_settings(s)
    assert opts.compile == "on" and opts.threads == 5 and opts.compiles(torch.device("cpu"))
    monkeypatch.setenv(speed.ENV_COMPILE, "0")
    assert not speed.SpeedOptions.from_settings(Settings(compile_models="on")).compiles(torch.device("cpu"))
    assert not speed.SpeedOptions().compiles(torch.device("cpu"))  # auto: off


def test_settings_file_keeps_speed_choices_and_drops_bad_ones(tmp_path):
    good = Settings(compile_models="on", fuse_qkv=True, channels_last="off", torch_threads=4)
    good.save(tmp_path / "good.json")
    back = Settings.load(tmp_path / "good.json")
    assert (back.compile_models, back.fuse_qkv, back.channels_last, back.torch_threads) == ("on", True, "off", 4)
    assert back.warnings == []
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"compile_models": "fast", "torch_threads": -2, "fuse_qkv": "yes"}))
    s = Settings.load(bad)
    assert (s.compile_models, s.torch_threads, s.fuse_qkv) == ("auto", 0, False)
    assert len(s.warnings) == 3 and any("torch_threads" in w for w in s.warnings)


def test_threads_are_applied_once_and_the_loading_path_never_raises_them(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setattr(speed, "_threads_applied", None)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        torch.set_num_threads(1)
        assert speed.apply_threads(lower_only=True) == 1  # automatic from the loading path: only lowers
        assert torch.get_num_threads() == 1 and speed._threads_applied is None
        assert speed.apply_threads(2) == 2 and torch.get_num_threads() == 2  # explicit: applied
        assert speed.apply_threads(1) == 2 and torch.get_num_threads() == 2  # once per process
    finally:
        torch.set_num_threads(before)


def _failing_compiler(fn):
    def compiled(*args, **kwargs):
        raise RuntimeError("backend exploded\nlong trace")
    return compiled


def test_compiled_forward_falls_back_to_eager_for_good_with_one_log_line(caplog):
    lin = torch.nn.Linear(4, 3)
    x = torch.randn(2, 4)
    expected = lin(x)
    wrapped = speed.compile_module(lin, "Linear", compiler=_failing_compiler)
    assert wrapped is not None and lin.forward is wrapped and wrapped.active
    with caplog.at_level(logging.WARNING, logger=speed.__name__):
        assert torch.equal(lin(x), expected)
        assert torch.equal(lin(x), expected)
    assert not wrapped.active
    assert [r.getMessage() for r in caplog.records] == [
        "compiling Linear failed (RuntimeError: backend exploded); running it uncompiled"]
    speed.uncompile_module(lin)
    assert "forward" not in lin.__dict__ and torch.equal(lin(x), expected)


def test_an_input_error_is_raised_and_does_not_turn_compiling_off():
    lin = torch.nn.Linear(4, 3)
    wrapped = speed.compile_module(lin, "Linear", compiler=_failing_compiler)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        lin(torch.randn(2, 5))  # eager fails too: the input's fault
    assert wrapped is not None and wrapped.active


def test_compiled_forward_is_used_and_its_warm_up_reported(caplog):
    calls = []

    def compiler(fn):
        def compiled(*args, **kwargs):
            calls.append(1)
            return fn(*args, **kwargs) * 2
        return compiled

    lin = torch.nn.Linear(4, 3)
    x = torch.randn(1, 4)
    with caplog.at_level(logging.INFO, logger=speed.__name__):
        wrapped = speed.compile_module(lin, "Linear", compiler=compiler)
        assert speed.compile_module(lin, "Linear", compiler=compiler) is wrapped  # not wrapped twice
        out = lin(x)
        lin(x)
    assert len(calls) == 2 and torch.allclose(out, lin.__dict__["forward"].eager(x) * 2)
    assert wrapped is not None and wrapped.warmed
    assert sum("compiled Linear in" in r.getMessage() for r in caplog.records) == 1


def test_channels_last_probe_is_measured_once_and_remembered(monkeypatch, tmp_path):
    monkeypatch.setattr(speed, "probe_file", lambda: tmp_path / "probes.json")
    monkeypatch.setattr(speed, "_probe_results", {})
    measured = []
    monkeypatch.setattr(speed, "_measure_channels_last", lambda d, t, r: measured.append(t) or True)
    cpu = torch.device("cpu")
    assert speed.channels_last_faster(cpu, torch.float32) is True
    assert speed.channels_last_faster(cpu, torch.float32) is True
    assert measured == [torch.float32]
    monkeypatch.setattr(speed, "_probe_results", {})  # a new process reads the file
    assert speed.channels_last_faster(cpu, torch.float32) is True and measured == [torch.float32]
    assert list(json.loads((tmp_path / "probes.json").read_text()).values()) == [True]


def test_real_probe_answers_a_bool(monkeypatch):
    monkeypatch.setattr(speed, "_probe_results", {})
    assert speed._measure_channels_last(torch.device("cpu"), torch.float32, 1) in (True, False)


def _unet_out(unet):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 8, 8, generator=g)
    e = torch.randn(2, 77, unet.config.cross_attention_dim, generator=g)
    with torch.no_grad():
        return unet(x, torch.tensor(500.0), encoder_hidden_states=e, return_dict=False)[0]


def _load(tiny, **settings):
    mm = ModelManager(Settings(**settings), device="cpu", dtype="fp32", cache_dir=False)
    return mm.load_checkpoint(tiny.paths["checkpoint-sd15"])[0].unet


@pytest.mark.slow
def test_compiled_unet_samples_like_the_eager_one(tiny, monkeypatch):
    from studio.diffusion import prompts, sampling
    from studio.diffusion.values import Latent

    monkeypatch.delenv(speed.ENV_COMPILE, raising=False)
    path = tiny.paths["checkpoint-sd15"]
    eager = ModelManager(Settings(), device="cpu", dtype="fp32", cache_dir=False).load_checkpoint(path)
    compiled = ModelManager(Settings(compile_models="on"), device="cpu", dtype="fp32",
                            cache_dir=False).load_checkpoint(path)
    wrapped = compiled[0].unet.__dict__["forward"]
    assert isinstance(wrapped, speed.CompiledForward)

    def run(parts):
        unet, clip, _ = parts
        pos, neg = prompts.encode_prompt(clip, "a red cat"), prompts.encode_prompt(clip, "blurry")
        return sampling.sample(unet, pos, neg, Latent("sd15", torch.zeros(1, 4, 8, 8)), seed=7, steps=3, cfg=6.0,
                               sampler="euler", scheduler="normal", denoise=1.0).samples

    with torch.no_grad():
        ours, ref = run(compiled), run(eager)
    assert wrapped.active and wrapped.warmed  # really compiled, not fallen back
    assert float((ours - ref).abs().max()) <= 1e-4


def test_layout_and_fused_projections_follow_the_settings_and_keep_outputs(tiny):
    plain = _load(tiny, channels_last="off")
    assert plain.conv_in.weight.is_contiguous()
    assert not plain.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    fast = _load(tiny, channels_last="on", fuse_qkv=True)
    assert fast.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    assert any(type(p).__name__.startswith("Fused") for p in fast.attn_processors.values())
    assert not any(type(p).__name__.startswith("Fused") for p in plain.attn_processors.values())
    before = _unet_out(plain)
    assert torch.allclose(_unet_out(fast), before, atol=1e-4)
    # The separate projections are views into the fused weights: what a LoRA patch adds to them in
    # place reaches the fused layers.
    attn = next(m for m in fast.modules() if hasattr(m, "to_qkv"))
    assert attn.to_q.weight.untyped_storage().data_ptr() == attn.to_qkv.weight.untyped_storage().data_ptr()
    with torch.no_grad():
        for model in (plain, fast):
            for name, m in model.named_modules():
                if name.endswith(("attn1.to_q", "attn1.to_v", "attn2.to_k")):
                    m.weight.add_(0.05)
    after = _unet_out(plain)
    assert not torch.allclose(after, before, atol=1e-3)
    assert torch.allclose(_unet_out(fast), after, atol=1e-4)


def test_fp8_weights_are_stored_narrow_and_computed_wide(tiny):
    """With ``fp8_weights`` the UNet keeps float8 weights between calls and computes in the working
    dtype: its output equals the plain UNet's with the same weights rounded to float8."""
    mm = ModelManager(Settings(fp8_weights=True, fuse_qkv=True), device="cpu", dtype="fp32", cache_dir=False)
    narrow = mm.load_checkpoint(tiny.paths["checkpoint-sd15"])[0].unet
    plain = _load(tiny, channels_last="off")
    got = _unet_out(narrow)
    stored = {n for n, p in narrow.named_parameters() if p.dtype == torch.float8_e4m3fn}
    assert any(n.endswith("to_q.weight") for n in stored) and any("conv" in n for n in stored)
    assert not any("norm" in n for n in stored)  # normalisation layers stay wide (diffusers' skip list)
    assert not any(type(p).__name__.startswith("Fused") for p in narrow.attn_processors.values())
    with torch.no_grad():
        for n, p in plain.named_parameters():
            if n in stored:
                p.copy_(p.to(torch.float8_e4m3fn).float())
    assert torch.allclose(got, _unet_out(plain), atol=1e-5)
    def nbytes(m):
        return sum(p.nbytes for p in m.parameters())

    assert nbytes(narrow) < 0.5 * nbytes(plain)  # float8 against float32: a quarter, norms aside
