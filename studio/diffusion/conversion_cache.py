"""Converted weights kept on disk, so a checkpoint is converted once rather than at every start.

Converting an original-layout checkpoint means renaming keys, splitting OpenCLIP's fused attention
weights, reshaping VAE attention and casting to the working dtype (fp16 → bf16 on CPU, say). The
result is saved per (source path, size, mtime, component, dtype) as a diffusers-layout safetensors
file and later memory-mapped as is. Files already in the right layout and dtype are not cached. The
folder is capped in size; the least recently used entries go first.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

VERSION = "1"  # bump when a conversion changes


class ConversionCache:
    def __init__(self, folder: Path | None, max_bytes: int = 20 * 1024**3) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    @staticmethod
    def key(path: Path, component: str, dtype: str) -> str:
        st = path.stat()
        raw = f"{VERSION}|{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{component}|{dtype}"
        return f"{path.stem[:40]}-{component}-{hashlib.sha1(raw.encode()).hexdigest()[:16]}"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.folder is None:
            return None
        f = self.folder / f"{key}.safetensors"
        if not f.is_file():
            return None
        from safetensors.torch import load_file

        try:
            weights = load_file(str(f), device="cpu")
        except Exception:  # a damaged cache entry is only a lost shortcut
            f.unlink(missing_ok=True)
            return None
        os.utime(f)  # recently used
        return weights

    def put(self, key: str, weights: dict[str, Any]) -> None:
        if self.folder is None:
            return
        from safetensors.torch import save_file

        tmp = self.folder / f"{key}.{os.getpid()}.tmp"  # a child process or another app may write too
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp))
            tmp.replace(self.folder / f"{key}.safetensors")
        except OSError:  # a full disk or an unusable folder must not stop loading
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            return
        self._prune(self.folder)

    def _prune(self, folder: Path) -> None:
        files = sorted(folder.glob("*.safetensors"), key=lambda p: p.stat().st_mtime, reverse=True)
        total = 0
        for f in files:
            total += f.stat().st_size
            if total > self.max_bytes:
                with contextlib.suppress(OSError):  # still mapped by a loaded model (Windows)
                    f.unlink(missing_ok=True)
