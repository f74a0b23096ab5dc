"""ComfyUI workflows (API prompt or UI file, as JSON) → our graph, and a report of what changed.

Each ComfyUI node becomes one of ours with its values translated to our meanings; what has no
counterpart becomes a placeholder node that keeps the class, values and wires. Editor matter comes
along: reroutes, notes, muted and bypassed nodes (wired as in the file: a run plan routes around
them), collapse and colours. Nothing is run.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from studio.core.graph import BYPASS, MAX_PORTS, MUTE, Graph, GraphError, Link, Node
from studio.core.registry import Registry
from studio.core.workflow import MAX_NODES

from . import comfyui_core_nodes as core
from . import comfyui_masks as masks
from .comfyui_adapters import TRANSLATORS as ADAPTER_TRANSLATORS
from .comfyui_core_more import TRANSLATORS as CORE_MORE_TRANSLATORS
from .comfyui_core_ops import TRANSLATORS as CORE_OPS_TRANSLATORS
from .comfyui_custom_sampling import TRANSLATORS as CUSTOM_SAMPLING_TRANSLATORS
from .comfyui_gligen import TRANSLATORS as GLIGEN_TRANSLATORS
from .comfyui_groups import expand_group_nodes
from .comfyui_model_patches import NOT_YET as MODEL_PATCHES_NOT_YET
from .comfyui_model_patches import TRANSLATORS as MODEL_PATCH_TRANSLATORS
from .comfyui_model_sampling import TRANSLATORS as MODEL_SAMPLING_TRANSLATORS
from .comfyui_packs_nodes import PACK_TRANSLATORS
from .comfyui_packs_wires import resolve_pack_wires
from .comfyui_parse import (
    BYPASSED,
    MUTED,
    CDoc,
    CNode,
    bypass_input,
    is_api,
    is_ui,
    parse_api,
    parse_ui,
    resolve,
)
from .comfyui_preprocessors import TRANSLATORS as PREPROCESSOR_TRANSLATORS
from .comfyui_regions import TRANSLATORS as REGION_TRANSLATORS
from .comfyui_schema import SPECS
from .comfyui_sdxl import TRANSLATORS as SDXL_TRANSLATORS
from .comfyui_upscale import TRANSLATORS as UPSCALE_TRANSLATORS
from .jsonsafe import Reader, check_plain
from .layout import auto_layout
from .node_packs import pack_note
from .report import ImportReport
from .sigmas import step_fraction

NAMESPACE = uuid.UUID("a3c5e1d2-7f40-4b8e-9a61-2f0d6c8b4e17")
PLACEHOLDER_PREFIX = "comfyui."
# A bypassed unknown node with more wire ports than this is muted instead: real nodes have a handful,
# and routing a bypass costs (here, and each time a run is planned) the square of the port count.
_BYPASS_MAX_PORTS = 16
_NAMESPACE_BYTES = NAMESPACE.bytes


def uuid5_text(name: str) -> str:
    """``str(uuid.uuid5(NAMESPACE, name))`` without building a UUID object: a large import makes one
    per node, and the object costs more than the hash."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8"), usedforsecurity=False).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_SAME_RESULT = ("images will differ from ComfyUI's for the same seed: its samplers and noise are not ours; "
                "settings, prompts and wiring carry over")


def import_comfyui(data: Any, registry: Registry, *, source: str | None = None,
                   checked: bool = False) -> tuple[Graph, ImportReport]:
    """A ComfyUI workflow → (graph, report). Raises WorkflowError for anything that cannot be read.
    ``checked``: ``data`` comes from ``parse_json``, whose checks ``check_plain`` would repeat."""
    r = Reader(source)
    if not checked:
        check_plain(data, source)
    data = r.obj(data, "$")
    if isinstance(data.get("prompt"), dict) and "class_type" not in data["prompt"]:
        data = data["prompt"]  # the body of a request to ComfyUI's /prompt endpoint
    group_notes: list[tuple[str, str]] = []
    if is_ui(data):
        version = data.get("version")
        kind = "UI workflow" + (f", schema {version}" if isinstance(version, int | float | str) else "")
        data, group_notes = expand_group_nodes(data, r)
        doc = parse_ui(data, r)
    elif is_api(data):
        kind = "API prompt"
        doc = parse_api(data, r)
    else:
        raise r.fail("$", "not a ComfyUI workflow: expected a UI file (nodes and links) or an API prompt "
                          "(nodes with class_type and inputs)")
    if len(doc.nodes) > MAX_NODES:
        raise r.fail("$", f"more than {MAX_NODES} nodes")
    report = ImportReport(f"ComfyUI ({kind})")
    for note_kind, text in group_notes:
        report.add(note_kind, text)
    if isinstance(data.get("definitions"), dict) and data["definitions"].get("subgraphs"):
        report.unmapped("subgraphs are not expanded: each subgraph node is kept as a placeholder")
    resolve_pack_wires(doc, data, report)  # custom node packs' virtual wires and constant values
    nodes = resolve(doc, report)
    graph = _Builder(doc, nodes, registry, report, r).build()
    if any(n.type_id == "sample.sampler" for n in graph.nodes.values()):
        report.info(_SAME_RESULT)
    return graph, report


