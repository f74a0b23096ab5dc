"""Node modes (mute, bypass), reroutes and partial runs: what the run plan, validation, the snapshot
and the executor make of them, and how the file keeps them."""

from __future__ import annotations

import json

import pytest

from studio.core.executor import Executor
from studio.core.graph import Graph, GraphError, Link
from studio.core.nodetype import Choice, Out, Wire, node
from studio.core.plan import plan_run, target_problem
from studio.core.registry import Registry
from studio.core.workflow import WorkflowError, dumps, loads
from tests import helpers
from tests.helpers import CALLS, SINK_LOG


@node("test.mixed", title="Mixed", category="Test",
      inputs=[Wire("mask", "MASK"), Wire("image", "IMAGE"), Wire("other", "IMAGE", optional=True)],
      outputs=[Out("m", "MASK"), Out("first", "IMAGE"), Out("third", "IMAGE")])
def mixed(ctx, mask, image, other):
    return mask, image, other


@node("test.swap", title="Swap", category="Test",
      inputs=[Wire("mask", "MASK", optional=True), Wire("image", "IMAGE")],
      outputs=[Out("image", "IMAGE")])
def swap(ctx, mask, image):
    return image


@node("test.latent", title="Latent", category="Test", inputs=[Choice("family", ["sd15", "sdxl"])],
      outputs=[Out("latent", "LATENT[$F]")], family=lambda params, services: params.get("family"))
def latent(ctx, family):
    return family


@node("test.sampler", title="Sampler", category="Test",
      inputs=[Wire("model", "MODEL[$F]"), Wire("latent", "LATENT[$F]")], outputs=[Out("latent", "LATENT[$F]")])
def sampler(ctx, model, latent):
    return latent


@pytest.fixture
def reg():
    helpers.reset()
    r = Registry([*helpers.TEST_TYPES, mixed, swap, latent, sampler])
    r.load_builtins()
    return r


def _add(g: Graph, type_id: str, **params) -> str:
    return g.add_node(type_id, params=params).id


def _wire(g: Graph, src: str, dst: str, src_port: str = "image", dst_port: str = "image") -> None:
    g.connect(src, src_port, dst, dst_port)


def _chain(reg):
    """source → add(offset 0.5) → steps → sink."""
    g = Graph(reg)
    src = _add(g, "test.source", value=1.0)
    add = _add(g, "test.add", offset=0.5)
    steps = _add(g, "test.steps", steps=1)
    sink = _add(g, "test.sink", tag="main")
    _wire(g, src, add, dst_port="a")
    _wire(g, add, steps)
    _wire(g, steps, sink)
    return g, src, add, steps, sink


# -- mute ------------------------------------------------------------------------------------------

def test_a_muted_node_and_everything_that_needs_it_do_not_run(reg):
    g, src, add, steps, sink = _chain(reg)
    g.set_mode(add, "mute")
    plan = plan_run(g)
    assert plan.runs == []
    assert plan.skipped[add] == "muted"
    assert plan.skipped[steps] == "needs Add, which is muted"
    assert plan.skipped[sink] == "needs Add, which is muted"  # transitively: the root cause is named
    # What feeds only the muted node does not run either (as in ComfyUI: nothing would use it).
    assert plan.skipped[src] == "feeds only nodes that do not run"
    summary = Executor().run(g.snapshot())
    assert summary.ok and summary.executed == ()
    assert CALLS["source"] == CALLS["add"] == CALLS["steps"] == CALLS["sink"] == 0 and SINK_LOG == []


def test_a_node_with_no_wires_out_still_runs_but_one_feeding_only_a_bypassed_input_does_not(reg):
    g = Graph(reg)
    src, other = _add(g, "test.source"), _add(g, "test.source")
    add, sink = _add(g, "test.add"), _add(g, "test.sink")
    lone = _add(g, "test.source")
    _wire(g, src, add, dst_port="a")
    g.connect(other, "image", add, "b")
    _wire(g, add, sink)
    g.set_mode(add, "bypass")  # output "image" takes input "a": "b" leads nowhere
    plan = plan_run(g)
    assert set(plan.runs) == {src, sink, lone}
    assert plan.skipped[other] == "feeds only nodes that do not run"
    assert plan.inputs[sink]["image"] == (src, "image")


