"""The installed environment follows the project's dependency rules."""

from importlib import metadata


def _dists() -> set[str]:
    return {(d.metadata["Name"] or "").lower().replace("_", "-") for d in metadata.distributions()}


def test_exactly_one_opencv_package_and_it_is_headless():
    opencv = {d for d in _dists() if d.startswith("opencv")}
    assert opencv == {"opencv-contrib-python-headless"}


def test_no_torchvision_and_only_the_essentials_qt():
    dists = _dists()
    assert "torchvision" not in dists
    assert "pyside6-essentials" in dists and "pyside6" not in dists and "pyside6-addons" not in dists
