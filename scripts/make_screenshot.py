"""Make docs/screenshot.png: the real studio window under Xvfb, running the Canny → ControlNet
example on tiny random test models (so the generated image itself is noise, by design).

Run with:  xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python scripts/make_screenshot.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from bench.make_models import ensure_tiny_models

    os.environ["LATENT_STUDIO_MODELS"] = str(ensure_tiny_models())
    os.environ.setdefault("LATENT_STUDIO_HOME", tempfile.mkdtemp(prefix="ls-shot-"))
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
    w.view.frame()
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
