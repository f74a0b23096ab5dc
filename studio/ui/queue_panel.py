"""The queue panel: pending, running and finished jobs, newest at the top, with cancel and clear.

Rows are kept per job id and only their changed cells are rewritten, so ``refresh`` stays cheap
with hundreds of jobs. Job ids only grow, so a new job always goes on top and rows never move
(their cancel buttons, being index widgets, would not survive a move).
"""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.app.queue import Job, JobState

from . import theme

COL_ID, COL_LABEL, COL_STATE, COL_TIME, COL_CANCEL = range(5)
JOB_ID_ROLE = Qt.ItemDataRole.UserRole

STATE_LOOK: dict[JobState, tuple[str, str, str]] = {  # icon, colour, text
    JobState.PENDING: ("mdi6.clock-outline", theme.TEXT_DIM, "pending"),
    JobState.RUNNING: ("mdi6.play-circle-outline", "#64b5f6", "running"),
    JobState.DONE: ("mdi6.check-circle-outline", "#81c784", "done"),
    JobState.FAILED: ("mdi6.alert-circle-outline", theme.ERROR, "failed"),
    JobState.CANCELLED: ("mdi6.cancel", "#ffb74d", "cancelled"),
}


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def job_duration(job: Job, now: float | None = None) -> str:
    """How long the job ran (or has been running); empty while it waits or if it never ran."""
    if job.started is None:
        return ""
    end = job.finished if job.finished is not None else (now if now is not None else time.time())
    return format_duration(max(0.0, end - job.started))


def job_tooltip(job: Job) -> str:
    queued = time.strftime("%H:%M:%S", time.localtime(job.created))
    lines = [f"Job {job.id}: {job.label or 'no seed'}", f"queued at {queued}"]
    if job.workflow_path:
        lines.append(job.workflow_path)
    summary = job.summary
    if summary is not None:
        lines += [f"{node}: {message}" for node, message in summary.failed.items()]
        if summary.skipped:
            lines.append(f"{len(summary.skipped)} node(s) skipped")
    if job.results:
        lines.append(f"{len(job.results)} result(s)")
    return "\n".join(lines)


