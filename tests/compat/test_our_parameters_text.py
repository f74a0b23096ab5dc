"""The A1111-style parameters text our PNGs carry is read back by the A1111 importer."""

import pytest

from studio.compat import import_a1111
from studio.core.parameters_text import parameters_text
from studio.core.registry import default_registry
from studio.core.settings import resources_dir
from studio.core.workflow import load_file


def test_our_parameters_text_imports_back_to_the_same_settings():
    reg = default_registry()
    g = load_file(resources_dir() / "workflows" / "controlnet_canny.json", reg)
    snap = g.snapshot()
    save = next(n for n in snap.nodes.values() if n.type_id == "image.save")
    text = parameters_text(snap, save.id)
    back, report = import_a1111(text, reg)
    ours = next(n for n in g.nodes.values() if n.type_id == "sample.sampler").params
    theirs = next(n for n in back.nodes.values() if n.type_id == "sample.sampler").params
    for key in ("seed", "steps", "cfg", "sampler", "scheduler"):
        assert theirs[key] == ours[key], key
    prompts = sorted(n.params["text"] for n in back.nodes.values() if n.type_id == "text.encode")
    assert prompts == sorted(n.params["text"] for n in g.nodes.values() if n.type_id == "text.encode")
    assert any(n.type_id == "control.apply" for n in back.nodes.values())
    assert any(n.type_id == "preprocess.canny" for n in back.nodes.values())


@pytest.mark.parametrize(("sampler", "scheduler"), [
    ("dpmpp_2m", "normal"), ("dpmpp_2m", "karras"), ("euler", "normal"), ("lms", "exponential"),
    ("dpm_2_ancestral", "karras"), ("dpmpp_2s_ancestral", "sgm_uniform"), ("dpmpp_3m_sde", "simple"),
    ("dpmpp_2m", "beta"), ("dpmpp_2m_sde", "ddim_uniform"), ("dpm_2", "normal"),
])
def test_every_sampler_and_schedule_we_write_reads_back_the_same(sampler, scheduler):
    # A1111 reads a missing "Schedule type" as Automatic (Karras for the DPM family), so the text has to name
    # the schedule whenever Automatic would mean something else.
    reg = default_registry()
    g = load_file(resources_dir() / "workflows" / "controlnet_canny.json", reg)
    node = next(n for n in g.nodes.values() if n.type_id == "sample.sampler")
    node.params.update(sampler=sampler, scheduler=scheduler)
    snap = g.snapshot()
    save = next(n for n in snap.nodes.values() if n.type_id == "image.save")
    back, report = import_a1111(parameters_text(snap, save.id), reg)
    theirs = next(n for n in back.nodes.values() if n.type_id == "sample.sampler").params
    assert (theirs["sampler"], theirs["scheduler"]) == (sampler, scheduler)
    assert not [n for n in report.notes if n.kind == "approximated" and ("ampler" in n.text or "chedul" in n.text)]
