"""Muted and bypassed nodes on the command line (the real entry point, in-process) and in the Session
that it runs through: what runs, what is written, which seeds move on."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from studio import cli
from studio.app import Session
from studio.core.graph import Graph
from studio.core.pngmeta import WORKFLOW_KEY
from studio.core.registry import Registry
from studio.core.settings import Settings
from studio.core.workflow import save
from tests import helpers

PIXELS = np.array([[[0, 64, 255], [10, 20, 30]], [[200, 100, 50], [255, 255, 0]]], np.uint8)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_HOME", str(tmp_path))
    Image.fromarray(PIXELS).save(tmp_path / "in.png")
    yield tmp_path
    _forget_log_file()


def _forget_log_file() -> None:
    """The command line sends logs to this home's file once per process: let later tests choose theirs."""
    import logging

    from studio import logs

    if logs._handler is not None:
        logging.getLogger("studio").removeHandler(logs._handler)
        logs._handler.close()
        logs._handler = None


def _flow(home: Path, *, invert: str = "normal", save_mode: str = "normal", extra=None) -> tuple[Path, dict]:
    """in.png → Invert → Save Image, with the given modes; returns the file and the node ids."""
    from studio.core.registry import default_registry

    g = Graph(default_registry())
    ids = {
        "load": g.add_node("image.load", params={"image": "in.png"}).id,
        "invert": g.add_node("preprocess.invert").id,
        "save": g.add_node("image.save", params={"prefix": "modes"}).id,
    }
    g.connect(ids["load"], "image", ids["invert"], "image")
    g.connect(ids["invert"], "image", ids["save"], "images")
    g.set_mode(ids["invert"], invert)
    g.set_mode(ids["save"], save_mode)
    if extra:
        extra(g, ids)
    path = home / "flow.json"
    save(g, path)
    return path, ids


