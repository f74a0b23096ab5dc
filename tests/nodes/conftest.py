import pytest

from studio.core.context import CancelToken, NodeContext

from ..helpers import services as run_services


class Recorder:
    def __init__(self):
        self.events = []

    def __call__(self, kind, data):
        self.events.append((kind, data))


@pytest.fixture
def make_ctx(tmp_path):
    def make(**services):
        services.setdefault("search_dirs", [str(tmp_path)])
        services.setdefault("output_dir", str(tmp_path / "out"))
        rec = Recorder()
        ctx = NodeContext(node_id="n", title="Node", run_id=1, cancel=CancelToken(), emit=rec,
                          services=run_services(**services))
        ctx.recorder = rec
        return ctx

    return make