class _Builder:
    def __init__(self, doc: CDoc, nodes: dict[str, CNode], registry: Registry, report: ImportReport,
                 r: Reader) -> None:
        self.doc, self.nodes, self.registry, self.report, self.r = doc, nodes, registry, report, r
        self.graph = Graph(registry)
        self.outs: dict[tuple[str, int], tuple[str, str]] = {}  # (ComfyUI id, slot) → (our id, port)
        self.ins: dict[tuple[str, str], list[tuple[str, str]]] = {}  # (ComfyUI id, input) → our ports
        self.controls: list[tuple[str, CNode, float, float]] = []  # ControlNet percents to convert
        self.made: dict[str, str] = {}  # ComfyUI id → our node id
        self.slots: dict[tuple[str, str], int] = {}  # (our id, output port) → ComfyUI output slot
        self.finishers: list[Callable[[], None]] = []  # run once every wire is made

    def build(self) -> Graph:
        for c in self.nodes.values():
            (EDITOR_TRANSLATORS.get(c.class_type) or TRANSLATORS.get(c.class_type)
             or PACK_TRANSLATORS.get(c.class_type, _placeholder))(self, c)
        self._wire()
        for finish in self.finishers:
            finish()
        self._style()
        self._modes()
        self._convert_control_percents()
        for i, g in enumerate(self.doc.groups):
            self.graph.add_group(g.title, g.rect, g.color, group_id=str(uuid.uuid5(NAMESPACE, f"group/{i}")))
        try:
            self.graph.topological_order()
        except GraphError:
            raise self.r.fail("$", "the links make a loop") from None
        if self.doc.kind == "api":
            auto_layout(self.graph)
        return self.graph

    # -- values ---------------------------------------------------------------------------------
    def _raw(self, c: CNode, name: str) -> tuple[Any, str]:
        spec = SPECS[c.class_type]
        return c.values.get(name, spec.default(name)), c.value_paths.get(name, f"{c.path} ({name})")

    def num(self, c: CNode, name: str) -> float:
        value, path = self._raw(c, name)
        return self.r.num(value, path)

    def whole(self, c: CNode, name: str) -> int:
        value, path = self._raw(c, name)
        return self.r.whole(value, path)

    def text(self, c: CNode, name: str) -> str:
        value, path = self._raw(c, name)
        return self.r.text(value, path)

    def file_name(self, c: CNode, name: str) -> str:
        # ComfyUI on Windows writes sub-folders with backslashes; annotated names end in " [input]".
        text = self.text(c, name).replace("\\", "/")
        for suffix in (" [input]", " [output]", " [temp]"):
            text = text.removesuffix(suffix)
        return text

    # -- nodes ----------------------------------------------------------------------------------
    def _id(self, c: CNode) -> str:
        return uuid5_text(f"node/{c.id}")

    def add(self, c: CNode, type_id: str, params: dict[str, Any], inputs: Mapping[str, str | Sequence[str]],
            outputs: list[str]) -> str:
        """Our node for ``c``: ``inputs`` maps ComfyUI input names to our ports, ``outputs`` lists our
        port for each ComfyUI output slot."""
        nt = self.registry.get(type_id)
        if nt is None:
            self.report.unmapped(f"{c.label}: node type {type_id} is not installed; kept as a placeholder")
            return _placeholder(self, c)
        for name, value in list(params.items()):
            decl = nt.input(name)
            if decl is not None and isinstance(value, int | float) and not isinstance(value, bool):
                lo, hi = decl.min, decl.max
                clamped = min(max(value, lo if lo is not None else value), hi if hi is not None else value)
                if _far_outside(value, lo, hi):
                    # Not a setting of another tool's range but a value no run could use (10^9 steps):
                    # left as is, so that validate refuses it instead of a run taking forever.
                    self.report.unmapped(f"{c.label}: {name} {value:g} is far outside our range "
                                         f"({lo:g} to {hi:g}); left as is: fix it before running"
                                         if lo is not None and hi is not None else
                                         f"{c.label}: {name} {value:g} is far outside our range; left as is")
                elif clamped != value:
                    self.report.approximated(f"{c.label}: {name} {value:g} is outside our range; using {clamped:g}")
                    params[name] = clamped
        node = self.graph.add_node(type_id, c.pos or (0.0, 0.0), params, node_id=self._id(c), title=c.title)
        for comfy_name, ports in inputs.items():
            ports = (ports,) if isinstance(ports, str) else tuple(ports)
            self.ins[(c.id, comfy_name)] = [(node.id, p) for p in ports]
        self._made(c, node.id, outputs)
        return node.id

    def unsupported(self, c: CNode, why: str) -> None:
        """A class we know but cannot run: a placeholder, and a report line saying why."""
        if c.mode in (MUTED, BYPASSED):
            mode = "bypassed" if c.mode == BYPASSED else "muted"
            self.report.unmapped(f"{c.label}: {why}; kept as a placeholder with its settings, {mode} as in ComfyUI")
        else:
            self.report.unmapped(f"{c.label}: {why}; kept as a placeholder with its settings; the workflow will "
                                 "not run until it is replaced")
        _placeholder(self, c)

    def add_extra(self, c: CNode, suffix: str, type_id: str, params: dict[str, Any],
                  offset: tuple[float, float]) -> str:
        """A second node of ours for ``c`` (its id derived from ``c``'s and ``suffix``), placed at
        ``offset`` from it; the caller wires it."""
        x, y = c.pos or (0.0, 0.0)
        pos, node_id = (x + offset[0], y + offset[1]), uuid5_text(f"node/{c.id}/{suffix}")
        if self.registry.get(type_id) is None:
            self.report.unmapped(f"{c.label}: node type {type_id} is not installed; kept as a placeholder")
            self.graph.insert_node(Node(node_id, type_id, "1.0.0", params, pos))
            return node_id
        return self.graph.add_node(type_id, pos, params, node_id=node_id).id

    def _made(self, c: CNode, node_id: str, outputs: Sequence[str]) -> None:
        self.made[c.id] = node_id
        for slot, port in enumerate(outputs):
            self.outs[(c.id, slot)] = (node_id, port)
            self.slots.setdefault((node_id, port), slot)

    # -- links ----------------------------------------------------------------------------------
    def _wire(self) -> None:
        for c in self.nodes.values():
            for name, (src, slot) in c.links.items():
                targets = self.ins.get((c.id, name))
                if not targets:
                    self.report.dropped(f"{c.label}: {_input(name)} has no counterpart; its wire is dropped")
                    continue
                source = self.outs.get((src, slot))
                if source is None:
                    feeder = self.doc.nodes[src]
                    if feeder.class_type == "PrimitiveNode":
                        self.report.dropped(f"{c.label}: {_input(name)} is fed by {feeder.label}, a widget value "
                                            "with no counterpart here; left unconnected")
                    else:
                        self.report.dropped(f"{c.label}: {_input(name)} is fed by output {slot} of "
                                            f"{feeder.label}, which has no counterpart; left unconnected")
                    continue
                for dst, port in targets:
                    self.graph.insert_link(Link(source[0], source[1], dst, port))

    # -- editor matter --------------------------------------------------------------------------
    def _style(self) -> None:
        for c in self.nodes.values():
            node = self.graph.nodes.get(self.made.get(c.id, ""))
            if node is not None:
                node.collapsed, node.color = c.collapsed, c.color

    def _modes(self) -> None:
        """Muted nodes stay muted; bypassed nodes stay bypassed where our bypass hands every used
        output what ComfyUI's does, and are muted (and reported) where it cannot."""
        changed = [c for c in self.nodes.values() if c.mode in (MUTED, BYPASSED) and c.id in self.made]
        if not changed:
            return
        used: dict[str, set[str]] = {}  # indexed once: asking the graph per node would be quadratic
        for lk in self.graph.links.values():
            used.setdefault(lk.src, set()).add(lk.src_port)
        for c in changed:
            node = self.graph.nodes[self.made[c.id]]
            nt = self.registry.get(node.type_id)
            if nt is not None and (nt.editor_only or nt.passthrough):
                continue  # ComfyUI routes through reroutes and shows notes whatever their mode
            if c.mode == MUTED:
                node.mode = MUTE
                continue
            ports = sorted(used.get(node.id, ()), key=lambda p: self.slots.get((node.id, p), 0))
            if nt is None and max(len(node.placeholder_inputs), len(node.placeholder_outputs)) > _BYPASS_MAX_PORTS:
                why: str | None = f"it has more than {_BYPASS_MAX_PORTS} inputs or outputs, too many to route here"
            else:
                why = self._bypass_trouble(c, node, ports)
            if why is not None and nt is None and self._reorder_for_bypass(c, node, ports):
                why = self._bypass_trouble(c, node, ports)
            # Set directly: the graph's own check (set_mode) is the one just made.
            node.mode = BYPASS if why is None else MUTE
            if why is not None:
                self.report.approximated(f"{c.label}: bypassed in ComfyUI, but {why}; imported muted instead, so "
                                         "what needs it does not run")

    def _bypass_trouble(self, c: CNode, node: Node, ports: list[str]) -> str | None:
        """Why bypassing our node would not do what ComfyUI does, or None."""
        problem, through = self._bypass_rule(node)
        if problem:
            return "here " + problem.removesuffix(" (mute it instead)")
        for port in ports:
            name = through(port)
            ours = self._source_of(node.id, name) if name is not None else None
            if ours != self._comfy_bypass_source(c, node, port):
                return f"here its {port} output would pass on its {name} input, which is not what ComfyUI passes on"
        return None

    def _bypass_rule(self, node: Node) -> tuple[str | None, Callable[[str], str | None]]:
        """Why ``node`` cannot be bypassed (or None), and the input its bypass hands each output.
        A placeholder's ports are untyped (ANY), so the graph's rule comes down to position: output i
        passes on input i, or input 0 past the last input. Worked out here in one pass, as the graph
        would build every port anew for each output."""
        if self.registry.get(node.type_id) is not None:
            return self.graph.bypass_problem(node.id), lambda port: self.graph.bypass_source(node, port)
        ins, outs = node.placeholder_inputs, node.placeholder_outputs
        if outs and not ins:
            return f"{self.graph.title_of(node)} has no input to pass on to its {outs[0]} output", lambda port: None
        index = {name: i for i, name in enumerate(outs)}
        return None, lambda port: ins[index[port]] if index[port] < len(ins) else ins[0]

    def _comfy_bypass_source(self, c: CNode, node: Node, port: str) -> tuple[str, str] | None:
        """Our output that ComfyUI's bypass hands to ``port`` (None: nothing)."""
        name = bypass_input(c, self.slots.get((node.id, port), 0))
        link = c.links.get(name) if name is not None else None
        return self.outs.get(link) if link is not None else None

    def _reorder_for_bypass(self, c: CNode, node: Node, ports: list[str]) -> bool:
        """Reorder a placeholder's inputs so that its bypass routes each used output as ComfyUI does.
        Its ports are untyped (ANY): output i passes on input i (input 0 past the last input), so the
        input ComfyUI would pick must sit at that position. False where no order does it."""
        names = list(node.placeholder_inputs)
        if not names or len(names) > _BYPASS_MAX_PORTS:
            return False
        feeds = {n: self._source_of(node.id, n) for n in names}
        outputs = list(node.placeholder_outputs)
        allowed: dict[int, set[str]] = {}  # position → the inputs that may sit there
        for port in ports:
            want = self._comfy_bypass_source(c, node, port)
            fits = {n for n in names if feeds[n] == want}
            index = outputs.index(port)
            pos = index if index < len(names) else 0
            allowed[pos] = allowed.get(pos, fits) & fits
        order = _assign(names, allowed)
        if order is None:
            return False
        if order != names:
            node.placeholder_inputs = tuple(order)
            self.report.info(f"{c.label}: inputs listed as {', '.join(order)}, so that bypassing it passes on "
                             "what ComfyUI passes on")
        return True

    def _source_of(self, node_id: str, port: str) -> tuple[str, str] | None:
        lk = self.graph.links.get((node_id, port))
        return (lk.src, lk.src_port) if lk is not None else None

    def downstream_schedulers(self) -> dict[str, str]:
        """For every node that feeds a sampler (directly or not): the scheduler of the nearest one.
        One breadth-first walk up from all samplers at once, so a long chain costs its length once."""
        feeders: dict[str, list[str]] = {}
        for lk in self.graph.links.values():
            feeders.setdefault(lk.dst, []).append(lk.src)
        found: dict[str, str] = {}
        todo: deque[str] = deque()
        for node_id, node in self.graph.nodes.items():
            if node.type_id == "sample.sampler":
                found[node_id] = str(node.params.get("scheduler", "normal"))
                todo.append(node_id)
        while todo:
            current = todo.popleft()
            for src in feeders.get(current, ()):
                if src not in found:
                    found[src] = found[current]
                    todo.append(src)
        return found

    def _convert_control_percents(self) -> None:
        schedulers = self.downstream_schedulers() if self.controls else {}
        for node_id, c, start, end in self.controls:
            scheduler = schedulers.get(node_id, "normal")
            ours = (step_fraction(start, scheduler), step_fraction(end, scheduler))
            self.graph.set_param(node_id, "start", ours[0])
            self.graph.set_param(node_id, "end", ours[1])
            if (start, end) != (0.0, 1.0):
                self.report.approximated(
                    f"{c.label}: start/end percent {start:g}–{end:g} are noise levels in ComfyUI, fractions of "
                    f"the steps here: converted for the {scheduler} scheduler to {ours[0]:g}–{ours[1]:g} "
                    "(approximate)")