def test_a_muted_node_is_felt_through_bypassed_nodes_and_reroutes(reg):
    g = Graph(reg)
    src = _add(g, "test.source")
    inv = _add(g, "preprocess.invert")
    r1, r2 = _add(g, "util.reroute"), _add(g, "util.reroute")
    sink = _add(g, "test.sink")
    _wire(g, src, inv)
    g.connect(inv, "image", r1, "value")
    g.connect(r1, "value", r2, "value")
    g.connect(r2, "value", sink, "image")
    g.set_mode(inv, "bypass")
    g.set_mode(src, "mute")
    plan = plan_run(g)
    assert plan.runs == []
    assert plan.skipped[sink] == "needs Source, which is muted"
    assert g.validate() == []  # nothing that runs has a problem
    assert Executor().run(g.snapshot()).executed == ()


def test_an_optional_wire_from_a_muted_node_counts_as_unconnected(reg):
    g = Graph(reg)
    a, b = _add(g, "test.source", value=1.0), _add(g, "test.source", value=5.0)
    add = _add(g, "test.add")
    sink = _add(g, "test.sink")
    _wire(g, a, add, dst_port="a")
    _wire(g, b, add, dst_port="b")
    _wire(g, add, sink)
    g.set_mode(b, "mute")
    snap = g.snapshot()
    assert set(snap.nodes) == {a, add, sink}
    assert dict(snap.nodes[add].inputs) == {"a": (a, "image")}
    assert snap.skipped == {b: "muted"}
    summary = Executor().run(snap)
    assert summary.ok and SINK_LOG == [("out", 1.0)]  # b was not added


def test_a_muted_node_with_bad_parameters_has_no_problems(reg):
    g, src, add, steps, sink = _chain(reg)
    g.set_param(steps, "steps", -4)
    assert [p.port for p in g.validate()] == ["steps"]
    g.set_mode(steps, "mute")
    assert g.validate() == []
    g.set_mode(steps, "normal")
    assert [p.port for p in g.validate()] == ["steps"]


# -- bypass ----------------------------------------------------------------------------------------

def test_a_bypassed_node_hands_its_input_on_and_never_runs(reg):
    g, src, add, steps, sink = _chain(reg)
    g.set_mode(add, "bypass")
    snap = g.snapshot()
    assert add not in snap.nodes and snap.skipped[add] == "bypassed"
    assert snap.nodes[steps].inputs["image"] == (src, "image")
    summary = Executor().run(snap)
    assert summary.ok and CALLS["add"] == 0
    assert SINK_LOG == [("main", 1.0)]  # not 1.5: the offset was not applied


def test_a_bypassed_node_gives_the_signatures_of_the_graph_without_it(reg):
    g, src, add, steps, sink = _chain(reg)
    g.set_mode(add, "bypass")
    without, src2, add2, steps2, sink2 = _chain(reg)
    without.remove_node(add2)
    _wire(without, src2, steps2)
    ex = Executor()
    bypassed, plain = ex.signatures(g.snapshot()), ex.signatures(without.snapshot())
    assert [bypassed[n] for n in (src, steps, sink)] == [plain[n] for n in (src2, steps2, sink2)]


def test_bypass_source_uses_the_same_position_else_the_first_input_of_that_kind(reg):
    g = Graph(reg)
    m = g.add_node("test.mixed")
    assert g.bypass_source(m, "m") == "mask"  # position 0, kinds match
    assert g.bypass_source(m, "first") == "image"  # position 1, kinds match
    assert g.bypass_source(m, "third") == "other"  # position 2, kinds match
    assert g.bypass_source(m, "nope") is None
    s = g.add_node("test.swap")
    assert g.bypass_source(s, "image") == "image"  # position 0 is a MASK: the first IMAGE input instead


