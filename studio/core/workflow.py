"""Workflow files: ``{"format": "latent-studio.workflow", "version": N, ...}``.

Saving is deterministic (save → load → save gives the same bytes). Loading checks every field and
turns any defect into one ``WorkflowError`` that names the JSON path, migrates files of older
format versions, and keeps unknown node types as placeholders. Loading never runs code.
"""

from __future__ import annotations

import contextlib
import json
import platform
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text
from .graph import MAX_PORTS, NODE_MODES, NORMAL, Graph, GraphError, Group, Link, Node, is_color, new_id
from .jsonread import MAX_DEPTH as MAX_DEPTH  # re-exported: importers and tests read the limits here
from .jsonread import MAX_JSON_ITEMS as MAX_JSON_ITEMS
from .jsonread import JsonReader as _Reader
from .jsonread import WorkflowError as WorkflowError
from .jsonread import gc_paused, loads_bounded
from .jsonread import kind_of as _kind
from .registry import Registry
from .settings import Settings

FORMAT = "latent-studio.workflow"
VERSION = 1
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_NODES = 100_000
DEFAULT_RNG = {"noise": "cpu", "generator": "torch.Generator('cpu').manual_seed(seed)", "per_node_seed": True}


# --- saving -------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _library_versions() -> dict[str, str]:
    out = {}
    for dist in ("torch", "diffusers", "transformers"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def current_environment(device: str | None = None, dtype: str | None = None,
                        settings: Settings | None = None) -> dict[str, Any]:
    """What produced a file: app, Python, library versions (read without importing them), and the
    device and dtype of the settings in force (never re-read from disk here)."""
    from studio import __version__

    settings = settings or Settings()
    env: dict[str, Any] = {"app": f"latent-studio {__version__}", "python": platform.python_version()}
    env.update(_library_versions())
    env["device"] = device or settings.device
    env["dtype"] = dtype or settings.dtype
    return env


def graph_to_document(graph: Graph, *, environment: dict[str, Any] | None = None) -> dict[str, Any]:
    nodes = []
    for n in graph.nodes.values():
        entry: dict[str, Any] = {"id": n.id, "type": n.type_id, "version": n.version}
        if n.title:
            entry["title"] = n.title
        entry["pos"] = [n.pos[0], n.pos[1]]
        if n.mode != NORMAL:
            entry["mode"] = n.mode
        if n.collapsed:
            entry["collapsed"] = True
        if n.color:
            entry["color"] = n.color
        if graph.registry.get(n.type_id) is None and (n.placeholder_inputs or n.placeholder_outputs):
            # An unknown node's ports in their real order (a bypass routes by position).
            entry["ports"] = {"inputs": list(n.placeholder_inputs), "outputs": list(n.placeholder_outputs)}
        entry["params"] = n.params
        entry.update(n.extra)
        nodes.append(entry)
    links = [{"from": [lk.src, lk.src_port], "to": [lk.dst, lk.dst_port]} for lk in graph.links.values()]
    groups = []
    for g in graph.groups:
        entry = {"id": g.id, "title": g.title, "rect": list(g.rect)}
        if g.color:
            entry["color"] = g.color
        entry.update(g.extra)
        groups.append(entry)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "nodes": nodes,
        "links": links,
        "groups": groups,
        "models": graph.models,
        "environment": environment if environment is not None else current_environment(
            settings=graph.services.settings),
        "rng": graph.rng or dict(DEFAULT_RNG),
        "extra": graph.extra,
    }
    doc.update(graph.unknown)
    return doc


def dumps(graph: Graph, *, environment: dict[str, Any] | None = None) -> str:
    return document_text(graph_to_document(graph, environment=environment))


def document_text(doc: Any) -> str:
    """Indented JSON, with lists of plain values (positions, rectangles, links) kept on one line."""
    out: list[str] = []
    _encode(doc, 0, out)
    out.append("\n")
    return "".join(out)


_CONTAINERS = (dict, list, tuple)
_encode_text = json.encoder.encode_basestring  # C-accelerated, keeps non-ASCII


