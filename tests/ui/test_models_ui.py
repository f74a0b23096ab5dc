"""Model references in the studio: renamed models found on open, substitutes offered, the
Model Manager's listing, folders and a verified download from a local server."""

from __future__ import annotations

import hashlib
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from studio.core.settings import Settings


@pytest.fixture
def models(tmp_path, tiny_root, monkeypatch):
    root = tmp_path / "models"
    (root / "checkpoints").mkdir(parents=True)
    shutil.copy(tiny_root / "checkpoints" / "tiny-sd15.safetensors", root / "checkpoints" / "orig.safetensors")
    shutil.copy(tiny_root / "checkpoints" / "tiny-sdxl.safetensors", root / "checkpoints" / "other-xl.safetensors")
    shutil.copy(tiny_root / "checkpoints" / "tiny-sd2.safetensors", root / "checkpoints" / "other-sd2.safetensors")
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(root))
    return root


def _saved_flow(make_window, tmp_path) -> Path:
    w = make_window(settings=Settings())
    nid = w.editor.add_node("model.checkpoint", (0, 0))
    w.editor.set_param(nid, "checkpoint", "orig.safetensors")
    path = tmp_path / "flow.json"
    assert w._save_to(path)
    [row] = w.graph.models
    assert row["file"] == "orig.safetensors" and row["family"] == "sd15" and len(row["sha256"]) == 64
    return path


def test_a_renamed_model_is_found_by_hash_when_opening(make_window, qtbot, tmp_path, models):
    flow = _saved_flow(make_window, tmp_path)
    (models / "checkpoints" / "orig.safetensors").rename(models / "checkpoints" / "renamed.safetensors")
    w = make_window(settings=Settings())
    asked = []
    w.ask_missing_models = lambda missing: asked.append(missing) or {}
    assert w.open_file(flow, ask=False)
    [node] = w.graph.nodes.values()
    assert node.params["checkpoint"] == "renamed.safetensors" and not asked
    assert w.modified  # the file should be saved with the new name
    w.editor.stack.undo()
    assert node.params["checkpoint"] == "orig.safetensors"


def test_missing_models_offer_same_family_substitutes(make_window, qtbot, tmp_path, models):
    flow = _saved_flow(make_window, tmp_path)
    (models / "checkpoints" / "orig.safetensors").unlink()
    shutil.copy(models / "checkpoints" / "other-sd2.safetensors", models / "checkpoints" / "also-sd2.safetensors")
    w = make_window(settings=Settings())
    offered = []

    def choose(missing):
        offered.extend(missing)
        return {(missing[0].node_id, missing[0].param): "other-sd2.safetensors"}

    w.ask_missing_models = choose
    w.open_file(flow, ask=False)
    [m] = offered
    assert m.file == "orig.safetensors" and m.kind == "checkpoints"
    assert "other-xl.safetensors" not in m.substitutes  # another family is never offered
    [node] = w.graph.nodes.values()
    assert node.params["checkpoint"] == "other-sd2.safetensors"


def test_missing_models_dialog_lists_choices(qtbot, models):
    from studio.diffusion.model_refs import MissingModel
    from studio.ui.missing_models import MissingModelsDialog

    missing = [MissingModel("n1", "Load Checkpoint", "checkpoint", "checkpoints", "gone.safetensors", "sd15",
                            substitutes=("a.safetensors", "b.safetensors"), download="sd15")]
    dlg = MissingModelsDialog(missing, Settings())
    qtbot.addWidget(dlg)
    assert dlg.choices() == {("n1", "checkpoint"): "a.safetensors"}
    dlg.combos[0].setCurrentIndex(0)
    assert dlg.choices() == {}
    assert dlg.table.cellWidget(0, 4) is not None  # the catalogue knows it: a Download button