def test_a_node_that_needs_a_muted_node_has_no_other_problems(reg):
    """Mixed's mask comes from a muted node and its image through a bypass left open: it does not
    run, so the open bypass is not its problem either."""
    g = Graph(reg)
    load = _add(g, "image.load")
    unfed = _add(g, "preprocess.invert")
    m = _add(g, "test.mixed")
    g.connect(load, "mask", m, "mask")
    g.connect(unfed, "image", m, "image")
    g.set_mode(load, "mute")
    g.set_mode(unfed, "bypass")
    assert plan_run(g).problems == [] and g.validate() == []
    assert plan_run(g).skipped[m] == "needs Load Image, which is muted"
    g.set_mode(load, "normal")
    g.set_param(load, "image", "x.png")
    assert [(p.node_id, p.port) for p in g.validate()] == [(m, "image")]


def test_bypass_of_an_optional_position_input_that_is_unconnected(reg):
    """The output at position 2 takes the optional "other" input; left unconnected, what it feeds
    has nothing: a required input there is a problem that names the bypassed node and its input."""
    g = Graph(reg)
    src = _add(g, "test.source")
    m = _add(g, "test.mixed")
    sink = _add(g, "test.sink")
    _wire(g, src, m)
    g.connect(m, "third", sink, "image")
    g.set_mode(m, "bypass")
    problems = g.validate()
    assert len(problems) == 1
    p = problems[0]
    assert p.node_id == sink and p.port == "image"
    assert p.message == f"fed through Mixed [{m}] (bypassed), whose other input is not connected"


def test_a_bypass_with_its_input_unconnected_leaves_a_problem_downstream(reg):
    g, src, add, steps, sink = _chain(reg)
    g.disconnect(add, "a")
    g.set_mode(add, "bypass")
    problems = g.validate()
    assert [(p.node_id, p.port) for p in problems] == [(steps, "image")]
    assert problems[0].message == f"fed through Add [{add}] (bypassed), whose a input is not connected"
    snap = g.snapshot()
    summary = Executor().run(snap)
    assert steps in summary.failed and CALLS["steps"] == 0 and CALLS["sink"] == 0


def test_a_bypass_with_its_input_unconnected_leaves_an_optional_input_unconnected(reg):
    g = Graph(reg)
    a, unfed = _add(g, "test.source", value=2.0), _add(g, "test.steps")
    add = _add(g, "test.add")
    sink = _add(g, "test.sink")
    _wire(g, a, add, dst_port="a")
    g.connect(unfed, "image", add, "b")
    _wire(g, add, sink)
    g.set_mode(unfed, "bypass")
    assert g.validate() == []
    assert Executor().run(g.snapshot()).ok and SINK_LOG == [("out", 2.0)]


def test_bypass_is_refused_for_a_node_that_has_nothing_to_pass_on(reg):
    g = Graph(reg)
    ckpt = _add(g, "model.checkpoint")
    with pytest.raises(GraphError, match="cannot be bypassed: it has no MODEL input") as err:
        g.set_mode(ckpt, "bypass")
    assert "mute it instead" in str(err.value)
    assert g.nodes[ckpt].mode == "normal"
    src = _add(g, "test.source")
    with pytest.raises(GraphError, match="no IMAGE input"):
        g.set_mode(src, "bypass")
    g.set_mode(ckpt, "mute")  # muting is always possible
    with pytest.raises(GraphError, match="no node mode"):
        g.set_mode(ckpt, "sleep")


def test_bypass_is_allowed_for_a_node_without_outputs(reg):
    g, src, add, steps, sink = _chain(reg)
    g.set_mode(sink, "bypass")
    assert g.nodes[sink].mode == "bypass" and g.bypass_problem(sink) is None
    summary = Executor().run(g.snapshot())
    assert summary.ok and CALLS["sink"] == 0 and summary.outputs == ()


def test_reroutes_and_notes_cannot_be_bypassed(reg):
    g = Graph(reg)
    for type_id in ("util.reroute", "util.note"):
        with pytest.raises(GraphError, match="nothing to bypass"):
            g.set_mode(_add(g, type_id), "bypass")


def test_a_file_that_bypasses_a_loader_is_a_validate_error_not_a_crash(reg):
    g = Graph(reg)
    src = _add(g, "test.source")
    sink = _add(g, "test.sink")
    _wire(g, src, sink)
    g.nodes[src].mode = "bypass"  # as a file may say
    problems = g.validate()
    assert any(p.node_id == src and "cannot be bypassed" in p.message for p in problems)
    sink_problem = next(p for p in problems if p.node_id == sink)
    assert sink_problem.port == "image" and "Source" in sink_problem.message
    assert sink_problem.message == (f"fed through Source [{src}] (bypassed), which has no input to pass on "
                                    "to its image output")


