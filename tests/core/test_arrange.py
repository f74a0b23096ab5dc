import random

import pytest

from studio.core.arrange import align, auto_layout, distribute
from studio.core.graph import Graph, Link

RECTS = {
    "a": (10.0, 50.0, 100.0, 40.0),
    "b": (200.0, 5.0, 60.0, 120.0),
    "c": (-30.0, 300.0, 150.0, 20.0),
}


# -- helpers --------------------------------------------------------------------------------------
def overlaps(rects: dict[str, tuple[float, float, float, float]]) -> list[tuple[str, str]]:
    """Pairs of rectangles sharing some area (a sweep along x, so big graphs stay cheap)."""
    items = sorted(rects.items(), key=lambda kv: kv[1][0])
    hits = []
    for i, (ka, (ax, ay, aw, ah)) in enumerate(items):
        for kb, (bx, by, _bw, bh) in items[i + 1:]:
            if bx >= ax + aw:
                break
            if by < ay + ah and ay < by + bh:
                hits.append((ka, kb))
    return hits


def placed(result, sizes):
    return {n: (x, y, *sizes[n]) for n, (x, y) in result.items()}


def sizes_for(graph, seed=0):
    rng = random.Random(seed)
    return {n: (float(rng.randrange(120, 320, 10)), float(rng.randrange(40, 200, 10))) for n in graph.nodes}


def assert_wires_run_right(graph, result, sizes, among=None):
    among = set(result) if among is None else set(among)
    for lk in graph.links.values():
        if lk.src in among and lk.dst in among:
            assert result[lk.src][0] + sizes[lk.src][0] < result[lk.dst][0], lk


def pipeline(reg):
    """A text-to-image graph with fixed ids, positions scattered on purpose."""
    g = Graph(reg)
    ck = g.add_node("model.checkpoint", (500, 400), node_id="ckpt")
    pos = g.add_node("text.encode", (0, 0), node_id="pos")
    neg = g.add_node("text.encode", (900, -200), node_id="neg")
    lat = g.add_node("latent.empty", (-300, 700), node_id="latent")
    smp = g.add_node("sample.sampler", (100, 100), node_id="sampler")
    dec = g.add_node("latent.vae_decode", (40, 900), node_id="decode")
    save = g.add_node("image.save", (-100, 20), node_id="save")
    g.connect(ck.id, "clip", pos.id, "clip")
    g.connect(ck.id, "clip", neg.id, "clip")
    g.connect(ck.id, "model", smp.id, "model")
    g.connect(pos.id, "conditioning", smp.id, "positive")
    g.connect(neg.id, "conditioning", smp.id, "negative")
    g.connect(lat.id, "latent", smp.id, "latent")
    g.connect(smp.id, "latent", dec.id, "latent")
    g.connect(ck.id, "vae", dec.id, "vae")
    g.connect(dec.id, "image", save.id, "images")
    return g


def chain(reg, names, start=(0.0, 0.0), step=(0.0, 0.0)):
    g = Graph(reg)
    for i, name in enumerate(names):
        g.add_node("test.source" if i == 0 else "test.add",
                   (start[0] + i * step[0], start[1] + i * step[1]), node_id=name)
        if i:
            g.connect(names[i - 1], "image", name, "a")
    return g


# -- align ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("edge", "expected"), [
    ("left", {"a": (-30, 50), "b": (-30, 5), "c": (-30, 300)}),
    ("right", {"a": (160, 50), "b": (200, 5), "c": (110, 300)}),
    ("hcenter", {"a": (65, 50), "b": (85, 5), "c": (40, 300)}),
    ("top", {"a": (10, 5), "b": (200, 5), "c": (-30, 5)}),
    ("bottom", {"a": (10, 280), "b": (200, 200), "c": (-30, 300)}),
    ("vcenter", {"a": (10, 142.5), "b": (200, 102.5), "c": (-30, 152.5)}),
])
def test_align_each_edge(edge, expected):
    result = align(RECTS, edge)
    assert set(result) == set(RECTS)
    for key, (x, y) in expected.items():
        assert result[key] == (pytest.approx(x), pytest.approx(y))


