"""Make docs/screenshot.png: the real studio window under Xvfb, running the Canny → ControlNet
example on tiny random test models (so the generated image itself is noise, by design).

Run with:  xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/make_screenshot.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.scratch import private_home

ROOT = Path(__file__).resolve().parents[1]


NOTE = """### Canny → ControlNet
The **edges** of the photo steer the layout.
- lower *strength* for looser control
- *Scale Image* is bypassed: un-bypass it (Ctrl+B) to work smaller"""


def dress_up(w: Any) -> None:
    """What people do to a shared workflow: groups, a note, and a bypassed node."""
    g = w.graph
    by_type = {n.type_id: n.id for n in g.nodes.values()}
    load, canny = by_type["image.load"], by_type["preprocess.canny"]
    w.graph.set_pos(load, (-340.0, 460.0))
    link = g.links[next(k for k in g.links if k[0] == canny)]
    scale = w.editor.insert_on_wire(link, "image.scale", (0.0, 460.0))
    w.editor.toggle_mode([scale], "bypass")
    control = next(gr for gr in g.groups if gr.title == "Control")
    w.editor.edit_group(control.id, rect=(-360.0, 420.0, 1020.0, 480.0))
    w._select([n.id for n in g.nodes.values() if n.type_id == "text.encode"])
    w.editor.edit_group(w.group_selection(), title="Prompts", color="#3f6b3a")
    note = w.editor.add_node("util.note", (-340.0, 0.0))
    w.editor.set_param(note, "text", NOTE)
    w.scene.clearSelection()


def main() -> int:
    from bench.make_models import ensure_tiny_models

    os.environ["LATENT_STUDIO_MODELS"] = str(ensure_tiny_models())
    private_home("ls-shot-")
    from studio.core.settings import Settings
    from studio.ui.app import create_app
    from studio.ui.main_window import MainWindow

    app = create_app()
    w = MainWindow(Settings(dtype="fp32"), restore_state=False)
    w.setGeometry(0, 0, 1600, 1000)
    w.show()
    w.open_file(ROOT / "resources" / "workflows" / "controlnet_canny.json", ask=False)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.05)
    dress_up(w)
    for _ in range(10):
        app.processEvents()
        time.sleep(0.05)
    w.view.frame()
    w.view.resetTransform()  # close enough to read: the left of the graph, where the groups are
    w.view.scale(0.66, 0.66)
    w.view.zoom_changed.emit(w.view.zoom)
    w.view.centerOn(300, 420)
    for node in w.graph.nodes.values():  # two runs, seeds s and s+1: two results in the history
        if node.type_id == "sample.sampler":
            w.editor.set_param(node.id, "seed_control", "increment")
    w.batch_count.setValue(2)
    w.run()
    while w.evaluator.busy or w.session.queue.running() is not None:
        app.processEvents()
        time.sleep(0.02)
    for item in w.scene.node_items.values():
        item.setSelected(w.graph.nodes[item.node_id].type_id == "preprocess.canny")
    for _ in range(30):
        app.processEvents()
        time.sleep(0.03)
    out = ROOT / "docs" / "screenshot.png"
    if os.environ.get("DISPLAY"):
        subprocess.run(["import", "-window", "root", "-crop", "1600x1000+0+0", str(out)], check=True)
    else:
        w.grab().save(str(out))
    print(out, w.status_label.text())
    w.editor.stack.setClean()
    w.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