def test_missing_models_dialog_chooses_nothing_when_the_family_is_unknown(qtbot):
    from PySide6.QtWidgets import QDialogButtonBox

    from studio.diffusion.model_refs import MissingModel
    from studio.ui.missing_models import MissingModelsDialog

    missing = [MissingModel("n1", "Load Checkpoint", "checkpoint", "checkpoints", "gone.safetensors", None,
                            substitutes=("a-sdxl.safetensors", "b-sd15.safetensors"))]
    dlg = MissingModelsDialog(missing, Settings())
    qtbot.addWidget(dlg)
    assert dlg.choices() == {}
    assert not any(b.isDefault() for b in dlg.findChild(QDialogButtonBox).buttons())


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_model_manager_lists_hashes_adds_folders_and_downloads(qtbot, tmp_path, models):
    from studio.ui.model_manager_window import ModelManagerWindow

    w = ModelManagerWindow(Settings())
    qtbot.addWidget(w)
    names = [w.tree.topLevelItem(0).child(i).text(0) for i in range(w.tree.topLevelItem(0).childCount())]
    assert names == ["orig.safetensors", "other-sd2.safetensors", "other-xl.safetensors"]
    families = [w.tree.topLevelItem(0).child(i).text(1) for i in range(3)]
    assert families == ["sd15", "sd2", "sdxl"]
    assert w.unhashed()
    w.compute_hashes()
    # The job's signals reach the GUI after the thread is done: wait for what they show.
    qtbot.waitUntil(lambda: w.tree.topLevelItem(0).child(0).text(3).endswith("…"), timeout=20_000)
    assert not w.unhashed()

    comfy = tmp_path / "ComfyUI"
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    changed = []
    w.settings_changed.connect(changed.append)
    assert w.add_root(str(comfy)) == "ComfyUI"
    assert changed[-1].extra_model_roots == [str(comfy)]

    served = tmp_path / "served"
    served.mkdir()
    payload = bytes(range(256)) * 4000
    (served / "extra-vae.safetensors").write_bytes(payload)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/extra-vae.safetensors"
        assert w.downloads.download_url(url, "vae", hashlib.sha256(payload).hexdigest())
        qtbot.waitUntil(lambda: "Installed" in w.downloads.status.text(), timeout=20_000)
        assert (models / "vae" / "extra-vae.safetensors").read_bytes() == payload
        assert w.downloads.bar.value() == 1000
        assert w.downloads.download_url(url, "vae", "0" * 64)  # wrong hash: refused, not installed twice
        qtbot.waitUntil(lambda: not w.downloads.busy and not w.downloads.cancel_button.isEnabled(), timeout=20_000)
        assert "extra-vae" in w.downloads.status.text() and "Installed" not in w.downloads.status.text()
    finally:
        server.shutdown()
        server.server_close()
    w.close()


def test_a_node_whose_model_is_missing_offers_download(make_window, qtbot, models):
    w = make_window(settings=Settings())
    nid = w.editor.add_node("model.checkpoint", (0, 0))
    w.editor.set_param(nid, "checkpoint", "v1-5-pruned-emaonly.safetensors")  # in the catalogue, not installed
    offers = w.missing_downloads(nid)
    assert offers and offers[0][0] and "1.5" in offers[0][1]
    w.editor.set_param(nid, "checkpoint", "orig.safetensors")  # installed: nothing to offer
    assert w.missing_downloads(nid) == []


def test_a_model_picked_outside_the_model_folders_is_linked_in(qtbot, tmp_path):
    from studio.core.nodetype import File
    from studio.ui.editor_base import EditorContext
    from studio.ui.file_editors import ModelFileEditor

    models, elsewhere = tmp_path / "models", tmp_path / "downloads"
    (models / "checkpoints" / "sd15").mkdir(parents=True)
    elsewhere.mkdir()
    (models / "checkpoints" / "sd15" / "inside.safetensors").write_bytes(b"x")
    (elsewhere / "outside.safetensors").write_bytes(b"y")
    editor = ModelFileEditor(File("checkpoint", file_kind="checkpoints"), EditorContext(model_roots=[models]))
    qtbot.addWidget(editor)
    editor.confirm_link = lambda path, dest: True
    editor.choose(models / "checkpoints" / "sd15" / "inside.safetensors")
    assert editor.value() == "sd15/inside.safetensors"  # a name inside the folders, not an absolute path
    editor.choose(elsewhere / "outside.safetensors")
    link = models / "checkpoints" / "outside.safetensors"
    assert editor.value() == "outside.safetensors" and link.is_symlink()
    assert link.resolve() == (elsewhere / "outside.safetensors").resolve()
    editor.confirm_link = lambda path, dest: False
    editor.choose(tmp_path / "other.safetensors")
    assert editor.value() == "outside.safetensors"  # declined: nothing changes
