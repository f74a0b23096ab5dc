"""Typed events the executor emits through its one callback; the UI turns them into Qt signals."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: int
    executed: tuple[str, ...] = ()
    cached: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled and not self.skipped


@dataclass(frozen=True, slots=True)
class Event:
    kind: ClassVar[str] = "event"
    run_id: int


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    to_execute: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NodeStarted(Event):
    kind: ClassVar[str] = "node_started"
    node: str = ""


@dataclass(frozen=True, slots=True)
class Progress(Event):
    kind: ClassVar[str] = "progress"
    node: str = ""
    fraction: float = 0.0
    text: str = ""


@dataclass(frozen=True, slots=True)
class Preview(Event):
    kind: ClassVar[str] = "preview"
    node: str = ""
    image: Any = None  # numpy uint8 array (H, W, 3)
    step: int = -1


@dataclass(frozen=True, slots=True)
class NodeLog(Event):
    kind: ClassVar[str] = "node_log"
    node: str = ""
    level: str = "warning"
    message: str = ""


@dataclass(frozen=True, slots=True)
class OutputFile(Event):
    """A node wrote a file (a saved image): for the history's "reveal the file"."""

    kind: ClassVar[str] = "output_file"
    node: str = ""
    path: str = ""


@dataclass(frozen=True, slots=True)
class NodeFinished(Event):
    kind: ClassVar[str] = "node_finished"
    node: str = ""
    cached: bool = False
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class NodeError(Event):
    kind: ClassVar[str] = "node_error"
    node: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class Cancelled(Event):
    kind: ClassVar[str] = "cancelled"
    node: str | None = None


@dataclass(frozen=True, slots=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    summary: RunSummary = field(default_factory=lambda: RunSummary(0))
