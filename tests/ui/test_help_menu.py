"""Help menu: About (versions, Copy, licences of the bundled resources), Documentation, Open Logs Folder,
and the same versions from ``latent-studio --version``."""

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl, qVersion
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication

from studio import cli
from studio.app import about_info
from studio.ui import about
from studio.ui.shortcuts import spec

ROOT = Path(__file__).resolve().parents[2]
HELP_IDS = ["help.documentation", "help.shortcuts", "help.node_help", "help.logs_folder", "help.about"]


@pytest.fixture
def opened(monkeypatch):
    """URLs the studio asked the desktop to open (nothing is opened for real)."""
    urls: list[QUrl] = []

    def fake_open(url):
        urls.append(QUrl(url))
        return True

    monkeypatch.setattr(QDesktopServices, "openUrl", fake_open)
    return urls


def _help_menu(w):
    [menu] = [a.menu() for a in w.menuBar().actions() if a.text() == "&Help"]
    return menu


def test_the_help_menu_has_its_actions(make_window):
    w = make_window()
    texts = [a.text() for a in _help_menu(w).actions() if not a.isSeparator()]
    assert texts == ["&Documentation", "&Keyboard Shortcuts", "&Node Help", "Open &Logs Folder",
                     "&About Latent Studio"]
    for action_id in HELP_IDS:  # each is in the shortcut catalogue, so Preferences can give it a key
        assert spec(action_id).category == "Help"
        assert w.actions_by_id[action_id] in _help_menu(w).actions()


def test_about_shows_the_versions_and_copy_puts_them_on_the_clipboard(make_window, qtbot, monkeypatch):
    monkeypatch.setattr(about, "IMPORT_TORCH", False)  # the versions come from package metadata
    w = make_window()
    w.show()
    w.act_about.trigger()
    dlg = w._about_dialog
    assert dlg.isVisible()
    text = dlg.versions_view.toPlainText()
    assert f"Latent Studio: {metadata.version('latent-studio')}" in text
    assert f"torch: {metadata.version('torch')}" in text
    assert f"diffusers: {metadata.version('diffusers')}" in text
    assert f"Qt: {qVersion()}" in text and f"superqt: {metadata.version('superqt')}" in text
    assert f"Python: {sys.version.split()[0]}" in text
    QApplication.clipboard().clear()
    qtbot.mouseClick(dlg.copy_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == text
    assert dlg.copy_button.text() == "Copied"
    rows = {dlg.licence_table.item(r, 0).text(): dlg.licence_table.item(r, 1).text()
            for r in range(dlg.licence_table.rowCount())}
    assert rows["clip_tokenizer"] == "MIT (clip_tokenizer/LICENSE.md)"
    assert rows["configs"] == "not recorded"
    w.act_about.trigger()  # a second time: the same box comes to the front
    assert w._about_dialog is dlg
    dlg.close()


def test_open_logs_folder_makes_it_and_opens_it(make_window, opened, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_HOME", str(tmp_path / "home"))
    w = make_window()
    w.act_logs.trigger()
    folder = tmp_path / "home" / "logs"
    assert folder.is_dir()
    assert opened == [QUrl.fromLocalFile(str(folder))]


def test_documentation_opens_the_readme(make_window, opened):
    w = make_window()
    w.act_docs.trigger()
    assert opened == [QUrl.fromLocalFile(str(ROOT / "README.md"))]


def test_every_bundled_resource_has_a_licence_entry_or_says_not_recorded(tmp_path):
    found = about_info.resource_licences()
    listed = json.loads((ROOT / "resources" / "licences.json").read_text(encoding="utf-8"))["resources"]
    assert [e["path"] for e in listed] == [r.path for r in found[:len(listed)]]
    for entry in found:
        assert (ROOT / "resources" / entry.path).exists() and entry.licence and entry.source
        if entry.licence_file:
            assert (ROOT / "resources" / entry.licence_file).is_file()
    # A folder nobody recorded is listed, and says so; an entry whose files are gone is not.
    (tmp_path / "clip_tokenizer").mkdir()
    (tmp_path / "new_folder").mkdir()
    (tmp_path / "licences.json").write_text(json.dumps({"resources": [
        {"path": "clip_tokenizer", "licence": "MIT", "source": "somewhere"},
        {"path": "gone", "licence": "MIT", "source": "elsewhere"}]}))
    assert [(r.path, r.licence) for r in about_info.resource_licences(tmp_path)] == [
        ("clip_tokenizer", "MIT"), ("new_folder", "not recorded")]


def test_version_prints_the_same_versions_without_loading_torch_or_qt(capsys):
    assert cli.main(["--version"]) == cli.EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"latent-studio {metadata.version('latent-studio')}"
    for name in ("torch", "diffusers", "transformers", "superqt"):
        assert f"{name} {metadata.version(name)}" in out[1]
    code = ("import sys; from studio.cli import main; main(['--version']); "
            "loaded = sorted({'torch', 'diffusers', 'PySide6'} & set(sys.modules)); sys.exit(str(loaded) if loaded else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 0, res.stderr