class QueuePanel(QWidget):
    def __init__(self, session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.tree = QTreeWidget()
        self.tree.setColumnCount(5)
        self.tree.setHeaderLabels(["#", "Job", "State", "Time", ""])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setIconSize(QSize(16, 16))
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_LABEL, QHeaderView.ResizeMode.Stretch)
        for column in (COL_ID, COL_STATE, COL_TIME):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_CANCEL, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(COL_CANCEL, 28)
        self.summary = QLabel()
        self.summary.setContentsMargins(4, 0, 4, 0)
        self.clear_pending_button = QPushButton(theme.icon("mdi6.playlist-remove"), "Clear pending")
        self.clear_pending_button.setToolTip("Cancel every job that has not started yet")
        self.clear_pending_button.clicked.connect(self.clear_pending)
        self.clear_finished_button = QPushButton(theme.icon("mdi6.broom"), "Clear finished")
        self.clear_finished_button.setToolTip("Remove finished jobs from the list (and their results from the history)")
        self.clear_finished_button.clicked.connect(self.clear_finished)
        buttons = QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        buttons.addWidget(self.clear_pending_button)
        buttons.addWidget(self.clear_finished_button)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(2)
        col.addWidget(self.tree, 1)
        col.addLayout(buttons)
        self._items: dict[int, QTreeWidgetItem] = {}
        self._shown: dict[int, tuple] = {}  # job id -> what its row shows now
        self._icons = {state: theme.icon(name, color) for state, (name, color, _) in STATE_LOOK.items()}
        # A running job's time ticks while nothing else happens; the timer runs only then.
        self._ticker = QTimer(self)
        self._ticker.setInterval(1000)
        self._ticker.timeout.connect(self._tick)
        self.refresh()

    # -- actions ----------------------------------------------------------------------------------
    def cancel(self, job_id: int) -> None:
        self.session.cancel(job_id)
        self.refresh()

    def clear_pending(self) -> None:
        self.session.clear_pending()
        self.refresh()

    def clear_finished(self) -> None:
        self.session.clear_history()
        self.refresh()

    # -- views ------------------------------------------------------------------------------------
    def item(self, job_id: int) -> QTreeWidgetItem | None:
        return self._items.get(job_id)

    def cancel_button(self, job_id: int) -> QToolButton | None:
        item = self._items.get(job_id)
        widget = self.tree.itemWidget(item, COL_CANCEL) if item is not None else None
        return widget if isinstance(widget, QToolButton) else None

    def shown_job_ids(self) -> list[int]:
        """Job ids in the order of the rows, top first."""
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item.data(COL_ID, JOB_ID_ROLE) for item in items if item is not None]

    def refresh(self) -> None:
        jobs = self.session.queue.jobs()
        ids = {job.id for job in jobs}
        for job_id in [j for j in self._items if j not in ids]:
            item = self._items.pop(job_id)
            self._shown.pop(job_id, None)
            self.tree.takeTopLevelItem(self.tree.indexOfTopLevelItem(item))
        now = time.time()
        for job in sorted(jobs, key=lambda j: j.id):
            known = self._items.get(job.id)
            self._update(known if known is not None else self._new_item(job), job, now)
        counts = {state: 0 for state in JobState}
        for job in jobs:
            counts[job.state] += 1
        parts = [f"{counts[s]} {STATE_LOOK[s][2]}" for s in (JobState.RUNNING, JobState.PENDING) if counts[s]]
        finished = len(jobs) - counts[JobState.RUNNING] - counts[JobState.PENDING]
        if finished:
            parts.append(f"{finished} finished")
        self.summary.setText(" · ".join(parts) or "No jobs. Press Run to queue one.")
        self.clear_pending_button.setEnabled(counts[JobState.PENDING] > 0)
        self.clear_finished_button.setEnabled(finished > 0)
        running = counts[JobState.RUNNING] > 0
        if running and not self._ticker.isActive():
            self._ticker.start()
        elif not running:
            self._ticker.stop()

    def _new_item(self, job: Job) -> QTreeWidgetItem:
        item = QTreeWidgetItem()
        item.setData(COL_ID, JOB_ID_ROLE, job.id)
        item.setText(COL_ID, str(job.id))
        item.setTextAlignment(COL_TIME, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.tree.insertTopLevelItem(0, item)  # ids only grow: the newest is on top
        self._items[job.id] = item
        return item

    def _update(self, item: QTreeWidgetItem, job: Job, now: float) -> None:
        shown = (job.state, job.label, job_duration(job, now), len(job.results), job.summary is not None)
        if self._shown.get(job.id) == shown:
            return
        self._shown[job.id] = shown
        state, label, duration = shown[:3]
        _icon, color, text = STATE_LOOK[state]
        item.setText(COL_LABEL, label or "(no seed)")
        item.setText(COL_STATE, text)
        item.setIcon(COL_STATE, self._icons[state])
        item.setForeground(COL_STATE, QColor(color))
        item.setText(COL_TIME, duration)
        tip = job_tooltip(job)
        for column in range(COL_CANCEL):
            item.setToolTip(column, tip)
        active = not state.finished
        has_button = self.tree.itemWidget(item, COL_CANCEL) is not None
        if active and not has_button:
            self.tree.setItemWidget(item, COL_CANCEL, self._cancel_button(job.id))
        elif not active and has_button:
            self.tree.removeItemWidget(item, COL_CANCEL)

    def _cancel_button(self, job_id: int) -> QToolButton:
        button = QToolButton()
        button.setAutoRaise(True)
        button.setIcon(theme.icon("mdi6.close-circle-outline"))
        button.setToolTip(f"Cancel job {job_id}")
        button.clicked.connect(lambda: self.cancel(job_id))
        return button

    def _tick(self) -> None:
        job = self.session.queue.running()
        item = self._items.get(job.id) if job is not None else None
        if job is None or item is None:
            self._ticker.stop()
            return
        item.setText(COL_TIME, job_duration(job))