# -- reroutes --------------------------------------------------------------------------------------

def test_reroute_chains_are_transparent_and_share_the_cache(reg):
    direct, src, add, steps, sink = _chain(reg)
    routed = Graph(reg)
    ids = {}
    for nid, n in direct.nodes.items():
        ids[nid] = routed.add_node(n.type_id, params=n.params).id
    r1, r2, r3 = (_add(routed, "util.reroute") for _ in range(3))
    routed.connect(ids[src], "image", r1, "value")
    routed.connect(r1, "value", r2, "value")
    routed.connect(r2, "value", ids[add], "a")
    routed.connect(ids[add], "image", r3, "value")
    routed.connect(r3, "value", ids[steps], "image")
    routed.connect(ids[steps], "image", ids[sink], "image")
    assert routed.validate() == []
    ex = Executor()
    sig_direct, sig_routed = ex.signatures(direct.snapshot()), ex.signatures(routed.snapshot())
    assert {ids[k]: v for k, v in sig_direct.items()} == sig_routed
    assert set(routed.snapshot().nodes) == {ids[k] for k in (src, add, steps)} | {ids[sink]}
    ex.run(direct.snapshot())
    again = ex.run(routed.snapshot())
    # Same signatures: only the saver (remembered per node id) runs; the pure nodes come from the cache.
    assert again.executed == (ids[sink],) and set(again.cached) == {ids[src], ids[add], ids[steps]}


def test_a_reroute_carries_the_type_of_its_source(reg):
    g = Graph(reg)
    src = _add(g, "test.source")
    r = _add(g, "util.reroute")
    g.connect(src, "image", r, "value")
    assert str(g.output_type(r, "value")) == "IMAGE"
    empty = _add(g, "latent.empty")
    r2 = _add(g, "util.reroute")
    assert g.output_type(r2, "value").kind.value == "ANY"
    g.connect(empty, "latent", r2, "value")
    assert g.output_type(r2, "value").kind.value == "LATENT"


def test_an_image_through_a_reroute_into_a_latent_input_is_a_validate_error(reg):
    g = Graph(reg)
    src = _add(g, "test.source")
    r = _add(g, "util.reroute")
    ckpt = _add(g, "model.checkpoint")
    vae_decode = _add(g, "latent.vae_decode")
    g.connect(ckpt, "vae", vae_decode, "vae")
    g.connect(r, "value", vae_decode, "latent")  # the reroute carries nothing yet: allowed
    g.insert_link(Link(src, "image", r, "value"))  # as a file may say
    problems = [p for p in g.validate() if p.node_id == vae_decode]
    assert [(p.port, p.message) for p in problems] == [("latent", "IMAGE output cannot feed a LATENT input")]


def test_a_reroute_that_feeds_an_image_input_refuses_a_latent(reg):
    g = Graph(reg)
    r = _add(g, "util.reroute")
    inv = _add(g, "preprocess.invert")
    g.connect(r, "value", inv, "image")
    empty = _add(g, "latent.empty")
    verdict = g.check_connection(empty, "latent", r, "value")
    assert not verdict and verdict.reason == "the reroute feeds Invert: LATENT output cannot feed a IMAGE input"
    with pytest.raises(GraphError):
        g.connect(empty, "latent", r, "value")
    assert g.check_connection(_add(g, "test.source"), "image", r, "value")


def test_a_reroute_feeding_an_image_input_cannot_also_feed_a_mask_input(reg):
    g = Graph(reg)
    r = _add(g, "util.reroute")
    g.connect(r, "value", _add(g, "preprocess.invert"), "image")
    verdict = g.check_connection(r, "value", _add(g, "test.mask_sink"), "mask")
    assert not verdict and verdict.reason == "the reroute already carries IMAGE to Invert"


