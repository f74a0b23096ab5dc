"""Benchmarks must keep working; this runs the executor benchmark on a small graph (no timing asserted)."""

from bench import executor


def test_executor_bench_runs(capsys):
    assert executor.main(["--nodes", "60", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "executor overhead per node" in out and "graph: 60 nodes" in out