# --- translators: one per ComfyUI class -----------------------------------------------------------


def _placeholder(b: _Builder, c: CNode) -> str:
    spec = SPECS.get(c.class_type)
    if spec is None:
        b.report.unmapped(f"{c.label}: unknown node type; kept as a placeholder with its values and wires"
                          f"{pack_note(c.class_type)}")
    params = {k: v for k, v in c.values.items() if k != "upload"}
    if c.raw_widgets is not None:
        params["widgets_values"] = c.raw_widgets
    outputs = _unique(c.output_names)
    inputs = tuple(dict.fromkeys([*c.input_names, *c.links]))
    if max(len(inputs), len(outputs)) > MAX_PORTS:
        raise b.r.fail(c.path, f"{c.label} has more than {MAX_PORTS} inputs or outputs")
    node = Node(b._id(c), PLACEHOLDER_PREFIX + c.class_type, "1.0.0", params, c.pos or (0.0, 0.0), c.title,
                {"comfyui": {"id": c.id, "class_type": c.class_type}})
    node.placeholder_inputs = inputs
    node.placeholder_outputs = tuple(outputs)
    b.graph.insert_node(node)
    for name in node.placeholder_inputs:
        b.ins[(c.id, name)] = [(node.id, name)]
    b._made(c, node.id, outputs)
    return node.id


