"""A short human-readable parameters text for saved images.

When the image comes from a sampler, the text follows the A1111 ``parameters`` layout that other
tools read (prompt, ``Negative prompt:``, then ``Key: value`` pairs); otherwise it lists the
nodes that made the image with their key parameters.
"""

from __future__ import annotations

from typing import Any

from .graph import GraphSnapshot, SnapNode


def _upstream_in_order(snap: GraphSnapshot, node_id: str) -> list[SnapNode]:
    ups = set(snap.upstream(node_id))
    return [snap.nodes[n] for n in snap.order if n in ups]


def _source(snap: GraphSnapshot, node: SnapNode, port: str) -> SnapNode | None:
    link = node.inputs.get(port)
    return snap.nodes.get(link[0]) if link else None


def _prompt_of(snap: GraphSnapshot, node: SnapNode | None, depth: int = 0) -> str | None:
    """Follow a conditioning chain (through control nodes) back to its text encoder."""
    while node is not None and depth < 32:
        if "text" in node.params and node.type_id.startswith("text."):
            return str(node.params["text"])
        nxt = _source(snap, node, "positive") or _source(snap, node, "conditioning")
        node, depth = nxt, depth + 1
    return None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def parameters_text(snap: GraphSnapshot, node_id: str) -> str:
    nodes = _upstream_in_order(snap, node_id)
    sampler = next((n for n in reversed(nodes) if n.type_id == "sample.sampler"), None)
    if sampler is None:
        parts = []
        for n in nodes:
            keys = n.type.summary if n.type else ()
            shown = ", ".join(f"{k} {_fmt(n.params[k])}" for k in keys if k in n.params)
            parts.append(f"{n.title} ({shown})" if shown else n.title)
        return "Latent Studio: " + " → ".join(parts) if parts else "Latent Studio"
    p = sampler.params
    positive = _prompt_of(snap, _source(snap, sampler, "positive")) or ""
    negative = _prompt_of(snap, _source(snap, sampler, "negative"))
    lines = [positive]
    if negative:
        lines.append(f"Negative prompt: {negative}")
    pairs: list[tuple[str, Any]] = [
        ("Steps", p.get("steps")),
        ("Sampler", p.get("sampler")),
        ("Schedule type", p.get("scheduler")),
        ("CFG scale", p.get("cfg")),
        ("Seed", p.get("seed")),
    ]
    latent = _source(snap, sampler, "latent")
    if latent is not None and "width" in latent.params:
        pairs.append(("Size", f"{latent.params['width']}x{latent.params['height']}"))
    model = _source(snap, sampler, "model")
    if model is not None and model.params.get("checkpoint"):
        pairs.append(("Model", str(model.params["checkpoint"]).rsplit("/", 1)[-1].rsplit(".", 1)[0]))
    if p.get("denoise", 1.0) != 1.0:
        pairs.append(("Denoising strength", p.get("denoise")))
    pairs.append(("Version", "Latent Studio"))
    lines.append(", ".join(f"{k}: {_fmt(v)}" for k, v in pairs if v is not None))
    return "\n".join(lines)