def _scalar(value: Any) -> str:
    """One JSON scalar, as ``json.dumps(value, ensure_ascii=False, allow_nan=False)`` writes it, without
    building an encoder per value (saving a large graph calls this hundreds of thousands of times)."""
    t = type(value)
    if t is str:
        return _encode_text(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if t is int:
        return int.__repr__(value)
    if t is float and value - value == 0.0:  # finite
        return float.__repr__(value)
    return json.dumps(value, ensure_ascii=False, allow_nan=False)  # subclasses; NaN and ∞ raise


def _is_flat(items: Any) -> bool:
    return not any(isinstance(v, _CONTAINERS) for v in items)


def _encode(value: Any, level: int, out: list[str]) -> None:
    # Scalars are written inline rather than through a call per value: saving is linear, but a
    # 20,000-node graph has half a million values.
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        pad = "  " * level
        inner = pad + "  "
        out.append("{\n")
        last = len(value) - 1
        for i, (k, v) in enumerate(value.items()):
            out += (inner, _encode_text(k) if type(k) is str else _scalar(str(k)), ": ")
            if isinstance(v, _CONTAINERS):
                _encode(v, level + 1, out)
            else:
                out.append(_scalar(v))
            out.append(",\n" if i < last else "\n")
        out += (pad, "}")
    elif isinstance(value, list | tuple):
        if not value:
            out.append("[]")
        elif _is_flat(value):
            out.append("[" + ", ".join(map(_scalar, value)) + "]")
        elif len(value) <= 4 and all(isinstance(v, list | tuple) and _is_flat(v) for v in value):
            out.append("[" + ", ".join("[" + ", ".join(map(_scalar, v)) + "]" for v in value) + "]")
        else:
            pad = "  " * level
            inner = pad + "  "
            out.append("[\n")
            last = len(value) - 1
            for i, v in enumerate(value):
                out.append(inner)
                _encode(v, level + 1, out)
                out.append(",\n" if i < last else "\n")
            out += (pad, "]")
    else:
        out.append(_scalar(value))


def save(graph: Graph, path: str | Path) -> None:
    """Write atomically (unique temporary name, fsync, rename; a symlink and the file's mode are
    kept): a crash or a concurrent save never leaves a half-written workflow behind."""
    atomic_write_text(Path(path), dumps(graph))


# --- loading ------------------------------------------------------------------------------------


def parse_json(data: bytes | str, *, source: str | None = None) -> Any:
    """JSON text → value, with every failure as a WorkflowError; bounded in size, values and depth."""
    if isinstance(data, bytes):
        if len(data) > MAX_FILE_BYTES:
            raise WorkflowError("$", f"file is larger than {MAX_FILE_BYTES // 2**20} MiB", source=source)
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise WorkflowError("$", f"not UTF-8 text (byte {exc.start})", source=source) from None
    elif len(data) > MAX_FILE_BYTES:
        raise WorkflowError("$", f"file is larger than {MAX_FILE_BYTES // 2**20} MiB", source=source)
    return loads_bounded(data.removeprefix("\ufeff"), source)


def loads(data: bytes | str, registry: Registry, *, source: str | None = None) -> Graph:
    with gc_paused():  # a large document builds many objects and makes no garbage cycles
        return document_to_graph(parse_json(data, source=source), registry, source=source)


def load(path: str | Path, registry: Registry) -> Graph:
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise WorkflowError("$", f"file is larger than {MAX_FILE_BYTES // 2**20} MiB", source=str(path))
        data = path.read_bytes()
    except OSError as exc:
        raise WorkflowError("$", f"cannot read the file: {exc.strerror or exc}", source=str(path)) from None
    return loads(data, registry, source=str(path))


_NODE_KEYS = ("id", "type", "version", "title", "pos", "mode", "collapsed", "color", "ports", "params")
_GROUP_KEYS = ("id", "title", "rect", "color")
_TOP_KEYS = ("format", "version", "nodes", "links", "groups", "models", "environment", "rng", "extra")


def document_to_graph(doc: Any, registry: Registry, *, source: str | None = None) -> Graph:
    r = _Reader(source)
    doc = r.obj(doc, "$")
    fmt = doc.get("format")
    if fmt != FORMAT:
        hint = ""
        if ("nodes" in doc and "links" in doc) or (doc and all(isinstance(v, dict) and "class_type" in v
                                                                for v in doc.values())):
            hint = " (this looks like a ComfyUI workflow: use Import)"
        raise r.fail("$.format", f"not a Latent Studio workflow: expected {FORMAT!r}, found {fmt!r}{hint}")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise r.fail("$.version", f"expected a whole number, found {_kind(version)}")
    if version > VERSION:
        raise r.fail("$.version", f"file format version {version} is newer than this app understands "
                                  f"({VERSION}); update Latent Studio")
    if version < 0:
        raise r.fail("$.version", f"no such format version {version}")
    while version < VERSION:
        doc = MIGRATIONS[version](doc, r)
        version = doc["version"]

    graph = Graph(registry)
    nodes_json = r.arr(doc.get("nodes", []), "$.nodes")
    if len(nodes_json) > MAX_NODES:
        raise r.fail("$.nodes", f"more than {MAX_NODES} nodes")
    links_json = r.arr(doc.get("links", []), "$.links")
    parsed_links: list[Link] = []
    # The port names each node's wires use, indexed once: unknown nodes take their ports from here.
    ports_in: dict[str, dict[str, None]] = {}
    ports_out: dict[str, dict[str, None]] = {}
    for i, raw in enumerate(links_json):
        path = f"$.links[{i}]"
        raw = r.obj(raw, path)
        src, src_port = r.port_ref(raw.get("from"), f"{path}.from")
        dst, dst_port = r.port_ref(raw.get("to"), f"{path}.to")
        parsed_links.append(Link(src, src_port, dst, dst_port))
        ports_out.setdefault(src, {})[src_port] = None
        ports_in.setdefault(dst, {})[dst_port] = None

    for i, raw in enumerate(nodes_json):
        path = f"$.nodes[{i}]"
        raw = r.obj(raw, path)
        node_id = r.text(raw.get("id"), f"{path}.id")
        if node_id in graph.nodes:
            raise r.fail(f"{path}.id", f"duplicate node id {node_id!r}")
        type_id = r.text(raw.get("type"), f"{path}.type")
        nver = r.text(raw.get("version", "1.0.0"), f"{path}.version")
        title = raw.get("title")
        if title is not None:
            title = r.text(title, f"{path}.title", empty=True)
        pos = r.point(raw.get("pos", [0, 0]), f"{path}.pos", 2)
        params = dict(r.obj(raw.get("params", {}), f"{path}.params"))
        extra = {k: v for k, v in raw.items() if k not in _NODE_KEYS}
        nt = registry.get(type_id)
        node = Node(node_id, type_id, nver, params, (pos[0], pos[1]), title or None, extra)
        node.mode = r.text(raw.get("mode", NORMAL), f"{path}.mode")
        if node.mode not in NODE_MODES:
            raise r.fail(f"{path}.mode", f"expected one of {', '.join(NODE_MODES)}, found {node.mode!r}")
        collapsed = raw.get("collapsed", False)
        if not isinstance(collapsed, bool):
            raise r.fail(f"{path}.collapsed", f"expected true or false, found {_kind(collapsed)}")
        node.collapsed = collapsed
        node.color = _color(raw.get("color"))
        if nt is None:
            declared = _declared_ports(r, raw.get("ports"), f"{path}.ports")
            # Declared ports first, in their order; then any other names its wires use.
            node.placeholder_inputs = tuple(dict.fromkeys([*declared[0], *ports_in.get(node_id, ())]))
            node.placeholder_outputs = tuple(dict.fromkeys([*declared[1], *ports_out.get(node_id, ())]))
            for side, names in (("inputs", node.placeholder_inputs), ("outputs", node.placeholder_outputs)):
                if len(names) > MAX_PORTS:
                    raise r.fail(path, f"unknown node {node_id!r} ({type_id}) is wired through {len(names)} "
                                       f"different {side}; at most {MAX_PORTS} are allowed")
        else:
            if nver.split(".")[0] != nt.version.split(".")[0] and nt.upgrade is not None:
                try:
                    params = nt.upgrade(dict(params), nver)
                except Exception as exc:
                    raise r.fail(f"{path}.params", f"cannot upgrade {type_id} {nver} → {nt.version}: {exc}") from None
                node.version = nt.version
            node.params = {**nt.default_params(), **params}
        graph.insert_node(node)

    for i, lk in enumerate(parsed_links):
        path = f"$.links[{i}]"
        if lk.src not in graph.nodes:
            raise r.fail(f"{path}.from[0]", f"no node with id {lk.src!r}")
        if lk.dst not in graph.nodes:
            raise r.fail(f"{path}.to[0]", f"no node with id {lk.dst!r}")
        if (lk.dst, lk.dst_port) in graph.links:
            raise r.fail(f"{path}.to", f"input {lk.dst_port!r} of node {lk.dst!r} has two wires")
        graph.insert_link(lk)

    for i, raw in enumerate(r.arr(doc.get("groups", []), "$.groups")):
        path = f"$.groups[{i}]"
        raw = r.obj(raw, path)
        gid = r.text(raw.get("id", new_id()), f"{path}.id")
        gtitle = r.text(raw.get("title", ""), f"{path}.title", empty=True)
        rect = r.point(raw.get("rect"), f"{path}.rect", 4)
        color = _color(raw.get("color"))
        g = Group(gid, gtitle, rect, color, {k: v for k, v in raw.items() if k not in _GROUP_KEYS})  # type: ignore[arg-type]
        graph.groups.append(g)

    models = r.arr(doc.get("models", []), "$.models")
    for i, m in enumerate(models):
        m = r.obj(m, f"$.models[{i}]")
        r.text(m.get("file"), f"$.models[{i}].file")
    graph.models = models
    graph.environment = r.obj(doc.get("environment", {}), "$.environment")
    graph.rng = r.obj(doc.get("rng", dict(DEFAULT_RNG)), "$.rng")
    graph.extra = r.obj(doc.get("extra", {}), "$.extra")
    graph.unknown = {k: v for k, v in doc.items() if k not in _TOP_KEYS}
    try:
        graph.topological_order()
    except GraphError:
        raise r.fail("$.links", "the links make a loop") from None
    return graph


def _declared_ports(r: _Reader, value: Any, path: str) -> tuple[list[str], list[str]]:
    """An unknown node's ``{"inputs": [...], "outputs": [...]}`` as saved, bounded like its wires."""
    if value is None:
        return [], []
    value = r.obj(value, path)
    out: list[list[str]] = []
    for side in ("inputs", "outputs"):
        names = r.arr(value.get(side, []), f"{path}.{side}")
        if len(names) > MAX_PORTS:
            raise r.fail(f"{path}.{side}", f"more than {MAX_PORTS} ports")
        out.append([r.text(n, f"{path}.{side}[{i}]") for i, n in enumerate(names)])
    return out[0], out[1]


def _color(value: Any) -> str | None:
    """A colour as ``#rgb``, ``#rrggbb`` or ``#aarrggbb``; None for the default, and for any other
    spelling or JSON type (a colour is cosmetic: files from older versions and other tools still open)."""
    return value if is_color(value) else None


# --- migrations: one function per format version, each upgrading to the next -------------------


def _v0_to_v1(doc: dict[str, Any], r: _Reader) -> dict[str, Any]:
    """Version 0 kept nodes in an object keyed by id, mixed links into ``inputs`` as
    ``[source id, output]`` pairs, stored ``position`` as ``{"x", "y"}`` and called titles ``label``."""
    nodes_in = r.obj(doc.get("nodes", {}), "$.nodes")
    nodes, links = [], []
    for node_id, raw in nodes_in.items():
        path = f"$.nodes.{node_id}"
        raw = r.obj(raw, path)
        inputs = r.obj(raw.get("inputs", {}), f"{path}.inputs")
        params = {}
        for name, value in inputs.items():
            if (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
                    and value[0] in nodes_in):
                links.append({"from": [value[0], value[1]], "to": [node_id, name]})
            else:
                params[name] = value
        position = r.obj(raw.get("position", {"x": 0, "y": 0}), f"{path}.position")
        entry: dict[str, Any] = {
            "id": node_id,
            "type": r.text(raw.get("type"), f"{path}.type"),
            "version": "1.0.0",
        }
        if raw.get("label"):
            entry["title"] = r.text(raw["label"], f"{path}.label")
        entry["pos"] = [r.num(position.get("x", 0), f"{path}.position.x"),
                        r.num(position.get("y", 0), f"{path}.position.y")]
        entry["params"] = params
        nodes.append(entry)
    out = {k: v for k, v in doc.items() if k not in ("nodes", "version")}
    out.update({"version": 1, "nodes": nodes, "links": links})
    return out


MIGRATIONS: dict[int, Callable[[dict[str, Any], _Reader], dict[str, Any]]] = {0: _v0_to_v1}


# --- any file a user may hand us ----------------------------------------------------------------


def load_file(path: str | Path, registry: Registry) -> Graph:
    """A workflow JSON file, or a PNG that carries one."""
    from .pngmeta import WORKFLOW_KEY, PngMetadataError, is_png, read_text_chunks

    path = Path(path)
    if not path.exists():
        raise WorkflowError("$", "no such file", source=str(path))
    if is_png(path):
        try:
            texts = read_text_chunks(path)
        except PngMetadataError as exc:
            raise WorkflowError("$", str(exc), source=str(path)) from None
        if WORKFLOW_KEY in texts:
            return loads(texts[WORKFLOW_KEY], registry, source=f"{path} (embedded workflow)")
        if "workflow" in texts or "prompt" in texts:
            raise WorkflowError("$", "this PNG carries a ComfyUI workflow, not a Latent Studio one (use Import)",
                                source=str(path))
        raise WorkflowError("$", "this PNG carries no workflow", source=str(path))
    return load(path, registry)
