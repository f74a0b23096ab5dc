"""What an import could not carry over exactly, as lines a person reads."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Note:
    kind: str  # "unmapped", "approximated", "dropped" or "info"
    text: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


@dataclass
class ImportReport:
    """The notes of one import, in the order they arose; each line stands on its own."""

    source: str  # e.g. "ComfyUI (UI workflow)", "A1111 parameters"
    notes: list[Note] = field(default_factory=list)
    _seen: set[Note] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._seen = set(self.notes)

    def add(self, kind: str, text: str) -> None:
        note = Note(kind, text)
        if note not in self._seen:  # one line per fact, however many nodes share it (a set: linear)
            self._seen.add(note)
            self.notes.append(note)

    def unmapped(self, text: str) -> None:
        self.add("unmapped", text)

    def approximated(self, text: str) -> None:
        self.add("approximated", text)

    def dropped(self, text: str) -> None:
        self.add("dropped", text)

    def info(self, text: str) -> None:
        self.add("info", text)

    @property
    def lines(self) -> list[str]:
        return [str(n) for n in self.notes]

    def of_kind(self, kind: str) -> list[str]:
        return [n.text for n in self.notes if n.kind == kind]

    def __str__(self) -> str:
        return "\n".join([f"imported from {self.source}", *self.lines])
