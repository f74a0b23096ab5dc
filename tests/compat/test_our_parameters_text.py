"""The A1111-style parameters text our PNGs carry is read back by the A1111 importer."""

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