def test_align_rejects_an_unknown_edge_and_accepts_nothing():
    with pytest.raises(ValueError, match="middle"):
        align(RECTS, "middle")
    assert align({}, "left") == {}


# -- distribute -----------------------------------------------------------------------------------
def gaps(rects, axis):
    a = 0 if axis == "horizontal" else 1
    ordered = sorted(rects.values(), key=lambda r: r[a])
    return [b[a] - (r[a] + r[a + 2]) for r, b in zip(ordered, ordered[1:], strict=False)]


@pytest.mark.parametrize("axis", ["horizontal", "vertical"])
def test_distribute_makes_gaps_equal_and_keeps_the_ends(axis):
    rects = {
        "first": (0.0, 0.0, 50.0, 30.0),
        "m1": (70.0, 75.0, 200.0, 10.0),
        "m2": (90.0, 90.0, 10.0, 80.0),
        "m3": (400.0, 410.0, 30.0, 30.0),
        "last": (1000.0, 1000.0, 40.0, 60.0),
    }
    result = distribute(rects, axis)
    moved = placed(result, {k: r[2:] for k, r in rects.items()})
    spaced = gaps(moved, axis)
    assert len(spaced) == 4
    assert max(spaced) - min(spaced) < 1e-6
    inner = 240 if axis == "horizontal" else 120
    first_end = 50 if axis == "horizontal" else 30
    assert spaced[0] == pytest.approx((1000 - first_end - inner) / 4)
    assert result["first"] == (0.0, 0.0) and result["last"] == (1000.0, 1000.0)
    # only the distributed coordinate changes
    other = 1 if axis == "horizontal" else 0
    assert all(result[k][other] == rects[k][other] for k in rects)
    # the middle ones keep their order
    a = 0 if axis == "horizontal" else 1
    assert result["m1"][a] < result["m2"][a] < result["m3"][a]


def test_distribute_leaves_fewer_than_three_alone():
    two = {"a": (0.0, 0.0, 10.0, 10.0), "b": (500.0, 3.0, 10.0, 10.0)}
    assert distribute(two, "horizontal") == {"a": (0.0, 0.0), "b": (500.0, 3.0)}
    assert distribute({}, "vertical") == {}
    with pytest.raises(ValueError):
        distribute(two, "diagonal")


# -- auto_layout ----------------------------------------------------------------------------------
def test_pipeline_runs_left_to_right_without_overlaps(reg):
    g = pipeline(reg)
    sizes = sizes_for(g)
    before = {n: node.pos for n, node in g.nodes.items()}
    result = auto_layout(g, sizes)
    assert set(result) == set(g.nodes)
    assert_wires_run_right(g, result, sizes)
    assert overlaps(placed(result, sizes)) == []
    # columns by longest path: checkpoint and latent | encodes | sampler | decode | save
    lefts = sorted({x for x, _ in result.values()})
    column = {n: lefts.index(x) for n, (x, _) in result.items()}
    assert column == {"ckpt": 0, "latent": 0, "pos": 1, "neg": 1, "sampler": 2, "decode": 3, "save": 4}
    # each column as wide as its widest node plus the gap
    assert lefts[1] - lefts[0] == max(sizes["ckpt"][0], sizes["latent"][0]) + 80
    assert lefts[2] - lefts[1] == max(sizes["pos"][0], sizes["neg"][0]) + 80
    # the top-left of the bounding box stays, and the graph itself is not touched
    assert min(x for x, _ in result.values()) == min(x for x, _ in before.values())
    assert min(y for _, y in result.values()) == min(y for _, y in before.values())
    assert {n: node.pos for n, node in g.nodes.items()} == before


def test_chain_lines_up_on_one_middle(reg):
    g = chain(reg, ["a", "b", "c", "d"], start=(300, 200), step=(-50, 90))
    sizes = {"a": (100.0, 40.0), "b": (150.0, 120.0), "c": (80.0, 60.0), "d": (100.0, 100.0)}
    result = auto_layout(g, sizes, gap_x=20, gap_y=10)
    assert result["a"][0] == 150  # the leftmost node was at x 150, the topmost at y 200
    assert [result[n][0] for n in "abcd"] == [150, 270, 440, 540]
    middles = {result[n][1] + sizes[n][1] / 2 for n in "abcd"}
    assert middles == {200 + 60}  # every column centred on the tallest one's middle


