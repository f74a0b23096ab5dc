"""Building a run's ``RunServices`` from the settings of the moment.

The model manager is shared between runs while the choices it was built from (model folders,
device, dtype, memory budget) are unchanged, so loaded models stay resident; change one in
Preferences and the next run gets a manager built from the new choices.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from studio.core.services import RunServices
from studio.core.settings import Settings, resources_dir


def _manager_key(settings: Settings) -> tuple[Any, ...]:
    return (tuple(str(r) for r in settings.model_roots), settings.device, settings.dtype,
            settings.memory_budget_gb, settings.allow_ckpt, settings.compile_models, settings.fuse_qkv,
            settings.fp8_weights,
            settings.channels_last)


class ModelManagers:
    """Hands out the model manager for a given set of settings; one at a time is kept."""

    def __init__(self, *, convert_in_child: bool = False) -> None:
        """``convert_in_child``: convert large model files in a child process (the window: its event
        loop stays free; a headless run converts in its own process, which is faster)."""
        self.convert_in_child = convert_in_child
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._manager: Any = None

    def for_settings(self, settings: Settings) -> Any:
        key = _manager_key(settings)
        with self._lock:
            if self._manager is None or key != self._key:
                from studio.diffusion.model_manager import ModelManager

                self._manager, self._key = ModelManager(settings, convert_in_child=self.convert_in_child), key
            else:
                self._manager.settings = settings  # same choices; newer values for the rest
            return self._manager

    @property
    def current(self) -> Any:
        """The manager built for the last run, if any (for the Model Manager window's listing)."""
        return self._manager


def _preview_finder(settings: Settings, models: ModelManagers) -> Any:
    if settings.preview not in ("auto", "taesd"):
        return None

    def find(family: str) -> Any:
        model = models.for_settings(settings).load_taesd(family)
        return None if model is None else model.vae

    return find


def search_dirs_for(settings: Settings, workflow_path: str | Path | None) -> tuple[Path, ...]:
    """Where relative file names are looked up: next to the workflow, the working folder, the
    input folder, then the shipped resources."""
    dirs: list[Path] = []
    if workflow_path is not None:
        dirs.append(Path(workflow_path).resolve().parent)
    for d in (Path.cwd(), settings.input_path, resources_dir()):
        if d not in dirs:
            dirs.append(d)
    return tuple(dirs)


def build_run_services(settings: Settings, models: ModelManagers, *, workflow_path: str | Path | None = None,
                       output_dir: str | Path | None = None) -> RunServices:
    return RunServices(
        settings=settings,
        search_dirs=search_dirs_for(settings, workflow_path),
        # Absolute once, here: a relative folder must not move when the working folder does.
        output_dir=Path(os.path.abspath(Path(output_dir) if output_dir else settings.output_path)),
        models_provider=lambda: models.for_settings(settings),
        preview_decoder=_preview_finder(settings, models),
    )
