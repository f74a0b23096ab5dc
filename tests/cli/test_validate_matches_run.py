"""``validate`` reports exactly what ``run`` refuses to start with, in the same words, and ``run``
refuses before it executes any node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.app import Session
from studio.cli import main
from studio.core import events as ev
from studio.core.settings import resources_dir

EXAMPLES = resources_dir() / "workflows"
FLOW = EXAMPLES / "controlnet_canny.json"
CKPT, LOAD, CONTROLNET, APPLY = "0bda671f", "87bb6d94", "54bdb2cf", "fa0e9d8d"  # node id prefixes in FLOW


@pytest.fixture(scope="module")
def models(tiny_root, tmp_path_factory) -> Path:
    """The tiny models under the example workflows' names, plus a pickle the user has not allowed."""
    root = tmp_path_factory.mktemp("cli-preflight-models")
    for kind in ("checkpoints", "controlnet", "vae"):
        (root / kind).mkdir()
        for f in (tiny_root / kind).iterdir():
            (root / kind / f.name).symlink_to(f.resolve())
    (root / "checkpoints" / "legacy.ckpt").write_bytes(b"never unpickled")
    return root


@pytest.fixture
def executed(models, tmp_path, monkeypatch) -> list:
    """Runs go through the command line up to the executor, which only records the job (no model is
    loaded): what reaches it was not refused."""
    monkeypatch.setenv("LATENT_STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(models))
    monkeypatch.chdir(tmp_path)
    jobs: list = []

    def execute(self: Session, job) -> ev.RunSummary:
        jobs.append(job)
        summary = ev.RunSummary(job.id)
        self.queue.finish(job, summary)
        return summary

    monkeypatch.setattr(Session, "execute", execute)
    return jobs


def _flow(tmp_path: Path, edits: dict[str, dict], source: Path = FLOW) -> Path:
    doc = json.loads(source.read_text())
    for node in doc["nodes"]:
        node["params"].update(edits.get(node["id"][:8], {}))
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(doc))
    return path


def _errors(text: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line.startswith("error: ") and "problem(s)" not in line)


def _both(flow: Path, tmp_path: Path, capsys) -> tuple[int, list[str], int, list[str]]:
    code_v = main(["validate", str(flow)])
    out_v = capsys.readouterr()
    code_r = main(["run", str(flow), "--output-dir", str(tmp_path / "out")])
    out_r = capsys.readouterr()
    assert "▶" not in out_r.err  # no node started
    return code_v, _errors(out_v.out), code_r, _errors(out_r.err)


@pytest.mark.parametrize(("edits", "node", "expected"), [
    ({CKPT: {"checkpoint": "gone.safetensors"}}, CKPT,
     "checkpoint: missing model: gone.safetensors (checkpoints) is not in the model folders"),
    ({CKPT: {"checkpoint": ""}}, CKPT, "checkpoint: no checkpoints model chosen"),
    ({CKPT: {"checkpoint": "legacy.ckpt"}}, CKPT, "checkpoint: legacy.ckpt is a pickle (.ckpt) file"),
    ({CKPT: {"checkpoint": "../../etc/passwd.safetensors"}}, CKPT, "leaves the model folder (it contains '..')"),
    ({CONTROLNET: {"controlnet": "tiny-sdxl-canny.safetensors"}}, APPLY,
     "control_net: CONTROL_NET[sdxl] does not fit"),
    ({LOAD: {"image": "gone.png"}}, LOAD, "image: image not found: gone.png; looked in"),
    ({LOAD: {"image": ""}}, LOAD, "image: no image chosen"),
], ids=["missing-model", "empty-checkpoint", "pickle", "escaping-name", "controlnet-family", "missing-image",
        "empty-image"])
def test_run_refuses_what_validate_reports(executed, tmp_path, capsys, edits, node, expected):
    code_v, errors_v, code_r, errors_r = _both(_flow(tmp_path, edits), tmp_path, capsys)
    assert code_v == 2 and code_r == 2
    assert errors_v == errors_r  # the same problems, in the same words
    [line] = errors_v
    assert f"[{node}" in line and expected in line, line
    assert executed == []


def test_every_problem_is_listed_at_once(executed, tmp_path, capsys):
    flow = _flow(tmp_path, {CKPT: {"checkpoint": "gone.safetensors"}, LOAD: {"image": ""},
                            CONTROLNET: {"controlnet": "legacy.ckpt"}})
    code_v, errors_v, code_r, errors_r = _both(flow, tmp_path, capsys)
    assert code_v == code_r == 2 and errors_v == errors_r
    assert len(errors_v) == 3 and executed == []


def test_a_valid_workflow_passes_both(executed, tmp_path, capsys):
    code_v, errors_v, code_r, errors_r = _both(FLOW, tmp_path, capsys)
    assert (code_v, errors_v, code_r, errors_r) == (0, [], 0, [])
    assert len(executed) == 1


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_examples_validate_exactly_when_run_starts(executed, tmp_path, capsys, example):
    """Over the shipped examples on the tiny models: validate passes ⇔ run's pre-flight passes, and
    where one fails both name the same problems."""
    code_v = main(["validate", str(example)])
    out_v = capsys.readouterr()
    code_r = main(["run", str(example), "--output-dir", str(tmp_path / "out")])
    out_r = capsys.readouterr()
    assert code_v in (0, 2) and code_r in (0, 2), out_r.err
    assert (code_v == 0) == (code_r == 0) == (len(executed) == 1)
    assert _errors(out_v.out) == _errors(out_r.err)