def test_diamond_stacks_the_middle_column_with_the_gap(reg):
    g = Graph(reg)
    for n, y in [("top", 0), ("left", 50), ("right", 300), ("bottom", 10)]:
        g.add_node("test.source" if n == "top" else "test.add", (0, y), node_id=n)
    g.connect("top", "image", "left", "a")
    g.connect("top", "image", "right", "a")
    g.connect("left", "image", "bottom", "a")
    g.connect("right", "image", "bottom", "b")
    sizes = dict.fromkeys(g.nodes, (100.0, 50.0))
    result = auto_layout(g, sizes, gap_x=30, gap_y=20)
    assert result == {"top": (0, 35), "left": (130, 0), "right": (130, 70), "bottom": (260, 35)}


def test_fan_in_keeps_sources_in_their_vertical_order(reg):
    g = Graph(reg)
    for n, y in [("s3", 500), ("s1", -100), ("s2", 40)]:
        g.add_node("test.source", (0, y), node_id=n)
    g.add_node("test.add", (-400, 0), node_id="sum1")
    g.add_node("test.add", (-400, 0), node_id="sum2")
    g.connect("s1", "image", "sum1", "a")
    g.connect("s2", "image", "sum1", "b")
    g.connect("sum1", "image", "sum2", "a")
    g.connect("s3", "image", "sum2", "b")
    sizes = dict.fromkeys(g.nodes, (100.0, 60.0))
    result = auto_layout(g, sizes)
    assert result["s1"][1] < result["s2"][1] < result["s3"][1]
    assert result["s1"][0] == result["s2"][0] == result["s3"][0] < result["sum1"][0] < result["sum2"][0]
    assert_wires_run_right(g, result, sizes)
    assert overlaps(placed(result, sizes)) == []


def test_crossed_pairs_are_untangled(reg):
    """Sources a1 above a2, their consumers placed the other way round: the layout uncrosses them."""
    g = Graph(reg)
    g.add_node("test.source", (0, 0), node_id="a1")
    g.add_node("test.source", (0, 100), node_id="a2")
    g.add_node("test.add", (300, 100), node_id="b1")
    g.add_node("test.add", (300, 0), node_id="b2")
    g.connect("a1", "image", "b1", "a")
    g.connect("a2", "image", "b2", "a")
    result = auto_layout(g, dict.fromkeys(g.nodes, (100.0, 50.0)))
    assert result["a1"][1] < result["a2"][1]
    assert result["b1"][1] < result["b2"][1]


def test_subset_moves_only_itself_and_keeps_its_top_left(reg):
    g = pipeline(reg)
    sizes = sizes_for(g, seed=3)
    subset = ["pos", "neg", "sampler", "decode"]
    result = auto_layout(g, sizes, subset)
    assert set(result) == set(subset)
    assert min(result[n][0] for n in subset) == min(g.nodes[n].pos[0] for n in subset)
    assert min(result[n][1] for n in subset) == min(g.nodes[n].pos[1] for n in subset)
    assert_wires_run_right(g, result, sizes)
    assert overlaps(placed(result, sizes)) == []
    # only wires inside the subset count: the encodes, with the checkpoint left out, are sources
    assert result["pos"][0] == result["neg"][0] < result["sampler"][0] < result["decode"][0]


def test_subset_ignores_wires_through_nodes_outside_it(reg):
    g = chain(reg, ["a", "b", "c"], step=(200, 0))
    sizes = dict.fromkeys(g.nodes, (100.0, 50.0))
    result = auto_layout(g, sizes, ["c", "a", "missing"])
    # a and c share no wire of their own: one row, in their current left-to-right order
    assert result == {"c": (180.0, 0.0), "a": (0.0, 0.0)}


