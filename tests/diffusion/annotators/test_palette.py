import json
from pathlib import Path

import numpy as np
import pytest

from studio.core.settings import resources_dir
from studio.diffusion.annotators.palette import ade20k_classes, ade20k_palette, paint_labels


def test_palette_is_the_150_entry_ade20k_one_with_wall_first():
    pal = ade20k_palette()
    assert pal.shape == (150, 3) and pal.dtype == np.uint8
    assert ade20k_classes()[0] == "wall" and pal[0].tolist() == [120, 120, 120]  # not black: no shifted palette
    assert not (pal == 0).all(axis=1).any()
    assert ade20k_classes()[12] == "person" and pal[12].tolist() == [150, 5, 61]
    shared = [i for i, c in enumerate(pal.tolist()) if c == [140, 140, 140]]
    assert len(shared) == 2  # two classes share grey upstream; kept so


def test_palette_matches_the_reference_file_when_present():
    ref = Path("/work/shared/reference/ade20k_palette.json")
    if not ref.exists():
        pytest.skip("reference palette not available")
    assert ade20k_palette().tolist() == json.loads(ref.read_text())["palette"]


def test_label_k_is_painted_palette_k():
    labels = np.arange(150).reshape(10, 15)
    rgb = paint_labels(labels)
    assert rgb.shape == (10, 15, 3) and rgb.dtype == np.uint8
    for k in range(150):
        y, x = divmod(k, 15)
        assert rgb[y, x].tolist() == ade20k_palette()[k].tolist()
    with pytest.raises(ValueError, match="0..149"):
        paint_labels(np.array([[150]]))


def test_oneformer_class_info_ships_locally_with_the_palette_names():
    info = json.loads((resources_dir() / "oneformer" / "ade20k_panoptic.json").read_text())
    assert [info[str(i)]["name"] for i in range(150)] == list(ade20k_classes())
    assert sum(v["isthing"] for v in info.values()) == 100
