"""The Session: one document, its queue and history, shared by the window and the command line."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from studio.app import JobState, Session
from studio.app import events as sev
from studio.core import events as ev
from studio.core.pngmeta import PARAMETERS_KEY, WORKFLOW_KEY, read_text_chunks
from studio.core.settings import Settings, resources_dir
from studio.core.workflow import save
from tests import helpers

SAMPLE = resources_dir() / "images" / "sample.png"


@pytest.fixture
def session(tmp_path):
    helpers.reset()
    return Session(helpers.make_registry(with_builtins=True), Settings(), output_dir=tmp_path / "out",
                   rng=random.Random(1))


def _seeded_to_save(session, policy: str, seed: int = 5):
    g = session.graph
    seeded = g.add_node("test.seeded", params={"seed": seed, "seed_control": policy})
    saver = g.add_node("image.save", params={"prefix": "s"})
    g.connect(seeded.id, "image", saver.id, "images")
    return seeded, saver


def _embedded(path: str) -> dict:
    return json.loads(read_text_chunks(Path(path))[WORKFLOW_KEY])


def test_a_png_embeds_exactly_what_ran_under_randomize_and_a_mid_run_edit(session):
    seeded, _ = _seeded_to_save(session, "randomize", seed=1234)
    [job] = session.enqueue()
    assert session.graph.nodes[seeded.id].params["seed"] != 1234  # the next run's seed is already chosen
    session.graph.set_param(seeded.id, "size", 16)  # edited while the job waits / runs
    session.run_next()
    assert job.state is JobState.DONE
    [result] = job.results
    doc = _embedded(result.path)
    [node] = [n for n in doc["nodes"] if n["id"] == seeded.id]
    assert node["params"]["seed"] == 1234 and node["params"]["size"] == 8
    assert doc == json.loads(job.workflow_text)
    assert "seed 1234" in read_text_chunks(Path(result.path))[PARAMETERS_KEY]  # the same run in both texts


@pytest.mark.parametrize(("policy", "seeds"), [("fixed", [7, 7, 7]), ("increment", [7, 8, 9]),
                                               ("decrement", [7, 6, 5])])
def test_a_batch_follows_the_seed_policy(session, policy, seeds):
    seeded, _ = _seeded_to_save(session, policy, seed=7)
    jobs = session.enqueue(3)
    assert [j.snapshot.nodes[seeded.id].params["seed"] for j in jobs] == seeds
    while session.run_next():
        pass
    assert [j.state for j in jobs] == [JobState.DONE] * 3
    # A fully cached run still shows its outputs: every job has its picture.
    assert all(len(j.results) == 1 and j.results[0].image is not None for j in jobs)
    written = {r.path for j in jobs for r in j.results}
    assert len(written) == len(set(seeds))  # the same seed again writes nothing new


def test_randomize_draws_new_seeds(session):
    seeded, _ = _seeded_to_save(session, "randomize")
    jobs = session.enqueue(3)
    assert len({j.snapshot.nodes[seeded.id].params["seed"] for j in jobs}) == 3


def test_cancel_one_pending_job_never_runs_it(session):
    _seeded_to_save(session, "increment")
    events = []
    session.listeners.append(events.append)
    first, second, third = session.enqueue(3)
    session.cancel(second.id)
    while session.run_next():
        pass
    assert [first.state, second.state, third.state] == [JobState.DONE, JobState.CANCELLED, JobState.DONE]
    assert second.summary is None and not second.results
    finished = [e.job for e in events if isinstance(e, sev.JobFinished)]
    assert finished == [first, third]
    assert [j.id for j in session.queue.history()] == [first.id, second.id, third.id]


def test_relative_files_are_found_next_to_the_workflow(session, tmp_path, monkeypatch):
    folder = tmp_path / "shared"
    folder.mkdir()
    shutil.copy(SAMPLE, folder / "picture.png")
    monkeypatch.chdir(tmp_path)  # not the workflow's folder
    g = session.graph
    load = g.add_node("image.load", params={"image": "picture.png"})
    preview = g.add_node("image.preview")
    g.connect(load.id, "image", preview.id, "images")
    save(g, folder / "flow.json")
    other = Session(session.registry, Settings(), output_dir=tmp_path / "out")
    other.open(folder / "flow.json")
    [job] = other.enqueue()
    other.run_next()
    assert job.state is JobState.DONE, job.summary


def test_new_settings_reach_the_next_run_and_not_the_queued_one(session, tmp_path):
    session.output_dir = None  # where Preferences say
    first_out, second_out = tmp_path / "first", tmp_path / "second"
    session.apply_settings(Settings(output_dir=str(first_out)))
    _seeded_to_save(session, "increment")
    [queued] = session.enqueue()
    session.apply_settings(Settings(output_dir=str(second_out)))
    [later] = session.enqueue()
    while session.run_next():
        pass
    assert Path(queued.results[0].path).parent == first_out
    assert Path(later.results[0].path).parent == second_out


def test_a_model_manager_is_shared_until_its_settings_change(session, tmp_path):
    first = session.run_services().models()
    assert session.run_services().models() is first  # loaded models stay resident between runs
    session.apply_settings(Settings(extra_model_roots=[str(tmp_path)]))
    second = session.run_services().models()
    assert second is not first and tmp_path in second.settings.model_roots


def test_shipped_examples_open_as_untitled_copies(session):
    session.open(resources_dir() / "workflows" / "canny.json")
    assert session.path is None and session.template is not None
    with pytest.raises(ValueError, match="choose where"):
        session.save()


def test_old_seed_modes_in_extra_become_the_policy_parameter(session, tmp_path):
    g = session.graph
    node = g.add_node("test.seeded")
    del node.params["seed_control"]  # as files written before the policy was a parameter
    node.extra["seed_control"] = {"seed": "randomize"}
    save(g, tmp_path / "old.json")
    session.open(tmp_path / "old.json")
    [node] = session.graph.nodes.values()
    assert node.params["seed_control"] == "randomize" and "seed_control" not in node.extra


def test_output_files_are_typed_events(session):
    _seeded_to_save(session, "fixed")
    events = []
    session.listeners.append(events.append)
    session.enqueue()
    session.run_next()
    files = [e for e in events if isinstance(e, ev.OutputFile)]
    assert len(files) == 1 and Path(files[0].path).is_file()
    kinds = [type(e).__name__ for e in events if not isinstance(e, sev.GraphEdited)]
    assert kinds[0] == "JobQueued" and kinds[1] == "JobStarted" and kinds[-1] == "JobFinished"


def test_taesd_previews_in_a_real_run(tiny_root, tmp_path):
    import diffusers
    import torch

    torch.manual_seed(0)
    taesd = diffusers.AutoencoderTiny(encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4,
                                      num_encoder_blocks=(1,) * 4, num_decoder_blocks=(1,) * 4)
    taesd.save_pretrained(tmp_path / "extra" / "taesd" / "taesd")
    frames: dict[str, list] = {}
    for mode in ("taesd", "latent2rgb"):
        settings = Settings(models_root=str(tiny_root), extra_model_roots=[str(tmp_path / "extra")],
                            device="cpu", dtype="fp32", preview=mode)
        s = Session(helpers.make_registry(with_builtins=True), settings, output_dir=tmp_path / "out")
        s.open(resources_dir() / "workflows" / "txt2img.json")
        for node in s.graph.nodes.values():
            if node.type_id == "sample.sampler":
                s.graph.set_param(node.id, "steps", 2)
                sampler = node.id
            elif node.type_id == "latent.empty":
                s.graph.set_param(node.id, "width", 64)
                s.graph.set_param(node.id, "height", 64)
        got = frames.setdefault(mode, [])
        s.listeners.append(lambda e, got=got, sampler=sampler: got.append(e.image) if isinstance(e, ev.Preview)
                           and e.node == sampler else None)
        [job] = s.enqueue()
        s.run_next()
        assert job.state is JobState.DONE, job.summary
    assert [f.shape for f in frames["taesd"]] == [(64, 64, 3)] * 2  # decoded at full size
    assert [f.shape for f in frames["latent2rgb"]] == [(8, 8, 3)] * 2  # the fast approximation
    assert all(f.dtype == np.uint8 for f in frames["taesd"])
