"""A short human-readable parameters text for saved images.

When the image comes from a sampler, the text follows the A1111 ``parameters`` layout that other
tools read (prompt, ``Negative prompt:``, then ``Key: value`` pairs); otherwise it lists the
nodes that made the image with their key parameters.
"""

from __future__ import annotations

from typing import Any

from .snapshot import GraphSnapshot, SnapNode


def _upstream_in_order(snap: GraphSnapshot, node_id: str) -> list[SnapNode]:
    ups = set(snap.upstream(node_id))
    return [snap.nodes[n] for n in snap.order if n in ups]


def _source(snap: GraphSnapshot, node: SnapNode, port: str) -> SnapNode | None:
    link = node.inputs.get(port)
    return snap.nodes.get(link[0]) if link else None


def _prompt_of(snap: GraphSnapshot, node: SnapNode | None, side: str) -> str | None:
    """Follow one side (positive/negative) of a conditioning chain back to its text encoder."""
    for _ in range(32):
        if node is None:
            return None
        if "text" in node.params and node.type_id.startswith("text."):
            return str(node.params["text"])
        node = _source(snap, node, side) or _source(snap, node, "conditioning")
    return None


# Our sampler names as A1111 writes them, so other tools read our PNGs' parameters text.
A1111_SAMPLER_NAMES = {
    "euler": "Euler", "euler_ancestral": "Euler a", "heun": "Heun", "dpmpp_2m": "DPM++ 2M",
    "dpmpp_sde": "DPM++ SDE", "dpmpp_2m_sde": "DPM++ 2M SDE", "ddim": "DDIM", "uni_pc": "UniPC", "lcm": "LCM",
    "lms": "LMS", "dpm_2": "DPM2", "dpm_2_ancestral": "DPM2 a", "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_3m_sde": "DPM++ 3M SDE",
}
A1111_SCHEDULE_TYPES = {
    "karras": "Karras", "exponential": "Exponential", "simple": "Simple", "sgm_uniform": "SGM Uniform",
    "ddim_uniform": "DDIM", "beta": "Beta",
}
# A1111's "Automatic" schedule is Karras for these samplers, so "Normal" has to be written out for them.
_AUTO_KARRAS = frozenset({"dpmpp_2m", "dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde", "dpm_2", "dpm_2_ancestral",
                          "dpmpp_2s_ancestral"})


def _schedule_type(sampler: Any, scheduler: Any) -> str | None:
    if scheduler == "normal" and sampler in _AUTO_KARRAS:
        return "Normal"
    return A1111_SCHEDULE_TYPES.get(str(scheduler))


def _model_hash(snap: GraphSnapshot, file: str) -> str | None:
    """A1111's "Model hash": the first 10 hex digits of the file's SHA-256, from the models table."""
    for row in snap.document.get("models", ()):
        if isinstance(row, dict) and row.get("file") == file and isinstance(row.get("sha256"), str):
            return row["sha256"][:10]
    return None


def _control_units(snap: GraphSnapshot, node: SnapNode | None) -> list[str]:
    """A1111-style ControlNet unit texts for each control.apply along a conditioning chain."""
    units: list[str] = []
    while node is not None and node.type_id == "control.apply" and len(units) < 16:
        image = _source(snap, node, "image")
        module = image.type_id.split(".", 1)[1] if image and image.type_id.startswith("preprocess.") else "none"
        loader = _source(snap, node, "control_net")
        model = str(loader.params.get("controlnet", "")) if loader else ""
        model = model.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
        p = node.params
        units.append(f'"Module: {module}, Model: {model}, Weight: {_fmt(p.get("strength", 1.0))}, '
                     f'Guidance Start: {_fmt(p.get("start", 0.0))}, Guidance End: {_fmt(p.get("end", 1.0))}"')
        node = _source(snap, node, "positive")
    return list(reversed(units))


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
    positive = _prompt_of(snap, _source(snap, sampler, "positive"), "positive") or ""
    negative = _prompt_of(snap, _source(snap, sampler, "negative"), "negative")
    lines = [positive]
    if negative:
        lines.append(f"Negative prompt: {negative}")
    sampler_name = A1111_SAMPLER_NAMES.get(str(p.get("sampler")), p.get("sampler"))
    pairs: list[tuple[str, Any]] = [
        ("Steps", p.get("steps")),
        ("Sampler", sampler_name),
        ("Schedule type", _schedule_type(p.get("sampler"), p.get("scheduler"))),
        ("CFG scale", p.get("cfg")),
        ("Seed", p.get("seed")),
    ]
    latent = _source(snap, sampler, "latent")
    if latent is not None and "width" in latent.params:
        pairs.append(("Size", f"{latent.params['width']}x{latent.params['height']}"))
    model = _source(snap, sampler, "model")
    if model is not None and model.params.get("checkpoint"):
        file = str(model.params["checkpoint"])
        pairs.append(("Model hash", _model_hash(snap, file)))
        pairs.append(("Model", file.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]))
    if p.get("denoise", 1.0) != 1.0:
        pairs.append(("Denoising strength", p.get("denoise")))
    for i, unit in enumerate(_control_units(snap, _source(snap, sampler, "positive"))):
        pairs.append((f"ControlNet {i}", unit))
    pairs.append(("Version", "Latent Studio"))
    lines.append(", ".join(f"{k}: {_fmt(v)}" for k, v in pairs if v is not None))
    return "\n".join(lines)
