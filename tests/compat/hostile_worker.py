"""Runs hostile files through what ``import`` and ``validate`` do, one forked child per file, and
prints one JSON line per file: the outcome, the CPU seconds of `validate` (load and validate) and of
`import` (load and write), and the peak memory it added.

A separate process so that a regression (a list grown without end, a quadratic loop) fails its test
instead of exhausting the machine: each child runs under an address-space cap and a hard time limit.
Started once with the studio imported, it forks per case, so each case pays no start-up. Linux only
(it reads /proc for memory); the test skips elsewhere.

stdin: JSON ``[[name, path, pattern or null], ...]``; stdout: JSON lines. ``matched`` says whether the
pattern occurs in the error message, the import report or the validation problems.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

HARD_LIMIT_S = 20.0  # kill a case after this long (the asserted limit is far lower)
EXTRA_ADDRESS_SPACE = 3 * 2**30  # a case may map this much more than the worker had (MemoryError beyond)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _child(path: str, pattern: str | None, out: str) -> None:
    import re

    from studio.compat import load_any
    from studio.core.registry import default_registry
    from studio.core.workflow import WorkflowError, dumps

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _status_kb("VmSize") * 1024 + EXTRA_ADDRESS_SPACE
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    registry = default_registry()
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-memory mark to what is resident now
    base_kb = _status_kb("VmRSS")
    # `validate` loads and validates; `import` loads and writes: each is timed as the command does it.
    start = time.process_time()
    wall = time.perf_counter()
    result: dict = {}
    texts: list[str] = []
    load_s = validate_s = write_s = 0.0
    try:
        try:
            graph, report = load_any(path, registry)
        finally:
            load_s = time.process_time() - start
        problems = [str(p) for p in graph.validate() if p.severity == "error"]
        validate_s = time.process_time() - start - load_s
        size = len(dumps(graph, environment={}))  # what `import -o` writes
        write_s = time.process_time() - start - load_s - validate_s
        texts = [*(report.lines if report else []), *problems]
        result = {"outcome": "loaded", "problems": len(problems), "bytes": size,
                  "sample": [t[:300] for t in texts[:3]]}
    except WorkflowError as exc:
        texts = [str(exc)]
        result = {"outcome": "refused", "sample": [str(exc)[:2000]]}
    except BaseException:  # what the test exists to catch: anything but a clean WorkflowError
        result = {"outcome": "crashed", "sample": [traceback.format_exc()[-3000:]]}
    result["validate_cpu_s"] = load_s + validate_s
    result["import_cpu_s"] = load_s + write_s
    result["cpu_s"] = time.process_time() - start
    result["wall_s"] = time.perf_counter() - wall
    result["peak_mb"] = max(0, _status_kb("VmHWM") - base_kb) / 1024
    result["matched"] = pattern is None or any(re.search(pattern, t) for t in texts)
    Path(out).write_text(json.dumps(result))


def run(cases: list[list[str]]) -> None:
    import studio.compat  # noqa: F401 -- imported once, before forking
    from studio.core.registry import default_registry

    default_registry()
    with tempfile.TemporaryDirectory() as tmp:
        for name, path, pattern in cases:
            out = os.path.join(tmp, f"{name}.json")
            pid = os.fork()
            if pid == 0:  # the child: run one case, then leave without running the parent's cleanup
                code = 0
                try:
                    _child(path, pattern, out)
                except BaseException:
                    code = 1
                os._exit(code)
            deadline = time.monotonic() + HARD_LIMIT_S
            while True:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    status = -1
                    break
                time.sleep(0.01)
            if os.path.exists(out):
                result = json.loads(Path(out).read_text())
            elif status == -1:
                result = {"outcome": "timeout", "sample": [f"killed after {HARD_LIMIT_S:.0f} s"]}
            else:
                result = {"outcome": "crashed", "sample": [f"the child died (status {status})"]}
            print(json.dumps({"name": name, **result}), flush=True)


if __name__ == "__main__":
    run(json.load(sys.stdin))
