"""settings.json "cluster": where the window runs queued jobs ("" here, auto, ray://HOST:PORT)."""

import json

import pytest

from studio.core.settings import Settings, valid_cluster


def _load(tmp_path, data) -> Settings:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return Settings.load(path)


@pytest.mark.parametrize("value", ["", "auto", "ray://head:10001", "ray://10.0.0.5:10001"])
def test_a_valid_cluster_is_kept(tmp_path, value):
    s = _load(tmp_path, {"cluster": value})
    assert s.cluster == value and s.warnings == []


@pytest.mark.parametrize("value", ["local", "head:10001", "ray://", "ray://head 1", "AUTO", 5, None])
def test_a_cluster_that_is_none_of_those_is_ignored_with_a_warning_naming_it(tmp_path, value):
    s = _load(tmp_path, {"cluster": value, "output_dir": "/srv/out"})
    assert s.cluster == ""
    assert s.output_dir == "/srv/out"
    [warning] = s.warnings
    assert "'cluster'" in warning and json.dumps(value) in warning


def test_the_cluster_is_saved_and_read_back(tmp_path):
    path = tmp_path / "settings.json"
    Settings(cluster="ray://head:10001").save(path)
    assert json.loads(path.read_text())["cluster"] == "ray://head:10001"
    assert Settings.load(path).cluster == "ray://head:10001"
    assert Settings().cluster == ""  # this machine unless chosen


def test_valid_cluster():
    assert valid_cluster("auto") and valid_cluster("") and valid_cluster("ray://h:1")
    assert not valid_cluster("ray:/h:1") and not valid_cluster(" auto")
