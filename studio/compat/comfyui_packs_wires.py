"""Custom-node-pack matter settled before the nodes are built: virtual wires and constant values.

- KJNodes' Set/Get nodes (and Easy-Use's copies) are wires drawn by name: every Get node reads what
  the Set node of the same name is fed. They exist only in the editor (ComfyUI resolves them before
  a run), so here every wire from a Get node becomes a wire from that source, and both kinds go.
- Value nodes (KJNodes' constants, rgthree's and Easy-Use's seeds, Impact's wildcard text in fixed
  mode, WAS text nodes, pysssss' text display and plain math, Comfyroll's aspect ratio) hand a number
  or a text to a widget turned into an input. Our nodes take such values as parameters, so each value
  is written into the widget it feeds, as ComfyUI would use it, and a value node that then feeds
  nothing is left out. Joins of constant texts are worked out too, and so are LoRA stacks (Comfyroll's
  and the efficiency nodes'), which are lists of files and weights.
- UI files store some packs' widgets in more than one order (old and new versions of a node):
  those are named here by the order their values fit.

Everything else stays for the translators; what this changes is reported.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from typing import Any

from .comfyui_parse import BYPASSED, MUTED, CDoc, CNode
from .comfyui_schema import SPECS, ComfySpec
from .report import ImportReport

SET_NODES = frozenset({"SetNode", "easy setNode"})
GET_NODES = frozenset({"GetNode", "easy getNode"})
# rgthree's seed node and its special values: a new random seed for each run (-2/-3 ask the front
# end to increment or decrement the last one; without a front end they are random too).
RANDOM_SEEDS = (-1, -2, -3)
_MAX_TEXT = 1_000_000  # a joined text longer than this is not worked out (a file can nest joins)
_MAX_DEPTH = 100  # value nodes feeding value nodes, this deep


class _Unknown:
    """A value that cannot be worked out here (fed by a node that is not a value node)."""


UNKNOWN = _Unknown()


def resolve_pack_wires(doc: CDoc, data: dict[str, Any], report: ImportReport) -> None:
    """Settle virtual wires and constant values in ``doc`` (changed in place); ``data`` is the file
    as read (for UI widget values that need another order)."""
    relaid = doc.kind == "ui" and any(node.class_type in RELAYOUTS for node in doc.nodes.values())
    raw = _raw_nodes(data) if relaid else {}
    for node in doc.nodes.values():
        relayout = RELAYOUTS.get(node.class_type)
        if relayout is not None and node.id in raw:
            relayout(node, raw[node.id])
        _unwrap_file_names(node)
    _resolve_set_get(doc, report)
    _fold_values(doc, report)


# --- widget orders ---------------------------------------------------------------------------------


def _raw_nodes(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    nodes = data.get("nodes")
    out: dict[str, dict[str, Any]] = {}
    for raw in nodes if isinstance(nodes, list) else []:
        if isinstance(raw, dict) and isinstance(raw.get("id"), int | str) and not isinstance(raw.get("id"), bool):
            out[str(raw["id"])] = raw
    return out


def _rename(node: CNode, names: tuple[str, ...], values: list[Any], seeds: tuple[str, ...] = ()) -> None:
    """Name ``values`` by ``names`` (a seed followed by its "control after generate" text)."""
    node.values.clear()
    node.value_paths.clear()
    node.seed_controls.clear()
    i = 0
    for name in names:
        if i >= len(values):
            break
        node.values[name] = values[i]
        node.value_paths[name] = f"{node.path}.widgets_values[{i}] ({name})"
        i += 1
        if name in seeds and i < len(values) and isinstance(values[i], str) and not _is_number(values[i]):
            if values[i] in ("fixed", "increment", "decrement", "randomize"):
                node.seed_controls[name] = values[i]
            i += 1


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _efficient_sampler_layout(node: CNode, raw: dict[str, Any]) -> None:
    """KSampler (Efficient) before version 2 starts with a sampler state ("Sample", "Hold", "Script")."""
    values = raw.get("widgets_values")
    if isinstance(values, list) and values and values[0] in ("Sample", "Hold", "Script"):
        names = ("sampler_state", "seed", "steps", "cfg", "sampler_name", "scheduler", "denoise", "preview_method",
                 "vae_decode")
        _rename(node, names, values, seeds=("seed",))


def _power_lora_layout(node: CNode, raw: dict[str, Any]) -> None:
    """rgthree's Power Lora Loader stores one object per LoRA row among its other widgets."""
    values = raw.get("widgets_values")
    if not isinstance(values, list):
        return
    node.values.clear()
    rows = [v for v in values if isinstance(v, dict) and "lora" in v]
    for k, row in enumerate(rows, start=1):
        node.values[f"lora_{k}"] = row
        node.value_paths[f"lora_{k}"] = f"{node.path}.widgets_values (LoRA row {k})"


