"""What the window shows of runs: node states, progress, previews, log lines, queue and history.

Every event arrives unchanged through the evaluator's one signal and is dispatched here by type.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Slot

from studio.app import events as sev
from studio.core import events as ev
from studio.core.imaging import mask_overlay, thumbnail

from .worker import ClusterNote, ClusterRun

if TYPE_CHECKING:
    from .main_window import MainWindow


class RunView(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.last_previews: dict[str, np.ndarray] = {}
        self.pinned: str | None = None  # a node whose output the preview pane keeps showing
        self._to_execute: list[str] = []
        self._done = 0
        self._handlers: dict[type, Any] = {
            ev.RunStarted: self._run_started, ev.NodeStarted: self._node_started, ev.Progress: self._progress,
            ev.NodeFinished: self._node_finished, ev.NodeError: self._node_error, ev.NodeLog: self._node_log,
            ev.OutputFile: self._output_file, ev.RunFinished: self._run_finished,
            sev.JobQueued: self._job_queued, sev.JobStarted: self._job_started, sev.JobFinished: self._job_finished,
            sev.QueueChanged: self._queue_changed,
            ClusterRun: self._cluster_run, ClusterNote: lambda e: self.w.log(e.level, e.text),
        }
        window.evaluator.event.connect(self.dispatch)
        window.evaluator.preview_ready.connect(self._preview_ready)

    @Slot(object)
    def dispatch(self, event: Any) -> None:
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(event)

    # -- helpers ----------------------------------------------------------------------------------
    def _title(self, node_id: str) -> str:
        g = self.w.graph
        return g.title_of(node_id) if node_id in g.nodes else "a removed node"

    def _item(self, node_id: str) -> Any:
        return self.w.scene.node_items.get(node_id)

    def _overall(self, node_fraction: float) -> None:
        total = max(1, len(self._to_execute))
        self.w.progress_bar.setValue(int(1000 * (self._done + node_fraction) / total))

    def node_image(self, node_id: str) -> np.ndarray | None:
        """The node's last IMAGE output, or its last preview frame."""
        outputs = self.w.session.executor.outputs_of(node_id)
        node = self.w.graph.nodes.get(node_id)
        nt = self.w.graph.node_type(node) if node else None
        if outputs and nt is not None:
            for out, value in zip(nt.outputs, outputs, strict=False):
                if out.type.kind.value == "IMAGE" and isinstance(value, np.ndarray):
                    return value
        return self.last_previews.get(node_id)

    def node_thumbnail(self, node_id: str) -> np.ndarray | None:
        """What the node shows on the canvas: its image, with its mask laid over it in red when it
        makes both (Load Image with a painted mask, the outpaint pad)."""
        image = self.node_image(node_id)
        if image is None:
            return None
        outputs = self.w.session.executor.outputs_of(node_id)
        nt = self.w.graph.node_type(node_id) if node_id in self.w.graph.nodes else None
        if outputs and nt is not None and image.dtype != np.uint8:
            masks = [v for o, v in zip(nt.outputs, outputs, strict=False) if o.type.kind.value == "MASK"]
            if masks and isinstance(masks[0], np.ndarray) and masks[0].any():
                try:
                    return mask_overlay(image, masks[0], max_side=160)
                except (TypeError, ValueError):
                    pass  # an odd mask shape: the plain picture still says what the node made
        return thumbnail(image, 160) if image.dtype != np.uint8 else image

    def show_node_output(self, node_id: str, *, force: bool = False) -> None:
        """Show a node's last image in the preview pane (not while another node is pinned)."""
        if self.pinned is not None and node_id != self.pinned and not force:
            return
        image = self.node_image(node_id)
        if image is not None:
            h, w = image.shape[-3:-1]
            pin = "📌 " if node_id == self.pinned else ""
            self.w.preview.show_array(image, f"{pin}{self._title(node_id)} · {w}×{h}")

    def toggle_pin(self, node_id: str) -> None:
        """Pin a node's output to the preview pane (its frames and results only), or unpin it."""
        if self.pinned == node_id or node_id not in self.w.graph.nodes:
            self.pinned = None
            self.w.show_message("Preview follows the selection again")
            return
        self.pinned = node_id
        self.w.show_message(f"Preview pinned to {self._title(node_id)}")
        self.show_node_output(node_id)

    def _shows(self, node_id: str) -> bool:
        return self.pinned is None or self.pinned == node_id or self.pinned not in self.w.graph.nodes

    def refresh_panels(self) -> None:
        self.w.queue_panel.refresh()
        self.w.history_panel.refresh()

    # -- run events -------------------------------------------------------------------------------
    def _run_started(self, e: ev.RunStarted) -> None:
        self.w.progress_bar.setValue(0)
        self.w.progress_bar.show()
        self._to_execute, self._done = list(e.to_execute), 0
        for nid in e.to_execute:
            item = self._item(nid)
            if item is not None:
                item.set_error(None)
                item.state = ""

    def _node_started(self, e: ev.NodeStarted) -> None:
        item = self._item(e.node)
        if item is not None:
            item.state = "running"
            item.set_progress(0.0)
        self.w.status_label.setText(f"Running {self._title(e.node)}…")

    def _progress(self, e: ev.Progress) -> None:
        item = self._item(e.node)
        if item is not None:
            item.set_progress(e.fraction)
        self._overall(e.fraction)
        if e.text:
            self.w.status_label.setText(f"{self._title(e.node)}: {e.text}")

    def _node_finished(self, e: ev.NodeFinished) -> None:
        if not e.cached:
            self._done += 1
            self._overall(0.0)
        item = self._item(e.node)
        if item is None:
            return
        item.set_progress(None)
        item.state = "done"
        picture = self.node_thumbnail(e.node)
        if picture is not None:
            item.set_thumbnail(picture)
        if e.node in self.w.selected() or e.node == self.pinned:
            self.show_node_output(e.node)

    def _node_error(self, e: ev.NodeError) -> None:
        item = self._item(e.node)
        if item is not None:
            item.set_progress(None)
            item.set_error(e.message)
        self.w.log("error", f"{self._title(e.node)}: {e.message}", e.node)

    def _node_log(self, e: ev.NodeLog) -> None:
        self.w.log(e.level, f"{self._title(e.node)}: {e.message}", e.node)

    def _output_file(self, e: ev.OutputFile) -> None:
        self.w.log("info", f"{self._title(e.node)} wrote {e.path}", e.node)

    def _run_finished(self, e: ev.RunFinished) -> None:
        for item in self.w.scene.node_items.values():
            if item.progress is not None:
                item.set_progress(None)
        self.w.progress_bar.hide()

    @Slot()
    def _preview_ready(self) -> None:
        frame = self.w.evaluator.take_preview()
        if frame is None or frame.image is None:
            return
        self.last_previews[frame.node] = frame.image
        step = f"step {frame.step} · " if frame.step >= 0 else ""  # steps count from 1
        if self._shows(frame.node):
            self.w.preview.show_array(frame.image, f"{step}{self._title(frame.node)}")
        item = self._item(frame.node)
        nt = self.w.graph.node_type(item.node) if item is not None else None
        if item is not None and nt is not None and not nt.outputs:
            item.set_thumbnail(frame.image)  # output-less nodes (preview, save) show what they showed

    # -- queue events -----------------------------------------------------------------------------
    def _job_queued(self, e: sev.JobQueued) -> None:
        self.w.act_cancel.setEnabled(True)
        self.refresh_panels()

    def _job_started(self, e: sev.JobStarted) -> None:
        waiting = len(self.w.session.queue.pending())
        more = f" ({waiting} more queued)" if waiting else ""
        self.w.status_label.setText(f"Running job {e.job.id}{more}…")
        self.refresh_panels()

    def _job_finished(self, e: sev.JobFinished) -> None:
        job, summary = e.job, e.job.summary
        self.w.act_cancel.setEnabled(self.w.evaluator.busy)
        if summary is None:
            return
        if summary.cancelled or job.cancel.cancelled:
            text = "Cancelled"
        elif summary.failed:
            text = f"Finished with {len(summary.failed)} error(s) in {summary.seconds:.1f} s"
        else:
            text = (f"Done in {summary.seconds:.2f} s: {len(summary.executed)} executed, "
                    f"{len(summary.cached)} cached")
        self.w.show_message(text)
        shown = [r for r in job.results if r.image is not None]
        if self.pinned is not None and self.pinned in self.w.graph.nodes:
            self.show_node_output(self.pinned)
        elif shown and not summary.cancelled:
            # Also when everything came from the cache: the run's result is on screen, not nothing.
            last = shown[-1]
            self.last_previews.setdefault(last.node_id, last.image)
            self.w.preview.show_array(last.image, f"{last.title} · job {job.id}")
        self.refresh_panels()

    def _cluster_run(self, e: ClusterRun) -> None:
        self.w.preview.clear(f"Previews are not streamed from cluster workers ({e.address}): "
                             "the images appear in History when the job is done")

    def _queue_changed(self, e: sev.QueueChanged) -> None:
        self.w.act_cancel.setEnabled(self.w.evaluator.busy)
        self.refresh_panels()
