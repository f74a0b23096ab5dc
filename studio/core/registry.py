"""The node registry: built-in node types from ``nodes/``, plus third-party packs.

Packs come from the ``latent_studio.nodes`` entry-point group and from the user's plugins
folder, and only from there: a workflow that names an unknown type never causes code to load.
A pack that fails to import is recorded in ``Registry.load_errors``; it never stops the studio:
its exceptions (``SystemExit`` included) are caught, and an import that does not finish within
``import_timeout`` seconds is left behind in its thread and reported.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import pkgutil
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from .nodetype import NodeDefinitionError, NodeType, check_node_type

ENTRY_POINT_GROUP = "latent_studio.nodes"
BUILTINS_GROUP = "latent_studio.builtins"
# Seconds one pack may take to import; generous, since a pack may import torch on a cold disk.
PLUGIN_IMPORT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PackError:
    """A node pack that could not be loaded."""

    pack: str  # its name: the plugin's file or folder name, or the entry point's name
    source: str  # where it came from: a path, or the entry point's ``module:attr``
    error: str  # one line for people
    detail: str = ""  # the traceback, for the log
    aliases: tuple[str, ...] = ()  # normalised names a type-id prefix of this pack may use

    def __str__(self) -> str:
        return f"node pack {self.pack!r} ({self.source}) could not be loaded: {self.error}"


class Registry:
    def __init__(self, types: Iterable[NodeType] = (), *, import_timeout: float = PLUGIN_IMPORT_TIMEOUT_S) -> None:
        self._types: dict[str, NodeType] = {}
        self.load_errors: list[PackError] = []
        self.import_timeout = import_timeout
        for nt in types:
            self.register(nt)

    @property
    def errors(self) -> list[str]:
        """One line per pack that failed to load."""
        return [str(e) for e in self.load_errors]

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

    def pack_of_failed_type(self, type_id: str) -> PackError | None:
        """The failed pack an unknown ``type_id`` probably comes from: the one whose name is the
        type id's first segment (``mypack.blur`` -> pack ``mypack``, ``my-pack`` or ``latent_studio_mypack``)."""
        if type_id in self._types:
            return None
        prefix = _normalise(type_id.split(".", 1)[0])
        return next((e for e in self.load_errors if prefix in e.aliases), None)

    def unknown_type_hint(self, type_id: str) -> str | None:
        """Why ``type_id`` is unknown, when a failed pack explains it; None otherwise."""
        failed = self.pack_of_failed_type(type_id)
        if failed is None:
            return None
        return (f"its node pack {failed.pack!r} failed to load: {failed.error} "
                "(`latent-studio nodes` lists every pack that failed)")

    # -- registration ---------------------------------------------------------------------------
    def register(self, nt: NodeType, *, replace: bool = False) -> None:
        check_node_type(nt)
        old = self._types.get(nt.id)
        if old is not None and old is not nt and not replace:
            raise NodeDefinitionError(f"node type {nt.id!r} from {nt.source} is already registered by {old.source}")
        self._types[nt.id] = nt

    def load_module(self, module: ModuleType) -> list[NodeType]:
        """Register every ``NodeType`` defined at module level (that is what ``@node`` produces)."""
        found = _types_in_module(module)
        for nt in found:
            self.register(nt)
        return found

    def load_builtins(self) -> None:
        """The node packages this installation ships, registered under the ``latent_studio.builtins``
        entry point (so that the core names no node package)."""
        found = importlib.metadata.entry_points(group=BUILTINS_GROUP)
        if not found:
            raise RuntimeError("the built-in nodes are not registered: reinstall Latent Studio "
                               "(the launcher does it, or `pip install -e .`)")
        for ep in sorted(found, key=lambda e: e.name):
            package = importlib.import_module(ep.value)
            prefix = package.__name__ + "."
            for info in sorted(pkgutil.walk_packages(package.__path__, prefix), key=lambda i: i.name):
                self.load_module(importlib.import_module(info.name))

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        for ep in importlib.metadata.entry_points(group=group):
            names = [ep.name, ep.value.split(":", 1)[0].split(".", 1)[0]]
            dist = getattr(ep, "dist", None)
            if dist is not None and getattr(dist, "name", None):
                names.append(dist.name)
            self._guarded(ep.name, ep.value, names, functools.partial(_entry_point_types, ep))

    def load_plugins_folder(self, folder: Path) -> None:
        """Import each ``*.py`` file and each package folder directly inside ``folder``."""
        if not folder.is_dir():
            return
        try:
            entries = sorted(folder.iterdir())
        except OSError as exc:
            self.load_errors.append(PackError(folder.name, str(folder), f"cannot list the plugins folder: {exc}"))
            return
        for path in entries:
            if path.name.startswith((".", "_")):
                continue
            if path.suffix == ".py":
                target = path
            elif (path / "__init__.py").is_file():
                target = path / "__init__.py"
            else:
                continue
            self._guarded(path.stem, str(path), [path.stem], functools.partial(_plugin_file_types, path.stem, target))

    def _guarded(self, pack: str, source: str, names: list[str], produce: Callable[[], list[NodeType]]) -> None:
        """Import a pack in a daemon thread, within the time limit, then register its types here.

        Whatever the pack's code does (raise, ``sys.exit()``, hang), the studio carries on."""
        found: list[NodeType] = []
        failure: list[tuple[str, str]] = []

        def run() -> None:
            try:
                found.extend(produce())
            except SystemExit as exc:
                failure.append((f"it called sys.exit({exc.code!r}) while loading", traceback.format_exc(limit=-5)))
            except BaseException as exc:  # noqa: BLE001 - a broken pack must not stop the studio
                failure.append((_one_line(exc), traceback.format_exc(limit=-5)))

        def fail(error: str, detail: str = "") -> None:
            aliases = tuple(sorted({a for n in names for a in _aliases(n)}))
            self.load_errors.append(PackError(pack, source, error, detail, aliases))

        worker = threading.Thread(target=run, name=f"load node pack {pack}", daemon=True)
        worker.start()
        worker.join(self.import_timeout)
        if worker.is_alive():  # left running: a daemon thread cannot be stopped, but nothing waits on it
            fail(f"it did not finish loading within {self.import_timeout:g} s")
            return
        if failure:
            fail(*failure[0])
            return
        done: list[NodeType] = []
        try:
            for nt in found:
                self.register(nt)
                done.append(nt)
        except NodeDefinitionError as exc:
            for nt in done:  # all of a pack or none of it
                self._types.pop(nt.id, None)
            fail(str(exc))


