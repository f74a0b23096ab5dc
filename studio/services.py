"""What node functions may ask the run for (``ctx.service(name)``), shared by the GUI and the CLI.

Heavy services (the model manager, which imports torch) are created on first use only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from studio.core.settings import Settings, resources_dir


class Services(dict[str, Any]):
    """A dict whose expensive entries are built the first time a node asks for them."""

    def __init__(self, factories: dict[str, Callable[[], Any]], **values: Any) -> None:
        super().__init__(**values)
        self._factories = factories

    def __missing__(self, key: str) -> Any:
        factory = self._factories.get(key)
        if factory is None:
            raise KeyError(key)
        value = self[key] = factory()
        return value

    def set_workflow_path(self, path: str | Path | None) -> None:
        """Relative file names in a workflow are looked up next to it first."""
        dirs = [d for d in self["search_dirs"] if d != self.get("_workflow_dir")]
        if path is not None:
            wdir = str(Path(path).resolve().parent)
            self["_workflow_dir"] = wdir
            dirs.insert(0, wdir)
        self["search_dirs"] = dirs


def _model_manager(settings: Settings) -> Any:
    from studio.diffusion.model_manager import ModelManager

    return ModelManager(settings)


def _taesd_finder(services: Services) -> Any:
    """family -> diffusers AutoencoderTiny for previews, when TAESD weights are in the models folder."""

    def find(family: str) -> Any:
        settings: Settings = services["settings"]
        if settings.preview not in ("auto", "taesd"):
            return None
        model = services["models"].load_taesd(family)
        return None if model is None else model.vae

    return find


def make_services(settings: Settings | None = None, *, workflow_path: str | Path | None = None,
                  output_dir: str | Path | None = None) -> Services:
    settings = settings or Settings.load()
    search = [str(Path.cwd()), str(settings.input_path), str(resources_dir())]
    services = Services(
        {"models": lambda: _model_manager(services["settings"]),
         "taesd": lambda: _taesd_finder(services)},
        settings=settings,
        search_dirs=search,
        output_dir=str(output_dir or settings.output_path),
    )
    services.set_workflow_path(workflow_path)
    return services
