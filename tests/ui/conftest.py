import threading

import pytest
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QApplication

from studio.core.registry import Registry
from tests import helpers


@pytest.fixture
def registry():
    helpers.reset()
    reg = Registry(helpers.TEST_TYPES)
    reg.load_builtins()
    return reg


@pytest.fixture
def make_window(qtbot, registry):
    """Main windows for a test; afterwards no thread, timer or visible top-level window is left."""
    from studio.ui.app import create_app
    from studio.ui.main_window import MainWindow

    create_app()
    windows = []
    threads_before = set(threading.enumerate())

    def make(**kwargs):
        kwargs.setdefault("registry", registry)
        w = MainWindow(restore_state=False, **kwargs)
        w.ask_save_changes = lambda: "discard"
        w.ask_missing_models = lambda missing: {}  # no modal dialogs in tests
        qtbot.addWidget(w)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.shutdown()
        assert w.evaluator.thread.isFinished()
        assert not w.autosave_timer.isActive()
        w.close()
    QApplication.processEvents()
    assert not [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
    assert not [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    assert QThread.currentThread() is QApplication.instance().thread()