RELAYOUTS: dict[str, Callable[[CNode, dict[str, Any]], None]] = {
    "KSampler (Efficient)": _efficient_sampler_layout,
    "Power Lora Loader (rgthree)": _power_lora_layout,
}

# pysssss's loaders with image previews may store a file choice as {"content": name, "image": preview}.
_FILE_CHOICE_CLASSES = frozenset({"CheckpointLoader|pysssss", "LoraLoader|pysssss"})


def _unwrap_file_names(node: CNode) -> None:
    if node.class_type in _FILE_CHOICE_CLASSES:
        for name, value in list(node.values.items()):
            if isinstance(value, dict) and isinstance(value.get("content"), str):
                node.values[name] = value["content"]


# --- Set/Get nodes ---------------------------------------------------------------------------------


def _tag(node: CNode) -> str | None:
    """The name a Set or Get node carries (its one widget)."""
    value = node.values.get("Constant", node.values.get("value"))
    if value is None and isinstance(node.raw_widgets, list) and node.raw_widgets:
        value = node.raw_widgets[0]
    return value if isinstance(value, str) and value else None


def _resolve_set_get(doc: CDoc, report: ImportReport) -> None:
    sets = {cid: n for cid, n in doc.nodes.items() if n.class_type in SET_NODES}
    gets = {cid: n for cid, n in doc.nodes.items() if n.class_type in GET_NODES}
    if not sets and not gets:
        return
    by_name: dict[str, CNode] = {}
    for node in sets.values():
        name = _tag(node)
        if name is None:
            continue
        if name in by_name:
            report.approximated(f"{node.label}: a second Set node named {name!r}; Get nodes read the first, "
                                f"{by_name[name].label}")
            continue
        by_name[name] = node

    memo: dict[str, tuple[str, int] | None] = {}

    def source(cid: str, slot: int) -> tuple[str, int] | None:
        """Where a wire from (cid, slot) really starts: through Set and Get nodes, None for nowhere.
        Set and Get nodes pass their one input on whatever the slot, so every node walked through
        gets the same answer (remembered: each is walked once)."""
        path: list[str] = []
        on_path: set[str] = set()
        found: tuple[str, int] | None = (cid, slot)
        while cid in sets or cid in gets:
            if cid in memo:
                found = memo[cid]
                break
            if cid in on_path:
                found = None  # Set and Get nodes that feed each other in a ring
                break
            path.append(cid)
            on_path.add(cid)
            node = sets.get(cid)
            if node is None:
                name = _tag(gets[cid])
                node = by_name.get(name) if name is not None else None
            if node is None or not node.links:
                found = None
                break
            cid, slot = next(iter(node.links.values()))
            found = (cid, slot)
        for walked in path:
            memo[walked] = found
        return found

    virtual = set(sets) | set(gets)
    unresolved: set[str] = set()
    for node in doc.nodes.values():
        if node.id in virtual:
            continue
        for table in (node.links, node.wired_params):
            for name, (src, slot) in list(table.items()):
                if src not in virtual:
                    continue
                found = source(src, slot)
                if found is None:
                    del table[name]
                    unresolved.add(src)
                    report.dropped(f"{node.label}: input {name!r} reads {doc.nodes[src].label}, which no Set node "
                                   "feeds; left unconnected")
                else:
                    table[name] = found
    for cid in virtual:
        del doc.nodes[cid]
    names = sorted({n for n in (_tag(x) for x in gets.values()) if n is not None})
    report.info(f"{len(sets)} Set and {len(gets)} Get nodes (ComfyUI-KJNodes) made into direct wires"
                + (f" ({', '.join(map(repr, names[:8]))}{', …' if len(names) > 8 else ''})" if names else ""))


# --- value nodes -----------------------------------------------------------------------------------

Values = list[Any]  # one value per output slot (UNKNOWN where there is none to work out)
Evaluate = Callable[[CNode, Callable[[str], Any]], Values]


def _widget(node: CNode, name: str) -> Any:
    spec = SPECS.get(node.class_type)
    return node.values.get(name, spec.default(name) if spec else None)


