"""Events of the session itself (the queue and the document), beside the executor's run events.

Front ends get both kinds through one callback and dispatch on the type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .queue import Job


@dataclass(frozen=True, slots=True)
class SessionEvent:
    pass


@dataclass(frozen=True, slots=True)
class JobQueued(SessionEvent):
    job: Job


@dataclass(frozen=True, slots=True)
class JobStarted(SessionEvent):
    job: Job


@dataclass(frozen=True, slots=True)
class JobFinished(SessionEvent):
    job: Job


@dataclass(frozen=True, slots=True)
class QueueChanged(SessionEvent):
    """Jobs were cancelled, removed or cleared."""


@dataclass(frozen=True, slots=True)
class DocumentChanged(SessionEvent):
    """A new document was opened, saved or replaced, or its dirty state flipped."""

    path: Path | None
    dirty: bool


@dataclass(frozen=True, slots=True)
class GraphEdited(SessionEvent):
    """One edit of the graph model (``what``: node_added, link_removed, param_changed, …)."""

    what: str
    info: dict[str, Any] = field(default_factory=dict)
