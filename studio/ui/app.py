"""Application start-up: the window appears first; heavy libraries load later, on first use."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.core.settings import Settings


def create_app(argv: list[str] | None = None) -> QApplication:
    # The evaluator thread runs Python between torch kernels; handing the GIL over every 1 ms
    # (instead of 5) keeps the GUI's event loop from waiting on it.
    sys.setswitchinterval(0.001)
    # instance() is typed as the core application; ours is always a QApplication.
    app = cast(QApplication, QApplication.instance() or QApplication(argv or sys.argv[:1]))
    app.setApplicationName("Latent Studio")
    app.setOrganizationName("Latent Studio")
    app.setApplicationDisplayName("Latent Studio")
    from .theme import apply_dark_theme

    apply_dark_theme(app)
    return app


def any_checkpoints(settings: Settings) -> bool:
    """Whether any checkpoint is installed in the model folders (the first-run banner hides then)."""
    from studio.diffusion.model_folders import list_models

    try:
        return bool(list_models(settings.model_roots, "checkpoints"))
    except OSError:  # an unreadable models folder: show the banner, which says where models go
        return False


def open_initial(window: object, flow: Path | None, *, ask_restore: object = None) -> None:
    """What a launch shows: a recovered graph after a crash, the file asked for, or the example."""
    from . import recovery
    from .main_window import FIRST_RUN, MainWindow

    assert isinstance(window, MainWindow)
    ask = ask_restore or (lambda r: QMessageBox.question(
        window, "Restore unsaved work?",
        "Latent Studio did not close cleanly last time. Restore the workflow you were editing?",
    ) == QMessageBox.StandardButton.Yes)
    # Files left by studios that are no longer running, newest first; running ones are not offered.
    for found in recovery.find_all():
        if ask(found):  # type: ignore[operator]
            from studio.core.workflow import WorkflowError, load

            try:
                graph = load(found.workflow, window.registry)
                recovery.claim(found)
                window.set_graph(graph, Path(found.original_path) if found.original_path else None, clean=False)
                window.show_message("Restored the unsaved workflow from the last session")
                return  # older files are offered at the next start
            except WorkflowError as exc:
                window.error_box("Cannot restore", str(exc))
        recovery.discard(found)
    if flow is not None and window.open_file(flow, ask=False):
        return
    window.open_file(FIRST_RUN, ask=False)  # a shipped example opens untitled: Save asks where
    if not any_checkpoints(window.settings):
        window.show_first_run_banner()


def run_app(flow: Path | None = None) -> int:
    app = create_app()
    from .main_window import MainWindow

    window = MainWindow()
    window.show()
    app.processEvents()
    open_initial(window, flow)
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    QTimer.singleShot(500, window.evaluator.warm_up)  # after the window has painted
    return app.exec()
