"""A relative --output-dir names one folder, under the folder the command was given in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from studio.app import Session
from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.settings import Settings
from studio.core.workflow import save


def _flow(path: Path) -> Path:
    g = Graph(default_registry())
    colour = g.add_node("image.empty", params={"width": 16, "height": 16})
    out = g.add_node("image.save", params={"prefix": "x"})
    g.connect(colour.id, "image", out.id, "images")
    save(g, path)
    return path


def test_relative_output_dir_from_the_command_line(tmp_path):
    work = tmp_path / "work"
    (work / "flows").mkdir(parents=True)
    _flow(work / "flows" / "flow.json")
    env = dict(os.environ, LATENT_STUDIO_HOME=str(tmp_path / "home"))
    res = subprocess.run([sys.executable, "-m", "studio", "run", "flows/flow.json", "--json", "--output-dir", "out/x"],
                         capture_output=True, text=True, env=env, cwd=work, timeout=120)
    assert res.returncode == 0, res.stderr
    (written,) = json.loads(res.stdout.splitlines()[-1])["outputs"]
    assert Path(written) == work / "out" / "x" / "x_00001.png"  # whole, so joining it to anything keeps it
    assert [p.relative_to(work).as_posix() for p in work.rglob("*.png")] == ["out/x/x_00001.png"]


def test_session_keeps_the_folder_it_was_given_in(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    session = Session(default_registry(), Settings(), output_dir="out/x")
    assert session.output_dir == tmp_path / "a" / "out" / "x"
    session.open(_flow(tmp_path / "flow.json"))
    monkeypatch.chdir(tmp_path / "b")  # later lookups happen elsewhere; the output folder stays
    [job] = session.enqueue()
    session.run_next()
    assert job.summary is not None and job.summary.ok, job.summary
    assert [Path(p) for p in job.summary.outputs] == [tmp_path / "a" / "out" / "x" / "x_00001.png"]
