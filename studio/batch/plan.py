"""A batch plan: the parameter values of every run, decided up front by the driver.

Sweeps are crossed (every combination, the first axis outermost). Seeds with a policy move on between
runs exactly as they do between ``latent-studio run --repeat`` runs, and each run's seed values are
written into its entry: a worker applies an entry to the workflow as loaded and needs nothing else,
so a run gives the same result whichever worker takes it, in whatever order.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from studio.app.seeds import seed_changes, seed_params
from studio.core.graph import Graph
from studio.core.types import MODEL_KINDS

_MODEL_KINDS = frozenset(str(k) for k in MODEL_KINDS)


@dataclass(frozen=True)
class Override:
    """One parameter value set for a run."""

    node_id: str
    param: str
    value: Any


@dataclass(frozen=True)
class RunSpec:
    index: int  # position in the plan (0-based); output files are numbered in this order
    overrides: tuple[Override, ...]  # the varied values, then every seed's value
    label: str = ""  # what varies, for progress lines
    # The model files the run loads: runs with the same key go to the same worker where possible,
    # so that its model cache is reused.
    model_key: tuple[tuple[str, str, str], ...] = ()
    # A whole workflow to run instead of the one the worker was started with (a queued job from the
    # window); the worker keeps its caches, so what is unchanged is not run again.
    document: str | None = None


def crossed(axes: Sequence[Sequence[Sequence[Override]]]) -> list[list[Override]]:
    """Every combination of one choice per axis (one run with no overrides when there is no axis)."""
    return [[o for choice in combo for o in choice] for combo in itertools.product(*axes)]


def model_key(graph: Graph) -> tuple[tuple[str, str, str], ...]:
    """(node id, parameter, file) for every model file the graph's nodes name."""
    key = []
    for node in graph.nodes.values():
        nt = graph.node_type(node)
        for decl in nt.params if nt else ():
            if decl.file_kind in _MODEL_KINDS:
                key.append((node.id, decl.name, str(node.params.get(decl.name, decl.default))))
    return tuple(sorted(key))


def _label(graph: Graph, overrides: Sequence[Override]) -> str:
    parts = []
    for o in overrides:
        title = graph.title_of(o.node_id) if o.node_id in graph.nodes else o.node_id
        text = str(o.value)
        parts.append(f"{title}.{o.param}={text if len(text) <= 40 else text[:39] + '…'}")
    return ", ".join(parts)


def build_plan(graph: Graph, variants: Sequence[Sequence[Override]], *, rng: random.Random | None = None
               ) -> list[RunSpec]:
    """One entry per variant. ``graph`` is changed as ``run`` changes it: each variant's values are
    set, and the seeds move on after each run as their policies say."""
    rng = rng or random.Random()
    plan = []
    for index, variant in enumerate(variants):
        for o in variant:
            graph.set_param(o.node_id, o.param, o.value)
        seeds = []
        for node_id, name, _policy in seed_params(graph):
            decl = graph.node_type(graph.nodes[node_id]).input(name)  # type: ignore[union-attr]
            seeds.append(Override(node_id, name, graph.nodes[node_id].params.get(name, decl.default if decl else 0)))
        plan.append(RunSpec(index, (*variant, *seeds), _label(graph, variant), model_key(graph)))
        # As ``Session.enqueue`` does: only the seeds of nodes the run includes move on.
        ran = set(graph.snapshot().nodes)
        for node_id, name, _old, new in list(seed_changes(graph, rng)):
            if node_id in ran:
                graph.set_param(node_id, name, new)
    return plan
