"""Importers: ComfyUI workflows (UI and API JSON, PNGs) and A1111 parameter text → our graph.

Qt-free and torch-free; imports studio.core, never the reverse.
"""

from .a1111 import import_a1111
from .comfyui import import_comfyui
from .detect import load_any
from .report import ImportReport, Note

__all__ = ["ImportReport", "Note", "import_a1111", "import_comfyui", "load_any"]