def _constant(name: str) -> Evaluate:
    return lambda node, _inp: [_widget(node, name)]


def _seed(node: CNode, _inp: Callable[[str], Any]) -> Values:
    return [_widget(node, "seed")]


def _text_multiline(node: CNode, _inp: Callable[[str], Any]) -> Values:
    # WAS drops lines starting with '#'; text in [brackets] would be one of its tokens (the date, …).
    text = _widget(node, "text")
    if not isinstance(text, str) or "[" in text:
        return [UNKNOWN]
    lines = [line for line in text.split("\n") if not line.strip().startswith("#")]
    return ["\n".join(lines)]


def _text_string(node: CNode, _inp: Callable[[str], Any]) -> Values:
    out: Values = []
    for name in ("text", "text_b", "text_c", "text_d"):
        text = _widget(node, name)
        out.append(text if isinstance(text, str) and "[" not in text else UNKNOWN)
    return out


def _text_concatenate(node: CNode, inp: Callable[[str], Any]) -> Values:
    """WAS: the connected texts (in name order), each stripped when asked, empty ones left out."""
    delimiter, clean = _widget(node, "delimiter"), _widget(node, "clean_whitespace")
    if not isinstance(delimiter, str):
        return [UNKNOWN]
    delimiter = "\n" if delimiter in ("\n", "\\n") else delimiter
    parts = []
    for name in sorted(node.links):
        value = inp(name)
        if value is UNKNOWN or not isinstance(value, str):
            return [UNKNOWN]
        value = value.strip() if clean in ("true", True) else value
        if value:
            parts.append(value)
    if sum(map(len, parts)) + len(delimiter) * len(parts) > _MAX_TEXT:
        return [UNKNOWN]
    return [delimiter.join(parts)]


def _pass_text(node: CNode, inp: Callable[[str], Any]) -> Values:
    return [inp("text") if "text" in node.links else UNKNOWN]


def _wildcard(node: CNode, _inp: Callable[[str], Any]) -> Values:
    """Impact's wildcard processor uses its populated text as it stands in fixed and reproduce modes;
    in populate mode it draws new text from wildcard files for every run."""
    mode, text = _widget(node, "mode"), _widget(node, "populated_text")
    fixed = mode is False or mode in ("fixed", "reproduce")  # newer versions: a Populate/Fixed switch
    return [text if fixed and isinstance(text, str) else UNKNOWN]


def _string_multiline(node: CNode, _inp: Callable[[str], Any]) -> Values:
    """KJNodes' multiline constant: its lines (each with its line break, or none with strip_newlines)
    joined by line breaks, as that node does."""
    text, strip = _widget(node, "string"), _widget(node, "strip_newlines")
    if not isinstance(text, str):
        return [UNKNOWN]
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    return ["\n".join(line.replace("\n", "") if strip is True else line for line in lines)]


_SDXL_RATIOS = {
    "1:1 square 1024x1024": (1024, 1024), "3:4 portrait 896x1152": (896, 1152), "5:8 portrait 832x1216": (832, 1216),
    "9:16 portrait 768x1344": (768, 1344), "9:21 portrait 640x1536": (640, 1536),
    "4:3 landscape 1152x896": (1152, 896), "3:2 landscape 1216x832": (1216, 832),
    "16:9 landscape 1344x768": (1344, 768), "21:9 landscape 1536x640": (1536, 640),
}


def sdxl_aspect_size(node: CNode) -> tuple[Any, Any]:
    """Comfyroll's SDXL aspect ratio: a preset's size (or the custom one), swapped when asked."""
    width, height = _SDXL_RATIOS.get(str(_widget(node, "aspect_ratio")), (_widget(node, "width"),
                                                                           _widget(node, "height")))
    return (height, width) if _widget(node, "swap_dimensions") == "On" else (width, height)


def _sdxl_aspect(node: CNode, _inp: Callable[[str], Any]) -> Values:
    width, height = sdxl_aspect_size(node)
    return [width, height, _widget(node, "upscale_factor"), _widget(node, "batch_size"), UNKNOWN, UNKNOWN]


def _cr_lora_stack(node: CNode, inp: Callable[[str], Any]) -> Values:
    """Comfyroll's LoRA stack: the stack it is given, then its own switched-on rows."""
    incoming = inp("lora_stack") if "lora_stack" in node.links else []
    if not isinstance(incoming, list):
        return [UNKNOWN]
    rows = list(incoming)
    for i in (1, 2, 3):
        name = _widget(node, f"lora_name_{i}")
        if _widget(node, f"switch_{i}") == "On" and isinstance(name, str) and name not in ("", "None"):
            rows.append((name, _widget(node, f"model_weight_{i}"), _widget(node, f"clip_weight_{i}")))
    return [rows, UNKNOWN]


