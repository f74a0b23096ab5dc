"""Benchmarks must keep working: the shared interleaving helper, and the executor benchmark on a small
graph (its output shape only; no timing asserted)."""

import re

from bench import executor
from bench.timing import Pairs, compare

RATIO = r"ratio \d+\.\d+ \(IQR \d+\.\d+-\d+\.\d+, min-max \d+\.\d+-\d+\.\d+, 3 pairs\)"


def test_compare_interleaves_reference_and_each_candidate_alternating_the_order():
    calls: list[str] = []
    runs = compare(lambda: calls.append("ref"), {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                   pairs=3)
    assert calls == ["ref", "a", "ref", "b",  # round 1: reference first
                     "a", "ref", "b", "ref",  # round 2: ours first
                     "ref", "a", "ref", "b"]
    assert set(runs) == {"a", "b"}
    assert all(len(p.reference) == len(p.ours) == 3 for p in runs.values())


def test_compare_warms_up_each_function_untimed():
    calls: list[str] = []
    runs = compare(lambda: calls.append("ref"), {"a": lambda: calls.append("a")}, pairs=1, warmup=True)
    assert calls == ["ref", "a", "ref", "a"]
    assert len(runs["a"].ours) == 1


def test_pairs_report_the_median_ratio_of_each_pair_and_its_spread():
    # A loaded machine doubles both sides of the third pair: its ratio, and so the median, holds.
    p = Pairs(reference=(1.0, 2.0, 4.0, 1.0, 1.0), ours=(1.1, 1.8, 4.4, 0.9, 1.5))
    assert [round(r, 3) for r in p.ratios] == [1.1, 0.9, 1.1, 0.9, 1.5]
    assert round(p.ratio, 6) == 1.1 and round(p.ours_s, 3) == 1.5 and p.reference_s == 1.0
    assert round(p.difference_s, 3) == 0.1
    assert p.describe() == "ratio 1.100 (IQR 0.900-1.100, min-max 0.900-1.500, 5 pairs)"
    assert Pairs((2.0,), (1.0,)).describe(".2f") == "ratio 0.50 (IQR 0.50-0.50, min-max 0.50-0.50, 1 pair)"


def test_executor_bench_prints_median_ratios_with_their_spread(capsys):
    assert executor.main(["--nodes", "60", "--repeats", "3"]) == 0
    out = capsys.readouterr().out
    assert "graph: 60 nodes" in out and "executor overhead per node" in out
    assert re.search(r"executor, every node runs: .* " + RATIO.replace(r"\d+\.\d+", r"\d+\.\d\d"), out), out
    assert re.search(r"executor, all cached: .* " + RATIO.replace(r"\d+\.\d+", r"\d+\.\d\d"), out), out


def test_lora_bench_runs_on_the_tiny_models(tiny_root, capsys):
    from bench import lora

    assert lora.main(["--size", "tiny", "--models", str(tiny_root), "--repeats", "1", "--rank", "4"]) == 0
    out = capsys.readouterr().out
    assert "load base checkpoint (reference):" in out
    for line in ("LoRA, first run: patch weights", "change strength", "switch to the LoCon file", "restore base",
                 "peft unfused adapter: load"):
        assert re.search(re.escape(line) + r".* \d+\.\d+ x checkpoint load", out), out
    assert re.search(r"step, LoRA patched in place: .* ratio \d+\.\d{3} \(min-max", out), out
    assert re.search(r"step, peft unfused adapter: .* ratio \d+\.\d{3}", out), out
