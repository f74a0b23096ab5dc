"""The checks a run makes before it executes anything, made in one place for ``validate`` and ``run``.

``Graph.validate`` finds what is wrong in the graph itself: wires, parameter values, and each node
type's own ``check`` of its parameters (a model name leaving the model folders, a file of another
kind than the loader loads, an image file that is no image, ports whose families the file headers
tell apart). The pre-flight adds what needs the files to be there and the user's settings: every
model a node names must be in the model folders (a pickle, ``.ckpt`` / ``.pt``, only where the user
allows them), every image in the search folders, and a required file field must not be empty. Its
messages are the ones the nodes would fail with, so what ``validate`` reports as an error is exactly
what ``run`` refuses to start with:

- the command line: ``validate`` lists every problem and exits 2 on an error; ``run`` makes the same
  checks (after pointing nodes at renamed model files, as both do) and refuses to start;
- the window: a queued job carries the same problems in its snapshot, so the nodes that have one
  fail with that message without running, and so does everything that needs them.

Only nodes that a run executes are checked (``studio.core.plan``): a muted or bypassed node, a note,
or a loader that feeds only such nodes does not run, so a file it names missing is no problem, just
as ``Graph.validate`` reports nothing for such nodes. Missing annotator weights are warnings: the
run starts and only the preprocessor that needs them fails, naming what to put where.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from studio.core.context import NodeFailure, resolve_file
from studio.core.graph import Graph, Problem
from studio.core.plan import plan_run
from studio.core.services import RunServices
from studio.core.snapshot import GraphSnapshot
from studio.core.types import Kind

Where = tuple[str, str | None]  # (node id, parameter)


@dataclass
class Preflight:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # model files found under another name, and used
    missing_models: int = 0  # how many of the errors are model files not in the model folders

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def ok(self) -> bool:
        return not self.errors


def preflight(graph: Graph, services: RunServices | None = None, *, find_renamed: bool = False) -> Preflight:
    """Every problem a run of ``graph`` would meet before executing a node. With ``find_renamed``,
    model files missing under their recorded name are first looked up by SHA-256 (only files of the
    recorded size; hashes are cached) and the nodes pointed at them, as the headless runner does;
    a missing model is then described with its recorded family, substitutes and download."""
    services = services if services is not None else graph.services
    result = Preflight()
    described: dict[Where, str] = {}
    if find_renamed:
        from studio.diffusion.model_refs import resolve_missing

        found = resolve_missing(graph, services.settings)
        result.notes = [r.line() for r in found.rewritten]
        described = {(m.node_id, m.param): _missing_text(m) for m in found.missing if m.kind != "annotators"}
    plan = plan_run(graph)
    result.problems = graph.validate(plan)
    files = file_problems(graph, services, plan.inputs, result.problems, described)
    result.missing_models = sum(1 for p in files if (p.node_id, p.port) in described)
    result.problems += files
    if find_renamed:
        result.problems += [Problem(m.node_id, m.node_title, m.param, _missing_text(m), "warning")
                            for m in found.missing if m.kind == "annotators" and m.node_id in plan.inputs]
    return result


def checked_snapshot(snap: GraphSnapshot, graph: Graph, services: RunServices) -> GraphSnapshot:
    """``snap`` with the pre-flight's file problems of its nodes added: the executor does not run a
    node with an error (nor what needs it) and reports the error as the node's failure."""
    extra = file_problems(graph, services, snap.nodes, snap.problems)
    return replace(snap, problems=(*snap.problems, *extra)) if extra else snap


def file_problems(graph: Graph, services: RunServices, runs: Iterable[str], known: Iterable[Problem] = (),
                  described: Mapping[Where, str] | None = None) -> list[Problem]:
    """The file parameters of the nodes in ``runs`` that name no file a run can find, or are empty
    where a file is required. A parameter that already has an error in ``known`` is skipped (it is
    reported once); ``described`` gives fuller messages for missing model files."""
    reported = {(p.node_id, p.port) for p in known if p.severity == "error"}
    out: list[Problem] = []
    for node_id in runs:
        node = graph.nodes.get(node_id)
        nt = graph.node_type(node) if node is not None else None
        if node is None or nt is None:
            continue  # placeholders are reported by Graph.validate
        for decl in nt.params:
            if decl.kind is not Kind.FILE or (node_id, decl.name) in reported:
                continue
            value = node.params.get(decl.name, decl.default)
            if not isinstance(value, str) or (not value and decl.optional):
                continue
            message = _file_problem(decl.file_kind, decl.name, value, services)
            if message is not None:
                if described and "not found" in message:
                    message = described.get((node_id, decl.name), message)
                out.append(Problem(node_id, graph.title_of(node), decl.name, message))
    return out


def _file_problem(file_kind: str | None, what: str, value: str, services: RunServices) -> str | None:
    """Why a run cannot find the file ``value`` names, in the words the loading node would use."""
    from studio.diffusion.errors import ModelError
    from studio.diffusion.families import PICKLE_SUFFIXES
    from studio.diffusion.model_folders import KINDS, resolve

    if file_kind in KINDS:
        try:
            path = resolve(services.model_roots, file_kind, value)
            if path.suffix.lower() in PICKLE_SUFFIXES and path.is_file() and not services.settings.allow_ckpt:
                from studio.diffusion.weights import load_pickle

                load_pickle(path, allow_ckpt=False)  # refuses, in the loaders' words, before importing torch
        except ModelError as exc:
            return str(exc)
        except (OSError, ValueError) as exc:
            return f"{file_kind} model {value[:200]!r} cannot be looked up: {type(exc).__name__}"
        return None
    if file_kind == "image":
        try:
            resolve_file(value, services.search_dirs, what)
        except NodeFailure as exc:
            return str(exc)
    return None


def _missing_text(m: Any) -> str:
    """A ``MissingModel`` as a problem's message: what its line says after naming the node."""
    where = f"{m.node_title} [{m.node_id}]" + (f" › {m.param}" if m.param else "") + ": "
    line: str = m.line()
    return "missing model: " + line.removeprefix(where)
