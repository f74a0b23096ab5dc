"""Open whatever a user hands us: our workflow (JSON or PNG), ComfyUI JSON, PNG or WebP, A1111 PNG, JPEG, WebP or text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from studio.core.graph import Graph
from studio.core.jsonread import gc_paused
from studio.core.pngmeta import PARAMETERS_KEY, WORKFLOW_KEY, PngMetadataError, is_png, read_text_chunks
from studio.core.registry import Registry
from studio.core.workflow import FORMAT, MAX_FILE_BYTES, WorkflowError, document_to_graph, parse_json

from .a1111 import import_a1111
from .comfyui import import_comfyui
from .comfyui_parse import is_api, is_ui
from .image_meta import ImageMetadataError, image_kind, read_image_texts
from .report import ImportReport

# (model kind, candidate file names) → the first one installed, or None: lets an import use a model
# only where the user has it.
FindModel = Callable[[str, Sequence[str]], str | None]


def load_any(path: str | Path, registry: Registry, *,
             find_model: FindModel | None = None) -> tuple[Graph, ImportReport | None]:
    """(graph, None) for our own files; (graph, report) for imports. Raises WorkflowError."""
    with gc_paused():  # a large import builds many objects and makes no garbage cycles
        return _load_any(Path(path), registry, find_model)


def _load_any(path: Path, registry: Registry, find_model: FindModel | None) -> tuple[Graph, ImportReport | None]:
    source = str(path)
    if not path.is_file():
        raise WorkflowError("$", "no such file", source=source)
    if is_png(path):
        try:
            texts = read_text_chunks(path)
        except PngMetadataError as exc:
            raise WorkflowError("$", str(exc), source=source) from None
        return _from_png_texts(texts, registry, source, find_model)
    kind = image_kind(path)
    if kind is not None:  # WebP and JPEG carry ComfyUI's workflow and A1111's parameters in EXIF
        try:
            texts = read_image_texts(path)
        except ImageMetadataError as exc:
            raise WorkflowError("$", str(exc), source=source) from None
        return _from_png_texts(texts, registry, source, find_model, kind=kind)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise WorkflowError("$", f"file is larger than {MAX_FILE_BYTES // 2**20} MiB", source=source)
        data = path.read_bytes()
    except OSError as exc:
        raise WorkflowError("$", f"cannot read the file: {exc.strerror or exc}", source=source) from None
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped.startswith((b"{", b"[")):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise WorkflowError("$", "neither a workflow, a PNG nor UTF-8 text", source=source) from None
        if "Steps:" in text:
            return import_a1111(text, registry, source=source, find_model=find_model)
    return load_document(parse_json(data, source=source), registry, source, checked=True)


def load_document(doc: object, registry: Registry, source: str | None = None, *,
                  checked: bool = False) -> tuple[Graph, ImportReport | None]:
    """A parsed JSON document of any known kind; ``checked``: it comes from ``parse_json``, which
    already checked its values."""
    if isinstance(doc, dict) and doc.get("format") != FORMAT:
        prompt = doc.get("prompt")
        inner: dict = prompt if isinstance(prompt, dict) else doc
        if is_ui(doc) or is_api(inner):
            return import_comfyui(doc, registry, source=source, checked=checked)
    return document_to_graph(doc, registry, source=source), None


def _from_png_texts(texts: dict[str, str], registry: Registry, source: str,
                    find_model: FindModel | None = None, *, kind: str = "PNG") -> tuple[Graph, ImportReport | None]:
    if WORKFLOW_KEY in texts:
        return load_document(parse_json(texts[WORKFLOW_KEY], source=f"{source} (embedded workflow)"), registry,
                             source, checked=True)
    failure: WorkflowError | None = None
    for key in ("workflow", "prompt"):  # ComfyUI: the editor's workflow wins over the API prompt
        if key in texts:
            where = f"{source} (ComfyUI {key} {'chunk' if kind == 'PNG' else 'EXIF tag'})"
            try:
                graph, report = import_comfyui(parse_json(texts[key], source=where), registry, source=where,
                                               checked=True)
            except WorkflowError as exc:
                failure = failure or exc
                continue
            if failure is not None:
                report.info(f"the embedded workflow could not be read ({failure}); imported the prompt instead")
            return graph, report
    if failure is not None:
        raise failure
    if PARAMETERS_KEY in texts:
        return import_a1111(texts[PARAMETERS_KEY], registry, source=f"{source} (parameters)",
                            find_model=find_model)
    raise WorkflowError("$", f"this {kind} carries no workflow", source=source)