def test_a_tree_of_reroutes_carries_one_type(reg):
    """R0 feeds R1 (which feeds an IMAGE input) and R2: R2 cannot then feed a MASK input, nor can a
    reroute that feeds a MASK input be wired behind R0."""
    g = Graph(reg)
    r0, r1, r2 = (_add(g, "util.reroute") for _ in range(3))
    g.connect(r0, "value", r1, "value")
    g.connect(r0, "value", r2, "value")
    g.connect(r1, "value", _add(g, "preprocess.invert"), "image")
    verdict = g.check_connection(r2, "value", _add(g, "test.mask_sink"), "mask")
    assert not verdict and "IMAGE" in verdict.reason
    r3 = _add(g, "util.reroute")
    g.connect(r3, "value", _add(g, "test.mask_sink"), "mask")
    r4 = _add(g, "util.reroute")
    g.connect(r4, "value", r0, "value")
    verdict = g.check_connection(r4, "value", r3, "value")
    assert not verdict and "MASK" in verdict.reason and "IMAGE" in verdict.reason


def test_family_checks_work_through_a_reroute(reg):
    g = Graph(reg)
    model = _add(g, "test.model", family="sdxl")
    r1, r2 = _add(g, "util.reroute"), _add(g, "util.reroute")
    g.connect(model, "model", r1, "value")
    g.connect(r1, "value", r2, "value")
    assert str(g.output_type(r2, "value")) == "MODEL[sdxl]"
    apply = _add(g, "test.apply")
    g.connect(r2, "value", apply, "model")
    cn15 = _add(g, "test.controlnet", family="sd15")
    verdict = g.check_connection(cn15, "control_net", apply, "control_net")
    assert not verdict and verdict.reason == "CONTROL_NET[sd15] does not fit MODEL[sdxl]"
    g.insert_link(Link(cn15, "control_net", apply, "control_net"))
    problems = [p for p in g.validate() if p.node_id == apply]
    assert problems and all("does not fit" in p.message for p in problems)


def test_an_sdxl_model_through_a_reroute_does_not_fit_an_sd15_latent(reg):
    g = Graph(reg)
    model = _add(g, "test.model", family="sdxl")
    latent = _add(g, "test.latent", family="sd15")
    r = _add(g, "util.reroute")
    sampler = _add(g, "test.sampler")
    g.connect(model, "model", r, "value")
    g.connect(latent, "latent", sampler, "latent")
    verdict = g.check_connection(r, "value", sampler, "model")
    assert not verdict and verdict.reason == "MODEL[sdxl] does not fit LATENT[sd15]"
    g.insert_link(Link(r, "value", sampler, "model"))  # as a file may say
    problems = [(p.node_id, p.port) for p in g.validate()]
    assert problems == [(sampler, "latent")]  # the model (first input) fixed the family
    g.set_param(model, "family", "sd15")
    assert g.validate() == []


def test_wiring_a_model_into_a_reroute_checks_the_family_of_what_it_feeds(reg):
    """The reroute is wired to its consumer first, then fed: the consumer's other input (an SD1.5
    ControlNet) has fixed the family, so an SDXL model is refused as a direct wire would be."""
    g = Graph(reg)
    r = _add(g, "util.reroute")
    apply = _add(g, "test.apply")
    g.connect(_add(g, "test.controlnet", family="sd15"), "control_net", apply, "control_net")
    g.connect(r, "value", apply, "model")
    verdict = g.check_connection(_add(g, "test.model", family="sdxl"), "model", r, "value")
    assert not verdict and verdict.reason == "the reroute feeds Apply: MODEL[sdxl] does not fit CONTROL_NET[sd15]"
    assert g.check_connection(_add(g, "test.model", family="sd15"), "model", r, "value")


def test_a_reroute_without_input_leaves_a_problem_downstream(reg):
    g = Graph(reg)
    r = _add(g, "util.reroute")
    sink = _add(g, "test.sink")
    g.connect(r, "value", sink, "image")
    problems = g.validate()
    assert [(p.node_id, p.port) for p in problems] == [(sink, "image")]
    assert "Reroute" in problems[0].message and "not connected" in problems[0].message


