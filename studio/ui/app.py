"""Application start-up: the window appears first; heavy libraries load later, on first use."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication, QMessageBox

from studio.core.settings import Settings
from studio.logs import log_file, setup_logging


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
    # The icon drawn by scripts/make_icons.py, in every size (title bar, task bar, Alt+Tab).
    from PySide6.QtGui import QIcon

    from studio.core.settings import resources_dir

    icon = QIcon()
    for png in sorted((resources_dir() / "icons").glob("latent-studio-*.png")):
        icon.addFile(str(png))
    app.setWindowIcon(icon)
    app.setDesktopFileName("latent-studio")  # Wayland matches the window to latent-studio.desktop
    return app


class ErrorReporter(QObject):
    """Unexpected exceptions in the GUI process: the traceback goes to the log file, the user sees one
    line that says where the details are (the log panel, and a small box that does not block).

    PySide hands an exception raised in a slot or an overridden Qt method to ``sys.excepthook`` and
    carries on, so replacing that hook is enough to keep the app running; Python threads report
    through ``threading.excepthook``, from their own thread: the line reaches the GUI by a signal.
    """

    reported = Signal(str)
    REPEAT_S = 5.0  # the same error again within this time (a paint event failing every frame): once

    def __init__(self, app: QApplication) -> None:
        super().__init__(app)
        self.box: QMessageBox | None = None
        self._last = ("", 0.0)
        self._previous: tuple[Any, Any] = (sys.excepthook, threading.excepthook)
        self.reported.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> ErrorReporter:
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_excepthook
        return self

    def uninstall(self) -> None:
        if sys.excepthook == self.excepthook:
            sys.excepthook = self._previous[0]
        if threading.excepthook == self.thread_excepthook:
            threading.excepthook = self._previous[1]

    def excepthook(self, exc_type: type[BaseException], exc: BaseException,
                   tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):  # Ctrl+C in the terminal keeps its usual meaning
            self._previous[0](exc_type, exc, tb)
            return
        try:
            self.reported.emit(self.report(exc_type, exc, tb))
        except Exception:  # reporting failed (the app is gone at exit): at least the terminal has it
            sys.__excepthook__(exc_type, exc, tb)

    def thread_excepthook(self, args: Any) -> None:
        if args.exc_type is SystemExit:  # how a thread may end on purpose
            return
        self.excepthook(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)

    @staticmethod
    def report(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> str:
        """Write the traceback to the log and return the one line for the user."""
        path = setup_logging()
        if path is None:  # no log file can be written: the terminal is the only place left
            sys.__excepthook__(exc_type, exc, tb)
        logging.getLogger("studio.ui").error("unexpected error", exc_info=(exc_type, exc, tb))
        message = str(exc).strip().splitlines()
        text = f"{exc_type.__name__}: {message[0][:200]}" if message else exc_type.__name__
        where = f"Details are in the log: {path}" if path else "No log file could be written"
        return f"Unexpected error: {text}. {where}"

    def _show(self, line: str) -> None:
        now = time.monotonic()
        if line == self._last[0] and now - self._last[1] < self.REPEAT_S:
            return
        self._last = (line, now)
        window = self._window()
        if window is not None:
            window.log("error", line)
        try:
            if self.box is not None:  # one box, reused: a burst of errors never stacks windows up
                self.box.setText(line)
        except RuntimeError:  # it was deleted with the window it belonged to
            self.box = None
        if self.box is None:
            self.box = QMessageBox(QMessageBox.Icon.Warning, "Unexpected error", line, QMessageBox.StandardButton.Ok,
                                   window)
            self.box.setWindowModality(Qt.WindowModality.NonModal)
            self.box.setEscapeButton(QMessageBox.StandardButton.Ok)  # else its title bar's close does nothing
            logs = self.box.addButton("Open Logs Folder", QMessageBox.ButtonRole.ActionRole)
            logs.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(log_file().parent))))
        self.box.show()

    @staticmethod
    def _window() -> Any:
        from .main_window import MainWindow

        active = QApplication.activeWindow()
        if isinstance(active, MainWindow):
            return active
        shown = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        return shown[0] if shown else None


def install_error_reporting(app: QApplication) -> ErrorReporter:
    """Route unexpected exceptions to the log and one line for the user (see ``ErrorReporter``)."""
    setup_logging()
    return ErrorReporter(app).install()


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
    reporter = install_error_reporting(app)
    from .main_window import MainWindow

    window = MainWindow()
    window.show()
    app.processEvents()
    open_initial(window, flow)
    window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    QTimer.singleShot(500, window.evaluator.warm_up)  # after the window has painted
    try:
        return app.exec()
    finally:
        reporter.uninstall()
