"""The workflow loader must answer any input with a graph or a WorkflowError, nothing else."""

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.core.workflow import WorkflowError, dumps, loads
from tests import helpers

REG = helpers.make_registry(with_builtins=True)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _base_doc() -> dict:
    from studio.core.graph import Graph

    g = Graph(REG)
    a = g.add_node("image.load", (0, 0), {"image": "x.png"})
    b = g.add_node("preprocess.canny", (1, 2))
    c = g.add_node("image.save")
    g.connect(a.id, "image", b.id, "image")
    g.connect(b.id, "image", c.id, "images")
    g.add_group("G", (0, 0, 1, 1))
    return json.loads(dumps(g))


BASE = _base_doc()


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


PATHS = list(_paths(BASE))[1:]


def _load(doc_or_text):
    text = doc_or_text if isinstance(doc_or_text, str | bytes) else json.dumps(doc_or_text)
    try:
        graph = loads(text, REG)
    except WorkflowError:
        return
    graph.validate()  # a loaded graph must also validate without crashing
    dumps(graph)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PATHS), json_values, st.booleans())
def test_mutated_workflows_only_raise_workflow_error(path, value, delete):
    doc = json.loads(json.dumps(BASE))
    target = doc
    for key in path[:-1]:
        target = target[key]
    last = path[-1]
    if delete:
        if isinstance(target, dict):
            target.pop(last, None)
        else:
            target.pop(last)
    else:
        target[last] = value
    _load(doc)


@settings(max_examples=EXAMPLES // 4, deadline=None)
@given(json_values)
def test_random_json_only_raises_workflow_error(value):
    _load(value)
    if isinstance(value, dict):
        _load({"format": "latent-studio.workflow", "version": 1, **value})


@settings(max_examples=EXAMPLES // 4, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_workflow_error(data):
    _load(data)