def test_a_file_that_bypasses_a_reroute_or_a_note_runs_as_if_it_did_not(reg):
    g, src, add, steps, sink = _chain(reg)
    g.disconnect(steps, "image")
    r = _add(g, "util.reroute")
    g.connect(add, "image", r, "value")
    g.connect(r, "value", steps, "image")
    note = _add(g, "util.note")
    g.nodes[r].mode = g.nodes[note].mode = "bypass"  # set_mode refuses; a file may say it
    assert g.validate() == []
    assert g.snapshot().nodes[steps].inputs["image"] == (add, "image")


def test_notes_never_run(reg):
    g, *_ = _chain(reg)
    note = _add(g, "util.note", text="**hello**")
    plan = plan_run(g)
    assert plan.skipped[note] == "a note" and note not in g.snapshot().nodes
    assert g.validate() == []


# -- partial runs ----------------------------------------------------------------------------------

def _two_branches(reg):
    """source → add → sink, and source2 → fail → sink2 (whose branch is invalid: steps -1)."""
    g, src, add, steps, sink = _chain(reg)
    src2 = _add(g, "test.source", value=2.0)
    bad = _add(g, "test.steps", steps=-1)
    sink2 = _add(g, "test.sink", tag="other")
    _wire(g, src2, bad)
    _wire(g, bad, sink2)
    return g, src, add, steps, sink, src2, bad, sink2


def test_a_partial_snapshot_holds_only_the_target_and_its_upstream(reg):
    g, src, add, steps, sink, src2, bad, sink2 = _two_branches(reg)
    assert any(p.node_id == bad for p in g.validate())
    snap = g.snapshot(targets=[add])
    assert set(snap.nodes) == {src, add} and snap.targets == (add,)
    assert snap.problems == ()  # the broken branch is not this run's business
    assert snap.skipped[steps] == snap.skipped[sink2] == snap.skipped[bad] == "not needed for this run"
    summary = Executor().run(snap)
    assert summary.ok and set(summary.executed) == {src, add} and CALLS["steps"] == 0


def test_a_partial_run_reuses_a_previous_full_run(reg):
    g, src, add, steps, sink = _chain(reg)
    ex = Executor()
    full = ex.run(g.snapshot())
    assert set(full.executed) == {src, add, steps, sink}
    part = ex.run(g.snapshot(targets=[steps]))
    assert part.executed == () and set(part.cached) == {src, add, steps}
    g.set_param(add, "offset", 2.0)
    part = ex.run(g.snapshot(targets=[add]))
    assert part.executed == (add,) and part.cached == (src,)
    assert CALLS["sink"] == 1 and CALLS["steps"] == 1


def test_a_partial_run_keeps_problems_of_its_own_nodes(reg):
    g, src, add, steps, sink, src2, bad, sink2 = _two_branches(reg)
    snap = g.snapshot(targets=[sink2])
    assert set(snap.nodes) == {src2, bad, sink2}
    assert [p.node_id for p in snap.problems] == [bad]


def test_target_problem_says_why_a_node_cannot_run(reg):
    g, src, add, steps, sink = _chain(reg)
    assert target_problem(g, steps) is None
    g.set_mode(add, "mute")
    assert target_problem(g, add) == "Add does not run: muted"
    assert target_problem(g, steps) == "Steps does not run: needs Add, which is muted"
    g.set_mode(add, "bypass")
    assert target_problem(g, add) == "Add does not run: bypassed"
    assert target_problem(g, steps) is None
    assert target_problem(g, "nope") == "that node is not in the graph"
    assert target_problem(g, _add(g, "util.reroute")) == "Reroute does not run: a reroute"


def test_a_partial_run_through_a_bypassed_node(reg):
    g, src, add, steps, sink = _chain(reg)
    g.set_mode(add, "bypass")
    snap = g.snapshot(targets=[steps])
    assert set(snap.nodes) == {src, steps}
    assert snap.nodes[steps].inputs["image"] == (src, "image")


# -- the file --------------------------------------------------------------------------------------

def _styled(reg):
    g, src, add, steps, sink = _chain(reg)
    g.set_mode(add, "bypass")
    g.set_mode(sink, "mute")
    g.set_style(steps, collapsed=True, color="#336699")
    g.set_style(src, color="#8a2b3c4d")
    return g, src, add, steps, sink


