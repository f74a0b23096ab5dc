"""What a run may use besides its graph: one frozen, typed value built per run.

The application layer (``studio.app``) builds a ``RunServices`` from the current settings each
time a run is queued and hands it to the executor with the snapshot. Nodes reach it through the
typed accessors of ``NodeContext``. Nothing here is process-global: two runs queued with
different preferences each see their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .settings import Settings

# family -> a decoder for full-size previews (diffusers AutoencoderTiny) or None.
PreviewDecoderFinder = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class RunServices:
    settings: Settings = field(default_factory=Settings)
    # Folders a relative file name is looked up in, in order (the workflow's folder first).
    search_dirs: tuple[Path, ...] = ()
    # Where save nodes write; a file may only name subfolders of it.
    output_dir: Path | None = None
    # Builds (or returns the shared) model manager on first use: importing torch is not free.
    models_provider: Callable[[], Any] | None = None
    # TAESD decoders for previews, when the preferences allow them and weights are installed.
    preview_decoder: PreviewDecoderFinder | None = None
    # Named extras for plugins (``ctx.service(name)``).
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def model_roots(self) -> tuple[Path, ...]:
        return tuple(self.settings.model_roots)

    def models(self) -> Any:
        if self.models_provider is None:
            return None
        return self.models_provider()

    def with_workflow_dir(self, folder: Path | None) -> RunServices:
        """The same services with ``folder`` searched first for relative file names."""
        if folder is None:
            return self
        dirs = (folder, *(d for d in self.search_dirs if d != folder))
        return replace(self, search_dirs=dirs)


def lookup_services(settings: Settings | None = None) -> RunServices:
    """Services enough to look files up (no model manager, no output): for validating and wiring."""
    return RunServices(settings=settings or Settings())
