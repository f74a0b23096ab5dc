"""Dark theme, port colours and icons."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from studio.core.types import Kind

PORT_COLORS: dict[Kind, str] = {
    Kind.IMAGE: "#64b5f6",
    Kind.MASK: "#cfd8dc",
    Kind.LATENT: "#f06292",
    Kind.CONDITIONING: "#ffb74d",
    Kind.MODEL: "#ba68c8",
    Kind.CLIP: "#fff176",
    Kind.VAE: "#e57373",
    Kind.CONTROL_NET: "#4db6ac",
    Kind.POSE: "#aed581",
    Kind.CLIP_VISION: "#a1887f",
    Kind.CLIP_VISION_OUTPUT: "#d7ccc8",
    Kind.IPADAPTER: "#7986cb",
    Kind.UPSCALE_MODEL: "#90a4ae",
    Kind.GLIGEN: "#4fc3f7",
    Kind.SIGMAS: "#80cbc4",
    Kind.SAMPLER: "#b0bec5",
    Kind.NOISE: "#bcaaa4",
    Kind.GUIDER: "#9fa8da",
    Kind.ANY: "#9e9e9e",
}

CATEGORY_COLORS: dict[str, str] = {
    "Mask": "#8a4a5e",
    "Inpaint": "#7a5a2e",
    "Utility": "#4a5563",
    "Image": "#2f5d8a",
    "Preprocess": "#2e6b5e",
    "Models": "#6a3f7a",
    "Conditioning": "#8a5a24",
    "Control": "#2e6b6b",
    "Latent": "#7a3455",
    "Sampling": "#7a2f2f",
}

CANVAS_BG = "#1e1f22"
GRID_MINOR = "#26282c"
GRID_MAJOR = "#2e3035"
NODE_BG = "#2b2d31"
NODE_BORDER = "#3c3f45"
SELECTION = "#f0b429"
ERROR = "#e5484d"
TEXT = "#e6e6e6"
TEXT_DIM = "#9aa0a6"

# Node modes: purple is what ComfyUI users read as "bypassed".
BYPASS = "#9b4dca"
MUTED_HEADER = "#4b4d52"
MUTED_OPACITY = 0.4
# Notes: a paper-yellow card with dark ink.
NOTE_BG = "#efe2a2"
NOTE_HEADER = "#c7ae4c"
NOTE_TEXT = "#2a2720"
NOTE_LINK = "#1f5fae"
GROUP_DEFAULT = "#3a5068"
MINIMAP_BG = "#cc17181b"  # #aarrggbb: translucent over the canvas
MINIMAP_VIEW = "#e6e6e6"


def port_color(kind: Kind) -> QColor:
    return QColor(PORT_COLORS.get(kind, PORT_COLORS[Kind.ANY]))


def category_color(category: str) -> QColor:
    return QColor(CATEGORY_COLORS.get(category, "#4a4e57"))


def apply_dark_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    p = QPalette()
    base, window, text = QColor("#232427"), QColor("#2a2b2f"), QColor(TEXT)
    p.setColor(QPalette.ColorRole.Window, window)
    p.setColor(QPalette.ColorRole.WindowText, text)
    p.setColor(QPalette.ColorRole.Base, base)
    p.setColor(QPalette.ColorRole.AlternateBase, QColor("#2e3034"))
    p.setColor(QPalette.ColorRole.ToolTipBase, QColor("#34363b"))
    p.setColor(QPalette.ColorRole.ToolTipText, text)
    p.setColor(QPalette.ColorRole.Text, text)
    p.setColor(QPalette.ColorRole.PlaceholderText, QColor(TEXT_DIM))
    p.setColor(QPalette.ColorRole.Button, QColor("#33353a"))
    p.setColor(QPalette.ColorRole.ButtonText, text)
    p.setColor(QPalette.ColorRole.BrightText, QColor("#ff6b6b"))
    p.setColor(QPalette.ColorRole.Highlight, QColor("#3d6fb6"))
    p.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    p.setColor(QPalette.ColorRole.Link, QColor("#7fb2ff"))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6f76"))
    app.setPalette(p)
    app.setStyleSheet(
        "QToolTip { border: 1px solid #4a4d55; padding: 4px; }"
        "QDockWidget::title { padding: 4px 6px; background: #2f3035; }"
        "QStatusBar QLabel { padding: 0 6px; }"
    )


def icon(name: str, color: str = TEXT):  # -> QIcon
    """A qtawesome icon (vector, so crisp at any DPI); falls back to an empty icon."""
    try:
        import qtawesome as qta

        return qta.icon(name, color=color)
    except Exception:
        from PySide6.QtGui import QIcon

        return QIcon()
