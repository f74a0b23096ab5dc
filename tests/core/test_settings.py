"""settings.json: wrong types are reported by key and never crash start-up; saves are atomic."""

import json
import threading

import pytest

from studio.core.settings import Settings


def _load(tmp_path, data) -> Settings:
    path = tmp_path / "settings.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return Settings.load(path)


def test_an_int_where_a_float_is_expected_and_one_root_as_a_string_are_accepted(tmp_path):
    s = _load(tmp_path, {"memory_budget_gb": 8, "extra_model_roots": "/srv/comfy/models"})
    assert s.memory_budget_gb == 8.0
    assert s.extra_model_roots == ["/srv/comfy/models"]
    assert s.warnings == []


@pytest.mark.parametrize(("key", "value", "default"), [
    ("memory_budget_gb", True, 0.0),
    ("memory_budget_gb", "8", 0.0),
    ("memory_budget_gb", -2, 0.0),
    ("device", "gpu", "auto"),
    ("dtype", 16, "auto"),
    ("preview", None, "auto"),
    ("allow_ckpt", "yes", False),
    ("models_root", 5, ""),
    ("extra_model_roots", {"a": 1}, []),
])
def test_a_wrong_value_is_named_in_a_warning_and_takes_its_default(tmp_path, key, value, default):
    s = _load(tmp_path, {key: value, "output_dir": "/srv/out"})
    assert getattr(s, key) == default
    assert s.output_dir == "/srv/out"  # the rest of the file still counts
    assert len(s.warnings) == 1 and repr(key) in s.warnings[0]


def test_bad_entries_of_the_roots_list_are_dropped_alone(tmp_path):
    s = _load(tmp_path, {"extra_model_roots": ["/a", 3, "/b", None]})
    assert s.extra_model_roots == ["/a", "/b"]
    assert len(s.warnings) == 2
    assert "'extra_model_roots[1]'" in s.warnings[0] and "'extra_model_roots[3]'" in s.warnings[1]


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "null", "\xff\xfe"])
def test_an_unreadable_file_gives_defaults_and_one_warning(tmp_path, text):
    s = _load(tmp_path, text)
    assert s == Settings()
    assert len(s.warnings) == 1 and "settings.json" in s.warnings[0]


def test_unknown_keys_are_reported_and_a_missing_file_is_silent(tmp_path):
    assert _load(tmp_path, {"memroy_budget_gb": 4}).warnings == [
        f"{tmp_path / 'settings.json'}: unknown setting 'memroy_budget_gb' ignored"]
    assert Settings.load(tmp_path / "absent.json").warnings == []


def test_save_round_trips_without_the_warnings(tmp_path):
    s = _load(tmp_path, {"device": "gpu", "memory_budget_gb": 6})
    assert s.warnings
    s.save()
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert "warnings" not in saved and "path" not in saved
    again = Settings.load(tmp_path / "settings.json")
    assert again == s and again.warnings == []


def test_concurrent_saves_never_fail(tmp_path):
    path = tmp_path / "settings.json"
    errors: list[BaseException] = []

    def save(i: int) -> None:
        try:
            for _ in range(25):
                Settings(memory_budget_gb=float(i)).save(path)
        except BaseException as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Settings.load(path).memory_budget_gb in {float(i) for i in range(6)}
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]