def _entry_point_types(ep: importlib.metadata.EntryPoint) -> list[NodeType]:
    return _types_of_object(ep.load())


def _plugin_file_types(name: str, path: Path) -> list[NodeType]:
    return _types_in_module(_import_file(name, path))


def _types_in_module(module: ModuleType) -> list[NodeType]:
    return [v for v in vars(module).values() if isinstance(v, NodeType) and v.source == module.__name__]


def _types_of_object(obj: object) -> list[NodeType]:
    """The node types an entry point gives: a module, one node type, or a function returning them."""
    if isinstance(obj, ModuleType):
        return _types_in_module(obj)
    if isinstance(obj, NodeType):
        return [obj]
    if callable(obj):
        types = list(obj())
        bad = [t for t in types if not isinstance(t, NodeType)]
        if bad:
            raise NodeDefinitionError(f"entry point gave {type(bad[0]).__name__}, not a node type")
        return types
    raise NodeDefinitionError(f"entry point gave {type(obj).__name__}, not a module or node types")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text if len(text) <= 300 else text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _aliases(name: str) -> set[str]:
    """A pack's name as a type-id prefix may spell it: ``Latent-Studio-My-Pack`` -> ``my_pack``, ``mypack``."""
    base = _normalise(name)
    out = {base}
    for lead in ("latent_studio_", "latentstudio_", "ls_"):
        if base.startswith(lead):
            out.add(base[len(lead):])
    for trail in ("_nodes", "_pack", "_node_pack"):
        out |= {a[: -len(trail)] for a in list(out) if a.endswith(trail) and len(a) > len(trail)}
    out |= {a.replace("_", "") for a in list(out)}
    return {a for a in out if a}


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