def _run(capsys, *args) -> tuple[int, list[dict], str]:
    code = cli.main(["run", *map(str, args), "--json"])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def _written(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.png")) if folder.exists() else []


def test_a_muted_save_node_writes_nothing_and_the_run_still_succeeds(home, capsys):
    flow, ids = _flow(home, save_mode="mute")
    out = home / "out"
    code, runs, err = _run(capsys, flow, "--output-dir", out)
    assert code == cli.EXIT_OK, err
    assert len(runs) == 1
    assert runs[0]["executed"] == []  # nothing that runs needs the load or the invert any more
    assert runs[0]["outputs"] == [] and "failed" not in runs[0] and "skipped" not in runs[0]
    assert _written(out) == []


def test_a_bypassed_preprocessor_passes_its_image_through(home, capsys):
    out = home / "out"
    flow, ids = _flow(home)
    code, runs, err = _run(capsys, flow, "--output-dir", out)
    assert code == cli.EXIT_OK, err
    inverted = np.asarray(Image.open(_written(out)[0]).convert("RGB"))
    assert np.array_equal(inverted, 255 - PIXELS)  # the plain run does invert

    flow, ids = _flow(home, invert="bypass")
    code, runs, err = _run(capsys, flow, "--output-dir", out)
    assert code == cli.EXIT_OK, err
    assert set(runs[0]["executed"]) == {ids["load"], ids["save"]}
    (new,) = [Path(p) for p in runs[0]["outputs"]]
    assert np.array_equal(np.asarray(Image.open(new).convert("RGB")), PIXELS)
    # The workflow it embeds says the node was bypassed, so the PNG reruns the same way.
    embedded = json.loads(Image.open(new).text[WORKFLOW_KEY])
    assert {n["id"]: n.get("mode") for n in embedded["nodes"]}[ids["invert"]] == "bypass"


def test_validate_ignores_problems_of_muted_nodes(home, capsys):
    def broken_unused_branch(g, ids):
        lonely = g.add_node("preprocess.invert").id  # its image input is required and unconnected
        g.set_mode(lonely, "mute")

    flow, _ = _flow(home, extra=broken_unused_branch)
    assert cli.main(["validate", str(flow)]) == cli.EXIT_OK
    doc = json.loads(flow.read_text())
    next(n for n in doc["nodes"] if n.get("mode") == "mute")["mode"] = "normal"
    flow.write_text(json.dumps(doc))
    capsys.readouterr()
    assert cli.main(["validate", str(flow)]) == cli.EXIT_BAD_INPUT
    assert "required input is not connected" in capsys.readouterr().out


def test_a_file_that_bypasses_a_loader_is_refused_with_the_reason(home, capsys):
    flow, _ = _flow(home)
    doc = json.loads(flow.read_text())
    doc["nodes"][0]["mode"] = "bypass"  # image.load has no input to hand on
    flow.write_text(json.dumps(doc))
    code, runs, err = _run(capsys, flow, "--output-dir", home / "out")
    assert code == cli.EXIT_BAD_INPUT and runs == []
    assert "Load Image cannot be bypassed" in err and "Traceback" not in err
    assert _written(home / "out") == []


def test_an_invalid_mode_in_the_file_exits_2_naming_the_field(home, capsys):
    flow, _ = _flow(home)
    doc = json.loads(flow.read_text())
    doc["nodes"][1]["mode"] = "off"
    flow.write_text(json.dumps(doc))
    code, runs, err = _run(capsys, flow)
    assert code == cli.EXIT_BAD_INPUT and "$.nodes[1].mode" in err and "Traceback" not in err


def test_a_muted_loader_with_a_missing_model_does_not_stop_the_run(home, capsys):
    def muted_loader(g, ids):
        ckpt = g.add_node("model.checkpoint", params={"checkpoint": "not-here.safetensors"}).id
        g.set_mode(ckpt, "mute")

    flow, ids = _flow(home, extra=muted_loader)
    code, runs, err = _run(capsys, flow, "--output-dir", home / "out")
    assert code == cli.EXIT_OK, err
    assert len(_written(home / "out")) == 1


# -- the Session that the command line and the window share ------------------------------------------

@pytest.fixture
def session(tmp_path):
    helpers.reset()
    reg = Registry(helpers.TEST_TYPES)
    reg.load_builtins()
    return Session(reg, Settings(), output_dir=tmp_path, rng=random.Random(1))


def _seeded_pair(s: Session) -> tuple[str, str, str, str]:
    """seeded(increment) → sink, and seeded2(increment) → sink2."""
    g = s.graph
    a = g.add_node("test.seeded", params={"seed": 10, "seed_control": "increment"}).id
    b = g.add_node("test.seeded", params={"seed": 20, "seed_control": "increment"}).id
    sa, sb = g.add_node("test.sink", params={"tag": "a"}).id, g.add_node("test.sink", params={"tag": "b"}).id
    g.connect(a, "image", sa, "image")
    g.connect(b, "image", sb, "image")
    return a, b, sa, sb


def test_a_partial_run_moves_on_only_the_seeds_that_ran(session):
    a, b, sa, sb = _seeded_pair(session)
    (job,) = session.enqueue(1, targets=[sa])
    assert set(job.snapshot.nodes) == {a, sa}
    assert job.label.startswith("up to Sink") and "seed 10" in job.label and "seed 20" not in job.label
    assert session.graph.nodes[a].params["seed"] == 11 and session.graph.nodes[b].params["seed"] == 20
    summary = session.run_next().summary
    assert set(summary.executed) == {a, sa}
    assert [("a", pytest.approx(10 / 250))] == helpers.SINK_LOG


def test_a_muted_seed_node_keeps_its_seed(session):
    a, b, sa, sb = _seeded_pair(session)
    session.graph.set_mode(b, "mute")
    jobs = session.enqueue(2)
    assert [set(j.snapshot.nodes) for j in jobs] == [{a, sa}] * 2
    assert session.graph.nodes[a].params["seed"] == 12 and session.graph.nodes[b].params["seed"] == 20
    assert [j.snapshot.nodes[a].params["seed"] for j in jobs] == [10, 11]


def test_a_partial_run_after_a_full_one_runs_nothing_again(session):
    a, b, sa, sb = _seeded_pair(session)
    session.graph.set_param(a, "seed_control", "fixed")
    session.graph.set_param(b, "seed_control", "fixed")
    session.enqueue(1)
    first = session.run_next().summary
    assert set(first.executed) == {a, b, sa, sb}
    session.enqueue(1, targets=[a])
    part = session.run_next().summary
    assert part.executed == () and part.cached == (a,)


def test_a_run_waits_for_pending_cache_writes_and_says_why(monkeypatch, capsys):
    from studio import cli
    from studio.diffusion import conversion_cache

    waited: list[bool] = []
    monkeypatch.setattr(conversion_cache, "writes_pending", lambda: True)
    monkeypatch.setattr(conversion_cache, "wait_for_writes", lambda timeout=None: waited.append(True) or True)
    cli._finish_cache_writes(as_json=False)
    assert waited and "saving converted model weights" in capsys.readouterr().err
    cli._finish_cache_writes(as_json=True)  # JSON output: waits without a word
    assert len(waited) == 2 and capsys.readouterr().err == ""
