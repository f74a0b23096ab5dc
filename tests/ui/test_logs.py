"""The log file: it rotates, it follows the data folder, and the window writes unexpected errors (a Qt
slot, a thread, a node) to it with their traceback while the user sees one line."""

import logging
import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QPushButton

from studio import logs
from studio.logs import log_file, setup_logging
from studio.ui.app import install_error_reporting


@pytest.fixture
def private_log(tmp_path, monkeypatch):
    """A log file of this test's own; the process's logging is put back afterwards."""
    monkeypatch.setenv("LATENT_STUDIO_HOME", str(tmp_path))
    logger = logging.getLogger("studio")
    saved = (list(logger.handlers), logger.level, logger.propagate, logs._handler)
    yield tmp_path / "logs" / "latent-studio.log"
    if logs._handler is not None and logs._handler not in saved[0]:
        logs._handler.close()
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]
    logs._handler = saved[3]


def test_the_log_rotates_past_its_size_limit(private_log):
    assert setup_logging(max_bytes=4000, backups=2) == private_log == log_file()
    log = logging.getLogger("studio.test")
    for i in range(200):  # about 25 kB: several times the limit
        log.info("line %03d %s", i, "x" * 80)
    files = sorted(private_log.parent.iterdir())
    assert [p.name for p in files] == ["latent-studio.log", "latent-studio.log.1", "latent-studio.log.2"]
    assert all(p.stat().st_size <= 4000 for p in files)
    assert "line 199" in private_log.read_text()  # the newest lines are in the live file
    assert not any("line 000" in p.read_text() for p in files)  # the oldest are gone


def test_setup_logging_follows_the_data_folder(private_log, tmp_path, monkeypatch):
    assert setup_logging() == private_log
    assert isinstance(logs._handler, logging.handlers.RotatingFileHandler)
    assert (logs._handler.maxBytes, logs._handler.backupCount) == (logs.MAX_BYTES, logs.BACKUPS) == (2 << 20, 5)
    first = logs._handler
    assert setup_logging() == private_log and logs._handler is first  # again: the same handler
    monkeypatch.setenv("LATENT_STUDIO_HOME", str(tmp_path / "other"))
    moved = setup_logging()
    assert moved == tmp_path / "other" / "logs" / "latent-studio.log"
    logging.getLogger("studio.test").warning("after the move")
    assert "after the move" in moved.read_text() and not private_log.exists()
    assert logging.getLogger("studio").handlers.count(logs._handler) == 1 and first not in logging.getLogger(
        "studio").handlers


def _one_line(w, qtbot, needle):
    qtbot.waitUntil(lambda: any(needle in line for line in w.problems.lines()), timeout=3000)
    [line] = [line for line in w.problems.lines() if needle in line]
    return line


def test_an_exception_in_a_slot_is_logged_and_the_user_sees_one_line(make_window, qtbot, private_log):
    w = make_window()
    button = QPushButton("Break")
    w.statusBar().addWidget(button)
    w.show()

    def broken_slot():
        raise ZeroDivisionError("a bug behind a button")

    button.clicked.connect(broken_slot)
    reporter = install_error_reporting(QApplication.instance())
    try:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        line = _one_line(w, qtbot, "a bug behind a button")
        assert line.endswith(f"Unexpected error: ZeroDivisionError: a bug behind a button. "
                             f"Details are in the log: {private_log}")
        assert "\n" not in line and "Traceback" not in line
        assert reporter.box is not None and reporter.box.isVisible() and reporter.box.text() in line
        text = private_log.read_text()
        assert "Traceback" in text and "in broken_slot" in text and "ZeroDivisionError: a bug behind a button" in text
        assert w.isVisible()  # the studio carries on
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)  # the same error at once: logged, not shown again
        QApplication.processEvents()
        assert private_log.read_text().count("in broken_slot") == 2
        assert sum("a bug behind a button" in t for t in w.problems.lines()) == 1

        thread = threading.Thread(target=lambda: [][1], name="worker")  # a Python thread fails
        thread.start()
        thread.join()
        line = _one_line(w, qtbot, "IndexError")
        assert "Details are in the log" in line and "Traceback" in private_log.read_text().split("IndexError")[0]
    finally:
        reporter.uninstall()
        if reporter.box is not None:
            reporter.box.close()


def test_a_node_that_crashes_in_the_window_leaves_its_traceback_in_the_log(make_window, qtbot, private_log,
                                                                          monkeypatch):
    # A record made on the evaluator's QThread would otherwise ask for its thread name, which leaves a
    # placeholder Python thread object behind that the window fixture counts as a leaked thread.
    monkeypatch.setattr(logging, "logThreads", False)
    assert setup_logging() == private_log
    w = make_window()
    src = w.editor.add_node("test.source", (0, 0))
    bad = w.editor.add_node("test.crash", (300, 0))
    w.editor.connect(src, "image", bad, "image")
    w.run()
    qtbot.waitUntil(lambda: not w.evaluator.busy, timeout=20_000)
    QApplication.processEvents()
    assert any("Crash: KeyError: 'missing'" in line for line in w.problems.lines())
    text = private_log.read_text()
    assert "Traceback" in text and "node Crash" in text and "KeyError: 'missing'" in text
