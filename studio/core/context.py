"""What a node function sees of the run: progress, previews, cancel, warnings and services."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .services import RunServices

if TYPE_CHECKING:
    from .settings import Settings
    from .snapshot import GraphSnapshot


class NodeFailure(Exception):
    """Raised by a node for a user-facing problem; the message is shown as is, with the node's name."""


class OutOfMemory(NodeFailure):
    """A node ran out of (GPU) memory; the executor also drops its cached results to free memory."""


class CancelledError(Exception):
    """Raised inside a node when the run was cancelled; the executor stops cleanly."""


class CancelToken:
    """A flag shared by the UI (which sets it) and the running graph (which checks it)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise CancelledError()


class NodeContext:
    def __init__(
        self,
        *,
        node_id: str,
        title: str,
        run_id: int,
        cancel: CancelToken,
        emit: Callable[[str, dict[str, Any]], None],
        services: RunServices | None = None,
        snapshot: GraphSnapshot | None = None,
    ) -> None:
        self.node_id, self.title, self.run_id = node_id, title, run_id
        self.services = services if services is not None else RunServices()
        self.snapshot = snapshot
        self._cancel = cancel
        self._emit = emit
        self.output_files: list[str] = []

    # -- reporting ------------------------------------------------------------------------------
    def progress(self, fraction: float, text: str = "") -> None:
        self._emit("progress", {"fraction": max(0.0, min(1.0, float(fraction))), "text": text})

    def preview(self, image: Any, step: int = -1) -> None:
        """Show a small uint8 RGB array (H, W, 3) as this node's live preview."""
        self._emit("preview", {"image": image, "step": step})

    def warn(self, message: str) -> None:
        self._emit("log", {"level": "warning", "message": message})

    def info(self, message: str) -> None:
        self._emit("log", {"level": "info", "message": message})

    def add_output_file(self, path: str | Path) -> None:
        self.output_files.append(str(path))
        self._emit("output_file", {"path": str(path)})

    # -- cancel ---------------------------------------------------------------------------------
    @property
    def cancelled(self) -> bool:
        return self._cancel.cancelled

    def check_cancel(self) -> None:
        self._cancel.raise_if_cancelled()

    # -- services (typed accessors over this run's RunServices) -----------------------------------
    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def output_dir(self) -> Path:
        """Where this run saves files (the user's choice; a workflow may only name subfolders)."""
        if self.services.output_dir is None:
            raise NodeFailure("this run has no output folder")
        return self.services.output_dir

    @property
    def search_dirs(self) -> tuple[Path, ...]:
        return self.services.search_dirs

    @property
    def models(self) -> Any:
        """The model manager of this run (built on first use from this run's settings)."""
        mm = self.services.models()
        if mm is None:
            raise NodeFailure("this run has no model manager")
        return mm

    def preview_decoder(self, family: str) -> Any:
        """A full-size preview decoder (TAESD) for ``family``, or None for the fast approximation."""
        finder = self.services.preview_decoder
        return finder(family) if finder is not None else None

    def service(self, name: str) -> Any:
        """A named extra service (for plugins)."""
        try:
            return self.services.extra[name]
        except KeyError:
            raise NodeFailure(f"this run has no {name!r} service") from None

    def optional_service(self, name: str) -> Any:
        return self.services.extra.get(name)

    @property
    def workflow_text(self) -> str:
        """The workflow being run, as file text (what a save node embeds in its PNG)."""
        from .workflow import document_text

        return document_text(dict(self.snapshot.document)) if self.snapshot else ""

    def resolve_file(self, value: str, what: str = "file") -> Path:
        return resolve_file(value, self.services.search_dirs, what)


def resolve_file(value: str, search_dirs: Sequence[str | Path], what: str = "file") -> Path:
    """An absolute path as is; a relative one looked up in each search folder in turn."""
    if not value:
        raise NodeFailure(f"no {what} chosen")
    try:
        p = Path(value).expanduser()
    except RuntimeError:  # "~someone" with no such user
        p = Path(value)
    if p.is_absolute():
        if _is_file(p):
            return p
        raise NodeFailure(f"{what} not found: {_shown(str(p))}")
    tried = []
    for d in search_dirs:
        candidate = Path(d) / p
        if _is_file(candidate):
            return candidate
        tried.append(str(Path(d)))
    where = "; looked in " + ", ".join(tried) if tried else ""
    raise NodeFailure(f"{what} not found: {_shown(value)}{where}")


def _is_file(path: Path) -> bool:
    """``Path.is_file`` that also answers False for a name the system refuses (too long, bad bytes)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _shown(name: str, limit: int = 200) -> str:
    """A file name as a message shows it: a hostile name may be megabytes long."""
    return name if len(name) <= limit else f"{name[:limit]}… ({len(name):,} characters)"
