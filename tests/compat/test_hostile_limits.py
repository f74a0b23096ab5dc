"""The hostile corpus under limits: every file is answered (a graph, a list of problems, or one clean
WorkflowError) within 2 s of CPU and 500 MB of added memory, by what `validate` (load, validate) and
`import` (load, write) do.

CPU time rather than wall time: the machines that run this are shared and loaded, and a quadratic
importer is caught either way (the cases were built at the sizes that once took minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .hostile_cases import CASES

CPU_LIMIT_S = 2.0
MEMORY_LIMIT_MB = 500.0
WORKER = Path(__file__).with_name("hostile_worker.py")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists() or not hasattr(os, "fork"),
                                reason="forks, and measures memory through Linux's /proc")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("hostile")
    jobs = []
    for name, (build, (_expect, pattern)) in CASES.items():
        case_dir = folder / name
        case_dir.mkdir()
        jobs.append([name, str(build(case_dir)), pattern])
    proc = subprocess.run([sys.executable, str(WORKER)], input=json.dumps(jobs), capture_output=True, text=True,
                          cwd=ROOT, timeout=600, env={**_env(), "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = {}
    for line in proc.stdout.splitlines():
        row = json.loads(line)
        out[row.pop("name")] = row
    return out


def _env() -> dict[str, str]:
    return dict(os.environ)


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_file_is_answered_within_limits(results, name):
    _build, (expect, pattern) = CASES[name]
    r = results[name]
    assert r["outcome"] != "crashed" and r["outcome"] != "timeout", "\n".join(r["sample"])
    if expect == "refused":
        assert r["outcome"] == "refused", r
    else:
        assert r["outcome"] == "loaded", r
        if expect == "problem":
            assert r["problems"] > 0, r
    assert r["matched"], f"{pattern!r} not in {r['sample']}"
    assert r["validate_cpu_s"] <= CPU_LIMIT_S, f"{name}: validate took {r['validate_cpu_s']:.2f} s of CPU"
    assert r["import_cpu_s"] <= CPU_LIMIT_S, f"{name}: import took {r['import_cpu_s']:.2f} s of CPU"
    assert r["peak_mb"] <= MEMORY_LIMIT_MB, f"{name}: {r['peak_mb']:.0f} MB"


def test_the_worker_catches_what_it_guards_against(tmp_path):
    """The limits are measured, not assumed: a case that allocates and spins is seen doing so."""
    path = tmp_path / "eat.json"
    path.write_text("[]")
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(WORKER.parent)!r})
        import hostile_worker
        import studio.compat
        real = studio.compat.load_any
        def greedy(path, registry):
            blob = bytearray(600 * 2**20)
            blob[::4096] = b"x" * len(blob[::4096])  # touch every page: resident, not just reserved
            end = time.process_time() + 2.2
            while time.process_time() < end:
                pass
            return real(path, registry)
        studio.compat.load_any = greedy
        hostile_worker.run([["greedy", {str(path)!r}, None]])
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**_env(), "PYTHONPATH": str(ROOT)})
    row = json.loads(proc.stdout.splitlines()[-1])
    assert row["outcome"] == "refused"  # "[]" is no workflow
    assert row["peak_mb"] > MEMORY_LIMIT_MB and row["validate_cpu_s"] > CPU_LIMIT_S