def test_unconnected_nodes_go_in_rows_below(reg):
    g = pipeline(reg)
    notes = [g.add_node("util.note", (50 * i, -900 + i), node_id=f"note{i}").id for i in range(6)]
    g.add_node("test.source", (-2000, 5000), node_id="lonely")
    sizes = sizes_for(g, seed=1)
    result = auto_layout(g, sizes)
    wired = [n for n in result if n not in notes and n != "lonely"]
    bottom = max(result[n][1] + sizes[n][1] for n in wired)
    right = max(result[n][0] + sizes[n][0] for n in wired)
    left = min(result[n][0] for n in wired)
    for n in [*notes, "lonely"]:
        assert result[n][1] >= bottom + 40
        assert left <= result[n][0] and (result[n][0] == left or result[n][0] + sizes[n][0] <= right)
    assert result["lonely"][0] == left  # the leftmost of them comes first
    assert overlaps(placed(result, sizes)) == []
    assert_wires_run_right(g, result, sizes)


def test_only_unconnected_nodes_make_a_block(reg):
    g = Graph(reg)
    for i in range(9):
        g.add_node("util.note", (i * 10, 0), node_id=f"n{i}")
    sizes = dict.fromkeys(g.nodes, (100.0, 60.0))
    result = auto_layout(g, sizes, gap_x=20, gap_y=20)
    assert {y for _, y in result.values()} == {0.0, 80.0, 160.0}  # three rows of three
    assert [result[f"n{i}"] for i in range(3)] == [(0.0, 0.0), (120.0, 0.0), (240.0, 0.0)]
    assert overlaps(placed(result, sizes)) == []


def test_same_input_gives_the_same_layout(reg):
    g = pipeline(reg)
    g.add_node("util.note", (0, 0), node_id="note")
    sizes = sizes_for(g)
    first = auto_layout(g, sizes)
    assert auto_layout(g, sizes) == first
    again = pipeline(reg)
    again.add_node("util.note", (0, 0), node_id="note")
    assert auto_layout(again, sizes) == first


def test_a_loop_falls_back_to_the_current_order(reg):
    g = chain(reg, ["a", "b", "c"], step=(300, 0))
    g.insert_link(Link("c", "image", "a", "b"))  # only a file can make this
    g.add_node("test.add", (900, 50), node_id="d")
    g.connect("c", "image", "d", "a")
    sizes = dict.fromkeys(g.nodes, (100.0, 50.0))
    result = auto_layout(g, sizes)
    assert set(result) == {"a", "b", "c", "d"}
    assert overlaps(placed(result, sizes)) == []
    # the wires that agree with the current left-to-right order still run rightwards
    assert result["a"][0] < result["b"][0] < result["c"][0] < result["d"][0]
    assert auto_layout(g, sizes) == result


def test_empty_inputs(reg):
    g = Graph(reg)
    assert auto_layout(g, {}) == {}
    g.add_node("test.source", (3, 4), node_id="x")
    assert auto_layout(g, {}, []) == {}
    assert auto_layout(g, {}) == {"x": (3.0, 4.0)}  # a missing size counts as the default


def test_a_big_graph_lays_out(reg):
    rng = random.Random(7)
    g = Graph(reg)
    ids: list[str] = []
    for i in range(2000):
        nid = f"n{i:04d}"
        if i < 40 or rng.random() < 0.05:
            g.add_node("test.source", (rng.uniform(0, 5000), rng.uniform(0, 5000)), node_id=nid)
        else:
            g.add_node("test.add", (rng.uniform(0, 5000), rng.uniform(0, 5000)), node_id=nid)
            srcs = rng.sample(ids[max(0, len(ids) - 200):], 2)
            g.insert_link(Link(srcs[0], "image", nid, "a"))
            if rng.random() < 0.5:
                g.insert_link(Link(srcs[1], "image", nid, "b"))
        ids.append(nid)
    sizes = sizes_for(g, seed=11)
    result = auto_layout(g, sizes)
    assert len(result) == 2000
    assert_wires_run_right(g, result, sizes)
    assert overlaps(placed(result, sizes)) == []