def test_modes_collapse_and_colour_survive_save_and_load_byte_for_byte(reg):
    g, src, add, steps, sink = _styled(reg)
    text = dumps(g)
    back = loads(text, reg)
    assert back.nodes[add].mode == "bypass" and back.nodes[sink].mode == "mute"
    assert back.nodes[src].mode == "normal" and back.nodes[steps].mode == "normal"
    assert back.nodes[steps].collapsed and not back.nodes[add].collapsed
    assert back.nodes[steps].color == "#336699" and back.nodes[src].color == "#8a2b3c4d"
    assert back.nodes[add].color is None
    assert dumps(back) == text
    entry = {n["id"]: n for n in json.loads(text)["nodes"]}
    assert "mode" not in entry[src] and "collapsed" not in entry[add] and "color" not in entry[add]
    assert not any(k in n.get("params", {}) for n in entry.values() for k in ("mode", "collapsed", "color"))


def _doc_with(reg, **fields):
    g, *_ = _chain(reg)
    doc = json.loads(dumps(g))
    doc["nodes"][1].update(fields)
    return json.dumps(doc)


@pytest.mark.parametrize("mode", ["Bypass", "muted", "", 3, None, ["mute"]])
def test_an_invalid_mode_is_a_workflow_error_naming_the_field(reg, mode):
    with pytest.raises(WorkflowError) as err:
        loads(_doc_with(reg, mode=mode), reg)
    assert "$.nodes[1].mode" in str(err.value)


@pytest.mark.parametrize("collapsed", ["yes", 1, 0, None, []])
def test_a_collapsed_that_is_not_true_or_false_is_a_workflow_error(reg, collapsed):
    with pytest.raises(WorkflowError) as err:
        loads(_doc_with(reg, collapsed=collapsed), reg)
    assert "$.nodes[1].collapsed" in str(err.value)


@pytest.mark.parametrize("color", ["red", "#12", "#12345", "#ggg", "#fff\n", " #fff", "", "#1234567890", 12,
                                   ["#fff"], {"r": 1}, True])
def test_a_garbage_colour_is_dropped(reg, color):
    g = loads(_doc_with(reg, color=color), reg)
    node = list(g.nodes.values())[1]
    assert node.color is None
    assert "color" not in json.loads(dumps(g))["nodes"][1]
    assert dumps(loads(dumps(g), reg)) == dumps(g)


@pytest.mark.parametrize("color", ["#fff", "#A1B2C3", "#80a1b2c3"])
def test_good_colours_are_kept(reg, color):
    assert list(loads(_doc_with(reg, color=color), reg).nodes.values())[1].color == color


def test_a_loaded_mode_takes_effect(reg):
    g = loads(_doc_with(reg, mode="mute"), reg)
    add = list(g.nodes)[1]
    assert g.nodes[add].mode == "mute" and add not in g.snapshot().nodes


def test_the_snapshot_document_records_the_modes(reg):
    g, src, add, steps, sink = _styled(reg)
    nodes = {n["id"]: n for n in g.snapshot().document["nodes"]}
    assert nodes[add]["mode"] == "bypass" and nodes[sink]["mode"] == "mute"
    assert nodes[steps]["collapsed"] is True


def test_style_edits_take_only_colours_the_file_keeps(reg):
    g, src, add, steps, sink = _chain(reg)
    group = g.add_group("G", (0, 0, 10, 10))
    for bad in ("red", "#fff\n", "#12345", 12, True):
        with pytest.raises(GraphError, match="is not a colour"):
            g.set_style(add, color=bad)
        with pytest.raises(GraphError, match="is not a colour"):
            g.set_group(group.id, color=bad)
    assert g.nodes[add].color is None and group.color is None
    g.set_style(add, color="#ABC")
    g.set_group(group.id, color="#80112233")
    g.set_style(steps, collapsed=True)  # colour unchanged when not given
    assert g.nodes[add].color == "#ABC" and group.color == "#80112233"
    text = dumps(g)
    assert dumps(loads(text, reg)) == text
    g.set_style(add, color=None)
    assert g.nodes[add].color is None