_MATH_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: lambda x, y: x + y, ast.Sub: lambda x, y: x - y, ast.Mult: lambda x, y: x * y,
    ast.Div: lambda x, y: x / y, ast.FloorDiv: lambda x, y: x // y, ast.Mod: lambda x, y: x % y,
    ast.Pow: lambda x, y: x ** y,
}
_MATH_LIMIT = 1e15  # larger intermediate results are not worked out (a file can ask for 9**9**9)


def _math_expression(node: CNode, inp: Callable[[str], Any]) -> Values:
    """pysssss' math expression, where it is plain arithmetic on numbers and its inputs a, b, c are
    numbers worked out here; INT only where the result is whole."""
    text = _widget(node, "expression")
    if not isinstance(text, str) or len(text) > 200:
        return [UNKNOWN, UNKNOWN]
    try:
        result = _arith(ast.parse(text.strip(), mode="eval").body, node, inp)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError):
        return [UNKNOWN, UNKNOWN]
    whole = float(result).is_integer()
    return [int(result) if whole else UNKNOWN, float(result)]


def _arith(tree: ast.AST, node: CNode, inp: Callable[[str], Any]) -> float:
    if isinstance(tree, ast.Constant) and isinstance(tree.value, int | float) and not isinstance(tree.value, bool):
        value: float = tree.value
    elif isinstance(tree, ast.Name) and tree.id in ("a", "b", "c") and tree.id in node.links:
        value = inp(tree.id)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("not a number")
    elif isinstance(tree, ast.UnaryOp) and isinstance(tree.op, ast.USub | ast.UAdd):
        inner = _arith(tree.operand, node, inp)
        value = -inner if isinstance(tree.op, ast.USub) else inner
    elif isinstance(tree, ast.BinOp) and type(tree.op) in _MATH_OPS:
        left, right = _arith(tree.left, node, inp), _arith(tree.right, node, inp)
        if isinstance(tree.op, ast.Pow) and abs(right) > 64:
            raise ValueError("exponent too large")
        value = _MATH_OPS[type(tree.op)](left, right)
    else:
        raise ValueError("not plain arithmetic")
    if isinstance(value, complex) or not math.isfinite(value) or abs(value) > _MATH_LIMIT:
        raise ValueError("out of range")
    return value


_STACKER_ROWS = 49  # the efficiency nodes' LoRA Stacker has this many rows, lora_count of them used


def _efficiency_lora_stacker(node: CNode, inp: Callable[[str], Any]) -> Values:
    """The efficiency nodes' LoRA stack: its first lora_count rows with a file (one weight for both in
    simple mode), then the stack it is given."""
    mode, count = _widget(node, "input_mode"), _widget(node, "lora_count")
    incoming = inp("lora_stack") if "lora_stack" in node.links else []
    if not isinstance(count, int) or isinstance(count, bool) or not isinstance(incoming, list):
        return [UNKNOWN]
    rows = []
    for i in range(1, min(count, _STACKER_ROWS) + 1):
        name = _widget(node, f"lora_name_{i}")
        if isinstance(name, str) and name not in ("", "None"):
            if mode == "simple":
                rows.append((name, _widget(node, f"lora_wt_{i}"), _widget(node, f"lora_wt_{i}")))
            else:
                rows.append((name, _widget(node, f"model_str_{i}"), _widget(node, f"clip_str_{i}")))
    return [rows + incoming]


VALUE_NODES: dict[str, Evaluate] = {
    "INTConstant": _constant("value"),
    "FloatConstant": _constant("value"),
    "StringConstant": _constant("string"),
    "StringConstantMultiline": _string_multiline,
    "Seed (rgthree)": _seed,
    "easy seed": _seed,
    "ImpactWildcardProcessor": _wildcard,
    "Text Multiline": _text_multiline,
    "Text String": _text_string,
    "Text Concatenate": _text_concatenate,
    "ShowText|pysssss": _pass_text,
    "CR SDXL Aspect Ratio": _sdxl_aspect,
    "CR LoRA Stack": _cr_lora_stack,
    "LoRA Stacker": _efficiency_lora_stacker,
    "MathExpression|pysssss": _math_expression,
}
# Wire inputs (not widgets) that take a value worked out here: LoRA stacks are lists of files and weights.
VALUE_INPUTS: dict[str, tuple[str, ...]] = {"CR Apply LoRA Stack": ("lora_stack",), "Efficient Loader": ("lora_stack",)}




