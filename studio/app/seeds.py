"""Seed policies: after a run is queued, each seed whose policy says so moves on for the next run.

A node declares a ``Seed("seed")`` input and a ``SeedControl("seed")`` parameter named
``seed_control``; the policy is an ordinary parameter (saved, undoable), so the window, the queue's
batch count and ``latent-studio run --repeat`` all follow the same rule.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from studio.core.graph import Graph
from studio.core.types import SEED_MAX


def next_seed(policy: str, seed: int, rng: random.Random) -> int:
    if policy == "increment":
        return seed + 1 if seed < SEED_MAX else 0
    if policy == "decrement":
        return seed - 1 if seed > 0 else SEED_MAX
    if policy == "randomize":
        return rng.randrange(SEED_MAX + 1)
    return seed


def seed_params(graph: Graph) -> Iterator[tuple[str, str, str]]:
    """(node id, seed parameter, policy) for every seed that has a policy parameter."""
    for node in graph.nodes.values():
        nt = graph.node_type(node)
        if nt is None:
            continue
        for decl in nt.params:
            if decl.widget == "seed_control" and decl.name.endswith("_control"):
                seed_name = decl.name[: -len("_control")]
                if nt.input(seed_name) is not None:
                    yield node.id, seed_name, str(node.params.get(decl.name, decl.default))


def seed_changes(graph: Graph, rng: random.Random) -> Iterator[tuple[str, str, int, int]]:
    """(node id, seed parameter, old value, new value) for every seed its policy moves."""
    for node_id, seed_name, policy in list(seed_params(graph)):
        node = graph.nodes[node_id]
        decl = graph.node_type(node).input(seed_name)  # type: ignore[union-attr]
        old = node.params.get(seed_name, decl.default if decl else 0)
        if not isinstance(old, int) or isinstance(old, bool):
            continue
        new = next_seed(policy, old, rng)
        if new != old:
            yield node_id, seed_name, old, new


def migrate_seed_modes(graph: Graph) -> int:
    """Files from before seed policies were parameters kept them in ``extra["seed_control"]``."""
    moved = 0
    for node in graph.nodes.values():
        modes = node.extra.get("seed_control")
        if not isinstance(modes, dict):
            continue
        nt = graph.node_type(node)
        for seed_name, mode in list(modes.items()):
            decl = nt.input(f"{seed_name}_control") if nt else None
            if decl is not None and mode in (decl.choices or ()):
                node.params[decl.name] = mode  # files with this extra predate the parameter
                del modes[seed_name]
                moved += 1
        if not modes:
            node.extra.pop("seed_control", None)
    return moved
