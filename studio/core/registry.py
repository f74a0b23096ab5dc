"""The node registry: built-in node types from ``nodes/``, plus third-party packs.

Packs come from the ``latent_studio.nodes`` entry-point group and from the user's plugins
folder, and only from there: a workflow that names an unknown type never causes code to load.
A pack that fails to import is recorded in ``Registry.errors``; it never stops the studio.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import pkgutil
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

from .nodetype import NodeDefinitionError, NodeType, check_node_type

ENTRY_POINT_GROUP = "latent_studio.nodes"


class Registry:
    def __init__(self, types: Iterable[NodeType] = ()) -> None:
        self._types: dict[str, NodeType] = {}
        self.errors: list[str] = []
        for nt in types:
            self.register(nt)

    # -- lookup ---------------------------------------------------------------------------------
    def get(self, type_id: str) -> NodeType | None:
        return self._types.get(type_id)

    def __getitem__(self, type_id: str) -> NodeType:
        return self._types[type_id]

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._types

    def __iter__(self) -> Iterator[NodeType]:
        return iter(sorted(self._types.values(), key=lambda t: (t.category, t.title)))

    def __len__(self) -> int:
        return len(self._types)

    def categories(self) -> list[str]:
        return sorted({t.category for t in self._types.values()})

    # -- registration ---------------------------------------------------------------------------
    def register(self, nt: NodeType, *, replace: bool = False) -> None:
        check_node_type(nt)
        old = self._types.get(nt.id)
        if old is not None and old is not nt and not replace:
            raise NodeDefinitionError(f"node type {nt.id!r} from {nt.source} is already registered by {old.source}")
        self._types[nt.id] = nt

    def load_module(self, module: ModuleType) -> list[NodeType]:
        """Register every ``NodeType`` defined at module level (that is what ``@node`` produces)."""
        found = [v for v in vars(module).values() if isinstance(v, NodeType) and v.source == module.__name__]
        for nt in found:
            self.register(nt)
        return found

    def load_builtins(self) -> None:
        import nodes

        for info in sorted(pkgutil.walk_packages(nodes.__path__, "nodes."), key=lambda i: i.name):
            self.load_module(importlib.import_module(info.name))

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        for ep in importlib.metadata.entry_points(group=group):
            self._guarded(f"node pack {ep.name!r} ({ep.value})", lambda ep=ep: self._load_object(ep.load()))

    def load_plugins_folder(self, folder: Path) -> None:
        """Import each ``*.py`` file and each package folder directly inside ``folder``."""
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            if path.name.startswith((".", "_")):
                continue
            if path.suffix == ".py":
                target = path
            elif (path / "__init__.py").is_file():
                target = path / "__init__.py"
            else:
                continue
            self._guarded(f"plugin {path}", lambda t=target, p=path: self.load_module(_import_file(p.stem, t)))

    def _load_object(self, obj: object) -> None:
        if isinstance(obj, ModuleType):
            self.load_module(obj)
        elif isinstance(obj, NodeType):
            self.register(obj)
        elif callable(obj):
            for nt in obj():
                self.register(nt)
        else:
            raise NodeDefinitionError(f"entry point gave {type(obj).__name__}, not a module or node types")

    def _guarded(self, what: str, load: object) -> None:
        try:
            load()  # type: ignore[operator]
        except Exception as exc:  # a broken pack must not stop the studio
            self.errors.append(f"could not load {what}: {exc}")
            self.errors.append(traceback.format_exc(limit=3))


def _import_file(name: str, path: Path) -> ModuleType:
    mod_name = f"latent_studio_plugins.{name}"
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(mod_name, None)
        raise
    return module


_default: Registry | None = None
_lock = threading.Lock()


def default_registry() -> Registry:
    """Built-ins, entry-point packs and the user's plugins folder, loaded once per process."""
    global _default
    with _lock:
        if _default is None:
            from .settings import Settings

            reg = Registry()
            reg.load_builtins()
            reg.load_entry_points()
            reg.load_plugins_folder(Settings.load().plugins_dir)
            _default = reg
        return _default
