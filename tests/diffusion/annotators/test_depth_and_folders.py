import numpy as np
import pytest

from studio.diffusion.annotators.depth import DEPTH_MODELS, depth_hint
from studio.diffusion.annotators.detect_resolution import detect_size, resize
from studio.diffusion.annotators.folders import AnnotatorMissing, find_annotator


def test_relative_depth_is_min_max_normalised_near_white():
    inverse_depth = np.array([[1.0, 2.0], [4.0, 8.0]], np.float32)  # bigger = nearer
    hint = depth_hint(inverse_depth, metric=False)
    assert np.allclose(hint, [[0.0, 1 / 7], [3 / 7, 1.0]])
    assert depth_hint(np.full((2, 2), 3.0), metric=False).max() == 0.0


def test_metric_depth_is_inverted_first():
    metres = np.array([[1.0, 2.0], [4.0, 8.0]], np.float32)  # bigger = farther
    hint = depth_hint(metres, metric=True)
    assert hint[0, 0] == 1.0 and hint[1, 1] == 0.0
    assert (np.diff(hint.ravel()) < 0).all()  # monotone: farther is darker


def test_detect_size_rounds_the_short_side_to_multiples_of_64():
    assert detect_size(512, 512, 512) == (512, 512)
    assert detect_size(300, 451, 512) == (512, 768)
    assert detect_size(1080, 1920, 512) == (512, 896)
    assert detect_size(300, 451, 0) == (300, 451)
    img = np.random.default_rng(0).random((30, 40), dtype=np.float32)
    up = resize(img, (64, 80))
    assert up.shape == (64, 80) and up.min() >= img.min() and up.max() <= img.max()
    labels = np.arange(12).reshape(3, 4)
    assert set(np.unique(resize(labels.astype(np.uint8), (9, 16), nearest=True))) == set(range(12))


def test_missing_annotator_says_where_what_and_how(tmp_path):
    spec = DEPTH_MODELS["dpt-hybrid-midas"]
    with pytest.raises(AnnotatorMissing) as err:
        find_annotator([tmp_path], spec)
    msg = str(err.value)
    assert str(tmp_path / "annotators" / "dpt-hybrid-midas") in msg
    assert "Intel/dpt-hybrid-midas" in msg and "https://huggingface.co/Intel/dpt-hybrid-midas" in msg
    assert "config.json" in msg and "preprocessor_config.json" in msg
    folder = tmp_path / "annotators" / "dpt-hybrid-midas"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    assert find_annotator([tmp_path], spec) == folder