def _fold_values(doc: CDoc, report: ImportReport) -> None:
    sources = {cid: n for cid, n in doc.nodes.items() if n.class_type in VALUE_NODES}
    if not sources:
        return
    memo: dict[str, Values] = {}
    busy: set[str] = set()

    def outputs(cid: str) -> Values:
        if cid in memo:
            return memo[cid]
        node = sources[cid]
        if cid in busy or node.mode == MUTED or len(busy) > _MAX_DEPTH:
            return []
        busy.add(cid)
        if node.mode == BYPASSED:
            first = next(iter(node.links.values()), None)  # a bypassed text node passes its first text on
            values: Values = [value_at(*first)] if first is not None else []
        else:
            values = VALUE_NODES[node.class_type](node, lambda name: value_at(*node.links[name]))
        busy.discard(cid)
        memo[cid] = values
        return values

    def value_at(cid: str, slot: int) -> Any:
        if cid not in sources:
            return UNKNOWN
        values = outputs(cid)
        return values[slot] if slot < len(values) else UNKNOWN

    folded: dict[str, list[str]] = {}
    for node in doc.nodes.values():
        spec = SPECS.get(node.class_type)
        for name, (src, slot) in list(node.wired_params.items()):
            value = value_at(src, slot)
            if value is UNKNOWN:
                continue
            del node.wired_params[name]
            controlled = _write(node, name, value, sources[src], report)
            if spec is not None and name in spec.seeds and not controlled:
                node.seed_controls[name] = "fixed"  # a widget fed by a wire has no control of its own
            folded.setdefault(src, []).append(f"{node.label} ({name})")
        for name in VALUE_INPUTS.get(node.class_type, ()):
            if name not in node.links:
                continue
            src, slot = node.links[name]
            value = value_at(src, slot)
            if value is not UNKNOWN:
                del node.links[name]
                node.values[name], node.value_paths[name] = value, f"{sources[src].path} ({name})"
                folded.setdefault(src, []).append(f"{node.label} ({name})")
    kept = _kept(doc, sources)
    readers: dict[str, list[str]] = {}  # value node → the value nodes that read it
    for n in sources.values():
        for src in {src for src, _ in n.links.values() if src in sources}:
            readers.setdefault(src, []).append(f"{n.label} (worked out here)")
    for cid, node in sources.items():
        if cid in kept:
            continue
        targets = folded.get(cid) or readers.get(cid)
        if targets:
            report.info(f"{node.label}: its value is written into {', '.join(targets[:6])}"
                        f"{', …' if len(targets) > 6 else ''}; the node itself is left out")
        else:
            report.info(f"{node.label}: {_IDLE.get(node.class_type, 'feeds nothing that runs here')}; left out")
        del doc.nodes[cid]


def _seed_names(node: CNode) -> tuple[str, ...]:
    spec = SPECS.get(node.class_type)
    return spec.seeds if spec else ()


_IDLE = {"ShowText|pysssss": "it only shows text in the ComfyUI editor"}


def _kept(doc: CDoc, sources: dict[str, CNode]) -> set[str]:
    """Value nodes that stay: wired to something other than a value node, directly or through others."""
    kept: set[str] = set()
    todo = [src for node in doc.nodes.values() if node.id not in sources
            for src, _ in (*node.links.values(), *node.wired_params.values()) if src in sources]
    while todo:
        cid = todo.pop()
        if cid in kept:
            continue
        kept.add(cid)
        todo.extend(src for src, _ in (*sources[cid].links.values(), *sources[cid].wired_params.values())
                    if src in sources)
    return kept


def _write(node: CNode, name: str, value: Any, source: CNode, report: ImportReport) -> bool:
    """Write ``value`` into ``node``'s widget ``name``; True where that also sets the seed's control."""
    node.value_paths[name] = f"{source.path} (value for {name})"
    control = source.seed_controls.get("seed")
    if control in ("increment", "decrement", "randomize") and name in _seed_names(node):
        node.seed_controls[name] = control  # a seed node that changes its seed after each run
        node.values[name] = value
        return True
    if source.class_type in ("Seed (rgthree)", "easy seed") and value in RANDOM_SEEDS:
        node.values[name] = 0
        node.seed_controls[name] = "randomize"
        report.approximated(f"{source.label}: seed {value} (a new random seed for every run) → seed 0, randomized "
                            f"after each run, in {node.label}")
        return True
    node.values[name] = value
    return False