def _assign(names: list[str], allowed: dict[int, set[str]]) -> list[str] | None:
    """An order of ``names`` with an allowed name at each constrained position (a bipartite matching,
    by augmenting paths), the other names keeping their order; None where there is none."""
    rank = {name: i for i, name in enumerate(names)}
    choices = {pos: sorted(fits, key=rank.__getitem__) for pos, fits in allowed.items()}
    match: dict[str, int] = {}  # name → position

    def place(pos: int, seen: set[str]) -> bool:
        for name in choices[pos]:
            if name not in seen:
                seen.add(name)
                if name not in match or place(match[name], seen):
                    match[name] = pos
                    return True
        return False

    if not all(place(pos, set()) for pos in sorted(allowed)):
        return None
    at = {pos: name for name, pos in match.items()}
    rest = iter(n for n in names if n not in match)
    return [at[i] if i in at else next(rest) for i in range(len(names))]


def _input(name: str) -> str:
    return f"input {name!r}" if name else "its input"  # a Reroute's one input has no name


def _unique(names: list[str]) -> list[str]:
    """Port names made distinct ("IMAGE", "IMAGE 1", ...); a set keeps it linear."""
    out: list[str] = []
    taken: set[str] = set()
    for i, name in enumerate(names):
        candidate, n = name, i
        while candidate in taken:
            candidate, n = f"{name} {n}", n + 1
        taken.add(candidate)
        out.append(candidate)
    return out


