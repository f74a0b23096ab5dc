"""The headless runner, through a real subprocess as a user would call it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CANNY = ROOT / "resources" / "workflows" / "canny.json"
CANNY_ID = "9c690270-2d94-58f5-b73d-f3c91051d0ec"
SAVE_ID = "2c8df113-2110-5fb2-a3ae-920c23790cfc"


def cli(*args, home: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, LATENT_STUDIO_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd or home, timeout=120)


@pytest.fixture
def home(tmp_path):
    return tmp_path


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_run_twice_executes_nothing_the_second_time(home):
    res = cli("run", CANNY, "--repeat", "2", "--json", "--output-dir", home / "out", home=home)
    assert res.returncode == 0, res.stderr
    first, second = _lines(res.stdout)
    assert first["run"] == 1 and len(first["executed"]) == 3 and first["cached"] == []
    assert second["run"] == 2 and second["executed"] == [] and len(second["cached"]) == 3
    assert set(first) == {"run", "executed", "cached", "outputs", "seconds"}
    png = Path(first["outputs"][0])
    assert png.exists() and png.parent == home / "out"

    # The PNG it wrote runs again (from another folder: the sample image is found in resources).
    again = cli("run", png, "--json", "--output-dir", home / "out", home=home, cwd=home / "out")
    assert again.returncode == 0, again.stderr
    assert len(_lines(again.stdout)[0]["outputs"]) == 1


def test_set_and_sweep_rerun_only_what_changes(home):
    res = cli("run", CANNY, "--json", "--output-dir", home, "--set", "Canny Edges.high=180",
              "--sweep", f"{CANNY_ID}.low=40,60,60", home=home)
    assert res.returncode == 0, res.stderr
    runs = _lines(res.stdout)
    assert len(runs) == 3
    assert len(runs[0]["executed"]) == 3
    assert runs[1]["executed"] == [CANNY_ID, SAVE_ID]
    assert runs[2]["executed"] == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--set", "Nope.low=3"], "no node with id or title 'Nope'"),
        (["--set", "Canny Edges.lowest=3"], "has no parameter 'lowest'"),
        (["--set", "Canny Edges.low=abc"], "not a valid int"),
        (["--set", "Canny Edges.low=999"], "above the maximum 255"),
        (["--set", "garbage"], "expected NODE.PARAM=VALUE"),
        (["--repeat", "0"], "--repeat must be at least 1"),
    ],
)
def test_bad_command_line_input_exits_2_with_a_message(home, args, words):
    res = cli("run", CANNY, *args, home=home)
    assert res.returncode == 2
    assert words in res.stderr and "Traceback" not in res.stderr


def test_broken_workflow_exits_2_without_a_traceback(home):
    bad = home / "bad.json"
    bad.write_text('{"format": "latent-studio.workflow", "version": 1, "nodes": [{"id": 5}]}')
    for command in ("run", "validate"):
        res = cli(command, bad, home=home)
        assert res.returncode == 2
        assert "$.nodes[0].id" in res.stderr and "Traceback" not in res.stderr
    res = cli("run", home / "missing.json", home=home)
    assert res.returncode == 2 and "no such file" in res.stderr


def test_validate_lists_every_problem(home):
    doc = json.loads(CANNY.read_text())
    doc["links"] = doc["links"][:1]  # the saver loses its input
    doc["nodes"][1]["params"]["low"] = -5
    flow = home / "flow.json"
    flow.write_text(json.dumps(doc))
    res = cli("validate", flow, home=home)
    assert res.returncode == 2
    assert "Canny Edges [" in res.stdout and "low: -5 is below the minimum 0" in res.stdout
    assert "Save Image [" in res.stdout and "images: required input is not connected" in res.stdout
    assert cli("validate", CANNY, home=home).returncode == 0


def test_a_failing_node_exits_1(home):
    # A PNG cut in half: its header reads (so validation passes) but its pixels do not, so the node
    # fails while running. A missing file is refused before anything runs (exit 2: see test_validate_*).
    data = (ROOT / "resources" / "images" / "sample.png").read_bytes()
    (home / "cut.png").write_bytes(data[: len(data) // 2])
    doc = json.loads(CANNY.read_text())
    doc["nodes"][0]["params"]["image"] = str(home / "cut.png")
    flow = home / "flow.json"
    flow.write_text(json.dumps(doc))
    res = cli("run", flow, "--json", "--output-dir", home, home=home)
    assert res.returncode == 1, res.stdout + res.stderr
    line = _lines(res.stdout)[0]
    assert "cut.png" in next(iter(line["failed"].values()))
    assert len(line["skipped"]) == 2


def test_workflow_relative_files_are_found_next_to_the_workflow(home):
    shutil.copy(ROOT / "resources" / "images" / "sample.png", home / "mine.png")
    doc = json.loads(CANNY.read_text())
    doc["nodes"][0]["params"]["image"] = "mine.png"
    (home / "sub").mkdir()
    flow = home / "flow.json"
    flow.write_text(json.dumps(doc))
    res = cli("run", flow, "--json", "--output-dir", home, home=home, cwd=home / "sub")
    assert res.returncode == 0, res.stderr


def test_nodes_lists_types_with_ports_and_parameters(home):
    res = cli("nodes", "--json", home=home)
    assert res.returncode == 0
    types = {t["id"]: t for t in json.loads(res.stdout)}
    canny = types["preprocess.canny"]
    assert canny["inputs"][0] == {"name": "image", "type": "IMAGE", "wire": True}
    low = canny["inputs"][1]
    assert (low["name"], low["default"], low["min"], low["max"]) == ("low", 100, 0, 255)
    assert types["image.save"]["side_effect"] is True
    text = cli("nodes", home=home).stdout
    assert "preprocess.canny" in text and "param low: INT = 100 0..255" in text
