import pytest

from studio.core.settings import Settings, resources_dir


@pytest.fixture(scope="session")
def annotator_root(tmp_path_factory):
    """A models root whose annotators/ holds every tiny model (built once per session)."""
    from .tiny_annotators import build_all

    root = tmp_path_factory.mktemp("models")
    build_all(root, resources_dir() / "oneformer")
    return root


@pytest.fixture(scope="session")
def annotator_manager(annotator_root):
    from studio.diffusion.model_manager import ModelManager

    return ModelManager(Settings(models_root=str(annotator_root)), device="cpu", dtype="fp32", cache_dir=False)


@pytest.fixture
def model_ctx(make_ctx, annotator_manager):
    def make(**services):
        services.setdefault("models", annotator_manager)
        return make_ctx(**services)

    return make