_INT, _FLOAT, _STRING = "INT", "FLOAT", "STRING"
VALUE_SPECS: dict[str, ComfySpec] = {
    "INTConstant": ComfySpec("INT Constant", widgets=(("value", 0),), outputs=(("value", _INT),)),
    "FloatConstant": ComfySpec("Float Constant", widgets=(("value", 0.0),), outputs=(("value", _FLOAT),)),
    "StringConstant": ComfySpec("String Constant", widgets=(("string", ""),), outputs=(("string", _STRING),)),
    "StringConstantMultiline": ComfySpec("String Constant Multiline", widgets=(("string", ""), ("strip_newlines", True)),
                                         outputs=(("string", _STRING),)),
    "Seed (rgthree)": ComfySpec("Seed (rgthree)", widgets=(("seed", 0),), outputs=(("SEED", _INT),)),
    "easy seed": ComfySpec("EasySeed", widgets=(("seed", 0),), outputs=(("seed", _INT),), seeds=("seed",)),
    "ImpactWildcardProcessor": ComfySpec(
        "ImpactWildcardProcessor",
        widgets=(("wildcard_text", ""), ("populated_text", ""), ("mode", True), ("seed", 0),
                 ("Select to add Wildcard", "Select the Wildcard to add to the text")),
        outputs=((_STRING, _STRING),), seeds=("seed",)),
    "Text Multiline": ComfySpec("Text Multiline", widgets=(("text", ""),), outputs=((_STRING, _STRING),)),
    "Text String": ComfySpec("Text String", widgets=(("text", ""), ("text_b", ""), ("text_c", ""), ("text_d", "")),
                             outputs=(("TEXT", _STRING), ("TEXT_B", _STRING), ("TEXT_C", _STRING),
                                      ("TEXT_D", _STRING))),
    "Text Concatenate": ComfySpec(
        "Text Concatenate",
        inputs=(("text_a", _STRING), ("text_b", _STRING), ("text_c", _STRING), ("text_d", _STRING)),
        widgets=(("delimiter", ", "), ("clean_whitespace", "true")), outputs=((_STRING, _STRING),)),
    "ShowText|pysssss": ComfySpec("Show Text 🐍", inputs=(("text", _STRING),), outputs=((_STRING, _STRING),)),
    "CR SDXL Aspect Ratio": ComfySpec(
        "🔳 CR SDXL Aspect Ratio",
        widgets=(("width", 1024), ("height", 1024), ("aspect_ratio", "custom"), ("swap_dimensions", "Off"),
                 ("upscale_factor", 1.0), ("batch_size", 1)),
        outputs=(("width", _INT), ("height", _INT), ("upscale_factor", _FLOAT), ("batch_size", _INT),
                 ("empty_latent", "LATENT"), ("show_help", _STRING))),
    "CR LoRA Stack": ComfySpec(
        "💊 CR LoRA Stack", inputs=(("lora_stack", "LORA_STACK"),),
        widgets=tuple(pair for i in (1, 2, 3) for pair in ((f"switch_{i}", "Off"), (f"lora_name_{i}", "None"),
                                                           (f"model_weight_{i}", 1.0), (f"clip_weight_{i}", 1.0))),
        outputs=(("LORA_STACK", "LORA_STACK"), ("show_help", _STRING))),
    "MathExpression|pysssss": ComfySpec(
        "Math Expression 🐍", inputs=(("a", "*"), ("b", "*"), ("c", "*")), widgets=(("expression", ""),),
        outputs=((_INT, _INT), (_FLOAT, _FLOAT))),
    "LoRA Stacker": ComfySpec(
        "LoRA Stacker", inputs=(("lora_stack", "LORA_STACK"),),
        widgets=(("input_mode", "simple"), ("lora_count", 3),
                 *(pair for i in range(1, _STACKER_ROWS + 1)
                   for pair in ((f"lora_name_{i}", "None"), (f"lora_wt_{i}", 1.0), (f"model_str_{i}", 1.0),
                                (f"clip_str_{i}", 1.0)))),
        outputs=(("LORA_STACK", "LORA_STACK"),)),
}
SPECS.update(VALUE_SPECS)