class _Unsupported:
    """A class we know but cannot run yet: a placeholder, and a report line saying why."""

    def __init__(self, why: str) -> None:
        self.why = why

    def __call__(self, b: _Builder, c: CNode) -> None:
        b.unsupported(c, self.why)


def _reroute(b: _Builder, c: CNode) -> None:
    names = [*c.input_names, *c.links]  # a Reroute has one input; ComfyUI leaves it unnamed
    b.add(c, "util.reroute", {}, {names[0]: "value"} if names else {}, ["value"])


def _note(b: _Builder, c: CNode) -> None:
    text = c.values.get("text", "")
    if not isinstance(text, str):
        b.report.dropped(f"{c.label}: its text is not text; the note is left empty")
        text = ""
    b.add(c, "util.note", {"text": text}, {}, [])


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "CheckpointLoaderSimple": core.checkpoint,
    "VAELoader": core.vae_loader,
    "ControlNetLoader": core.controlnet_loader,
    "CLIPTextEncode": core.clip_text,
    "EmptyLatentImage": core.empty_latent,
    "KSampler": core.ksampler,
    "KSamplerAdvanced": core.ksampler_advanced,
    "VAEDecode": core.vae_decode,
    "VAEEncode": core.vae_encode,
    "LoadImage": core.load_image,
    "SaveImage": core.save_image,
    "PreviewImage": core.preview_image,
    "ControlNetApply": core.controlnet_apply,
    "ControlNetApplyAdvanced": core.controlnet_apply_advanced,
    "Canny": core.canny,
    "ImageScale": core.image_scale,
    "ImageScaleBy": core.image_scale_by,
    "ImageInvert": core.image_invert,
    "LatentUpscale": core.latent_upscale,
    "LatentUpscaleBy": core.latent_upscale_by,
    "CLIPSetLastLayer": core.clip_set_last_layer,
    **ADAPTER_TRANSLATORS,
    **UPSCALE_TRANSLATORS,
    **PREPROCESSOR_TRANSLATORS,
    **CORE_MORE_TRANSLATORS,
    **CORE_OPS_TRANSLATORS,
    **GLIGEN_TRANSLATORS,
    **REGION_TRANSLATORS,
    **SDXL_TRANSLATORS,
    **MODEL_SAMPLING_TRANSLATORS,
    **MODEL_PATCH_TRANSLATORS,
    **{name: _Unsupported(why) for name, why in MODEL_PATCHES_NOT_YET.items()},
    **CUSTOM_SAMPLING_TRANSLATORS,
    "HypernetworkLoader": _Unsupported("hypernetworks are not supported (bypass it to run without it)"),
    "UltimateSDUpscale": _Unsupported("Ultimate SD Upscale repaints tiles one by one, which no node here does; "
                                      "Upscale Image (using Model), VAE Encode (Tiled), the Tiled Sampler and VAE "
                                      "Decode (Tiled) do the same job"),
    "SetLatentNoiseMask": masks.set_latent_noise_mask,
    "VAEEncodeForInpaint": masks.vae_encode_inpaint,
    "InpaintModelConditioning": masks.inpaint_model_conditioning,
    "ImagePadForOutpaint": masks.pad_for_outpaint,
    "LatentComposite": masks.latent_composite,
    "LatentFromBatch": masks.latent_from_batch,
    "ImageToMask": masks.image_to_mask,
    "MaskToImage": masks.mask_to_image,
    "InvertMask": masks.invert_mask,
    "GrowMask": masks.grow_mask,
    "FeatherMask": masks.feather_mask,
    "ThresholdMask": masks.threshold_mask,
    "MaskComposite": masks.mask_composite,
    "SolidMask": masks.solid_mask,
    "ImageColorToMask": masks.image_color_to_mask,
}


# Classes we do not translate but cannot run: a placeholder each, as for unknown classes.
UNSUPPORTED = frozenset(name for name, fn in TRANSLATORS.items() if isinstance(fn, _Unsupported))
# Editor matter: nodes of the ComfyUI canvas that never reach its API prompt.
EDITOR_TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "Reroute": _reroute,
    "Note": _note,
    "MarkdownNote": _note,
}


def _far_outside(value: float, lo: float | None, hi: float | None) -> bool:
    """More than ten times past a limit: a hostile or broken value, not a wider range elsewhere."""
    span = max(1.0, (hi - lo) if lo is not None and hi is not None else 1.0)
    return (hi is not None and value > hi + 10 * span) or (lo is not None and value < lo - 10 * span)
