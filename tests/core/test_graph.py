import uuid

import pytest

from studio.core.graph import Graph, GraphError


def test_nodes_get_stable_uuid_ids_and_defaults(reg):
    g = Graph(reg)
    n = g.add_node("preprocess.canny", (10, 20))
    uuid.UUID(n.id)
    assert n.params == {"low": 100, "high": 200, "blur": 0.0}
    assert n.pos == (10.0, 20.0)
    assert g.title_of(n) == "Canny Edges"


def test_refused_connection_gives_reason_and_changes_nothing(reg):
    g = Graph(reg)
    src = g.add_node("test.source")
    sink = g.add_node("test.mask_sink")
    verdict = g.check_connection(src.id, "image", sink.id, "mask")
    assert not verdict and verdict.reason == "IMAGE output cannot feed a MASK input"
    with pytest.raises(GraphError, match="IMAGE output cannot feed a MASK input"):
        g.connect(src.id, "image", sink.id, "mask")
    assert not g.links


def test_one_wire_per_input(reg):
    g = Graph(reg)
    a, b = g.add_node("test.source"), g.add_node("test.source")
    add = g.add_node("test.add")
    g.connect(a.id, "image", add.id, "a")
    verdict = g.check_connection(b.id, "image", add.id, "a")
    assert not verdict and "already has a wire" in verdict.reason
    g.connect(b.id, "image", add.id, "a", replace=True)
    assert g.links[(add.id, "a")].src == b.id and len(g.links) == 1


def test_cycles_are_refused(reg):
    g = Graph(reg)
    src = g.add_node("test.source")
    a, b = g.add_node("test.add"), g.add_node("test.add")
    g.connect(src.id, "image", a.id, "a")
    g.connect(a.id, "image", b.id, "a")
    verdict = g.check_connection(b.id, "image", a.id, "b")
    assert not verdict and "loop" in verdict.reason
    assert not g.check_connection(a.id, "image", a.id, "b")


def test_family_of_a_node_binds_its_other_ports(reg):
    g = Graph(reg)
    model = g.add_node("test.model", params={"family": "sd15"})
    cn_xl = g.add_node("test.controlnet", params={"family": "sdxl"})
    cn_15 = g.add_node("test.controlnet", params={"family": "sd15"})
    apply = g.add_node("test.apply")
    g.connect(model.id, "model", apply.id, "model")
    verdict = g.check_connection(cn_xl.id, "control_net", apply.id, "control_net")
    assert not verdict
    assert verdict.reason == "CONTROL_NET[sdxl] does not fit MODEL[sd15]"
    assert g.check_connection(cn_15.id, "control_net", apply.id, "control_net")
    assert str(g.output_type(apply.id, "model")) == "MODEL[sd15]"


def test_validation_lists_every_problem_with_node_and_port(reg):
    g = Graph(reg)
    add = g.add_node("test.add", title="My Add")
    canny = g.add_node("preprocess.canny")
    g.set_param(canny.id, "low", 999)
    g.set_param(canny.id, "blur", "soft")
    problems = g.validate()
    messages = {(p.node_id, p.port, p.message) for p in problems}
    assert (add.id, "a", "required input is not connected") in messages
    assert (canny.id, "image", "required input is not connected") in messages
    assert (canny.id, "low", "999 is above the maximum 255") in messages
    assert any(p.node_id == canny.id and p.port == "blur" and "expects a number" in p.message for p in problems)
    assert all(p.node_title in ("My Add", "Canny Edges") for p in problems)
    assert f"My Add [{add.id}] › a: required input is not connected" in {str(p) for p in problems}


def test_remove_node_removes_its_links_and_reports_them(reg):
    g = Graph(reg)
    src, add = g.add_node("test.source"), g.add_node("test.add")
    g.connect(src.id, "image", add.id, "a")
    node, links = g.remove_node(src.id)
    assert node.id == src.id and len(links) == 1 and not g.links


def test_groups_and_listeners(reg):
    g = Graph(reg)
    seen = []
    g.listeners.append(lambda what, info: seen.append(what))
    n = g.add_node("test.source")
    grp = g.add_group("Inputs", (0, 0, 300, 200), "#335")
    g.set_pos(n.id, (5, 5))
    g.remove_group(grp.id)
    assert seen == ["node_added", "group_added", "node_moved", "group_removed"]


def test_find_nodes_by_id_or_title(reg):
    g = Graph(reg)
    a = g.add_node("test.source", title="Seed source")
    g.add_node("test.source")
    g.add_node("test.source")
    assert g.find_nodes(a.id) == [a]
    assert g.find_nodes("Seed source") == [a]
    assert len(g.find_nodes("Source")) == 2


def test_a_wire_from_an_output_the_node_lacks_is_a_problem_naming_node_and_port(reg):
    from studio.core.graph import Link

    g = Graph(reg)
    src, sink = g.add_node("test.source", node_id="src"), g.add_node("preprocess.canny", node_id="dst")
    g.insert_link(Link(src.id, "nope", sink.id, "image"))  # files decide their links: insert_link checks nothing
    (problem,) = [p for p in g.validate() if p.severity == "error"]
    assert (problem.node_id, problem.port) == ("dst", "image")
    assert problem.message == "connected to output 'nope' of Source [src], which has no such output"


def test_families_resolve_along_a_long_chain_listed_downstream_first(reg):
    """Thousands of family-typed nodes in a row: resolving one end must not recurse once per node
    (the interpreter's stack holds about a thousand), whichever order the nodes were added in."""
    from studio.core.graph import Link, Node

    g = Graph(reg)
    n = 3000
    ids = [f"a{i}" for i in range(n)]
    for node_id in reversed(ids):
        g.insert_node(Node(node_id, "test.apply", "1.0.0", {}))
    model = g.add_node("test.model", params={"family": "sdxl"}, node_id="m")
    g.insert_link(Link(model.id, "model", ids[0], "model"))
    for a, b in zip(ids, ids[1:], strict=False):
        g.insert_link(Link(a, "model", b, "model"))
    assert str(g.output_type(ids[-1], "model")) == "MODEL[sdxl]"
    cn = g.add_node("test.controlnet", params={"family": "sd15"})
    verdict = g.check_connection(cn.id, "control_net", ids[-1], "control_net")
    assert not verdict and verdict.reason == "CONTROL_NET[sd15] does not fit MODEL[sdxl]"
    problems = g.validate()
    assert {p.port for p in problems} == {"control_net"}  # the ControlNet inputs are unconnected, nothing else


def test_a_loop_made_through_insert_link_does_not_hang_family_resolution(reg):
    from studio.core.graph import Link

    g = Graph(reg)
    a, b = g.add_node("test.apply"), g.add_node("test.apply")
    g.insert_link(Link(a.id, "model", b.id, "model"))
    g.insert_link(Link(b.id, "model", a.id, "model"))
    assert g.output_type(a.id, "model").concrete_family is None
    assert any("loop" in p.message for p in g.validate())
