"""Ray's own processes on this machine, for tests that must leave none running."""

from __future__ import annotations

import os
from pathlib import Path


def ray_processes() -> list[str]:
    """Command lines of Ray's processes (raylet, GCS, workers), cut to 120 characters."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "raylet" in cmd or "gcs_server" in cmd or cmd.startswith("ray::"):
            found.append(cmd[:120])
    return found
