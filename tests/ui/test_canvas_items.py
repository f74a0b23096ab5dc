"""Canvas items as a user meets them: groups dragged, resized and renamed with the mouse; node modes,
collapse and colours on screen; reroute dots; Markdown notes edited in place; zoomed-out titles;
the minimap."""

from types import SimpleNamespace

import pytest
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QPlainTextEdit

from studio.core.graph import Graph
from studio.core.types import Kind
from studio.ui import theme
from studio.ui.canvas.group_item import GroupItem
from studio.ui.canvas.items import HEADER, NODE_WIDTH, NOTE_MAX_TEXT
from studio.ui.canvas.minimap import Minimap
from studio.ui.canvas.scene import GraphScene
from studio.ui.canvas.special_nodes import NoteItem, RerouteItem
from studio.ui.canvas.view import GraphView
from studio.ui.editor import Editor

LEFT = Qt.MouseButton.LeftButton
NOMOD = Qt.KeyboardModifier.NoModifier


@pytest.fixture
def canvas(qtbot, registry):
    graph = Graph(registry)
    editor = Editor(graph)
    scene = GraphScene(graph)
    view = GraphView(scene, editor)
    view.resize(1000, 750)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    view.centerOn(400, 250)
    yield SimpleNamespace(graph=graph, editor=editor, scene=scene, view=view)
    scene.detach()


def vp(view, scene_pos) -> QPoint:
    return view.mapFromScene(QPointF(*scene_pos) if isinstance(scene_pos, tuple) else scene_pos)


def drag(view, a, b, steps=4):
    """A real mouse drag on the viewport, from scene point ``a`` to ``b``."""
    viewport = view.viewport()
    QTest.mousePress(viewport, LEFT, NOMOD, vp(view, a))
    pa, pb = QPointF(*a), QPointF(*b)
    for i in range(1, steps + 1):
        QTest.mouseMove(viewport, vp(view, pa + (pb - pa) * (i / steps)))
    QTest.mouseRelease(viewport, LEFT, NOMOD, vp(view, b))


def rect_of(graph, gid):
    return next(g for g in graph.groups if g.id == gid).rect


def pixel(view, image, scene_pos) -> QColor:
    p = vp(view, scene_pos)
    return image.pixelColor(p.x(), p.y())


def distance(a: QColor, b: QColor) -> int:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue())


def shot(c):
    QApplication.processEvents()
    return c.view.viewport().grab().toImage()


# -- groups --------------------------------------------------------------------------------------
def test_dragging_a_group_title_moves_it_with_its_nodes_in_one_undo_step(canvas):
    c = canvas
    gid = c.editor.add_group((0, 0, 700, 450), "Outer")
    inside = [c.editor.add_node("test.source", p) for p in ((40, 60), (320, 60), (40, 250))]
    outside = c.editor.add_node("test.source", (760, 60))
    steps = c.editor.stack.count()
    drag(c.view, (200, 15), (320, 95))
    assert rect_of(c.graph, gid) == (120, 80, 700, 450)
    assert [c.graph.nodes[n].pos for n in inside] == [(160, 140), (440, 140), (160, 330)]
    assert c.graph.nodes[outside].pos == (760, 60)
    assert c.scene.group_items[gid].pos() == QPointF(120, 80)
    assert c.editor.stack.count() == steps + 1
    c.editor.stack.undo()
    assert rect_of(c.graph, gid) == (0, 0, 700, 450)
    assert [c.graph.nodes[n].pos for n in inside] == [(40, 60), (320, 60), (40, 250)]
    assert [c.scene.node_items[n].pos() for n in inside] == [QPointF(40, 60), QPointF(320, 60), QPointF(40, 250)]
    assert c.scene.group_items[gid].pos() == QPointF(0, 0)


def test_a_nested_group_moves_with_its_parent_and_draws_above_it(canvas):
    c = canvas
    outer = c.editor.add_group((0, 0, 700, 450), "Outer")
    inner = c.editor.add_group((300, 100, 350, 300), "Inner")
    node = c.editor.add_node("test.source", (340, 160))
    assert c.scene.groups_in_group(outer) == [inner] and c.scene.groups_in_group(inner) == []
    assert c.scene.group_at(QPointF(600, 300)) == inner and c.scene.group_at(QPointF(100, 300)) == outer
    assert c.scene.group_at(QPointF(900, 300)) is None
    assert set(c.scene.nodes_in_group(outer)) == {node} and c.scene.nodes_in_group(inner) == [node]
    assert c.scene.group_items[inner].zValue() > c.scene.group_items[outer].zValue()
    assert c.scene.group_items[outer].zValue() < -1  # under wires
    drag(c.view, (100, 15), (150, 65))
    assert rect_of(c.graph, inner) == (350, 150, 350, 300)
    assert c.graph.nodes[node].pos == (390, 210)
    c.editor.stack.undo()
    assert rect_of(c.graph, inner) == (300, 100, 350, 300) and c.graph.nodes[node].pos == (340, 160)
    # Dragging the inner group's own title moves only it, not its parent.
    drag(c.view, (400, 115), (420, 135))
    assert rect_of(c.graph, inner) == (320, 120, 350, 300) and rect_of(c.graph, outer) == (0, 0, 700, 450)


def test_the_group_body_lets_a_rubber_band_select_inside_and_the_title_selects_the_group(canvas):
    c = canvas
    gid = c.editor.add_group((0, 0, 700, 450), "Outer")
    node = c.editor.add_node("test.source", (300, 200))
    drag(c.view, (250, 150), (600, 350))  # empty space inside the group: a rubber band
    assert rect_of(c.graph, gid) == (0, 0, 700, 450)
    assert c.scene.selected_node_ids() == [node] and c.scene.selected_group_ids() == []
    QTest.mouseClick(c.view.viewport(), LEFT, NOMOD, vp(c.view, (300, 12)))
    assert c.scene.selected_group_ids() == [gid] and c.scene.selected_node_ids() == []
    img = shot(c)  # the selected group's outline uses the selection colour
    assert distance(pixel(c.view, img, (350, 30.5)), QColor(theme.SELECTION)) < 60


def test_resizing_a_group_by_its_grip(canvas):
    c = canvas
    gid = c.editor.add_group((0, 0, 400, 300), "G")
    item = c.scene.group_items[gid]
    QTest.mouseMove(c.view.viewport(), vp(c.view, (200, 150)))
    QTest.mouseMove(c.view.viewport(), vp(c.view, (393, 293)))
    assert item.cursor().shape() == Qt.CursorShape.SizeFDiagCursor
    steps = c.editor.stack.count()
    drag(c.view, (393, 293), (493, 343))
    assert rect_of(c.graph, gid) == (0, 0, 500, 350)
    assert item.boundingRect().width() >= 500
    assert c.editor.stack.count() == steps + 1
    drag(c.view, (493, 343), (-300, -300))  # never smaller than the minimum
    x, y, w, h = rect_of(c.graph, gid)
    assert (x, y) == (0, 0) and 100 <= w < 200 and 60 <= h < 120
    c.editor.stack.undo()
    c.editor.stack.undo()
    assert rect_of(c.graph, gid) == (0, 0, 400, 300)


def test_renaming_a_group_in_place(canvas, qtbot):
    c = canvas
    c.view.activateWindow()
    gid = c.editor.add_group((0, 0, 400, 300), "Old title")
    item = c.scene.group_items[gid]
    QTest.mouseDClick(c.view.viewport(), LEFT, NOMOD, vp(c.view, (150, 15)))
    field = item.inline_editor
    assert isinstance(field, QLineEdit) and field.text() == "Old title" and field.isVisible()
    QTest.keyClicks(field, "Portraits and hands")  # the text was selected: typing replaces it
    QTest.keyClick(field, Qt.Key.Key_Return)
    assert item.graph_group.title == "Portraits and hands" and item.inline_editor is None
    c.editor.stack.undo()
    assert item.graph_group.title == "Old title"
    # Escape leaves the title as it was, and adds no undo step.
    steps = c.editor.stack.index()
    QTest.mouseDClick(c.view.viewport(), LEFT, NOMOD, vp(c.view, (150, 15)))
    QTest.keyClicks(item.inline_editor, "Nope")
    QTest.keyClick(item.inline_editor, Qt.Key.Key_Escape)
    assert item.graph_group.title == "Old title" and c.editor.stack.index() == steps and c.editor.stack.canRedo()
    assert isinstance(c.scene.group_items[gid], GroupItem) and c.scene.group_items[gid].group_id == gid


# -- nodes: modes, collapse, colour ---------------------------------------------------------------
def test_modes_collapse_and_colour_are_visible(canvas):
    c = canvas
    ids = [c.editor.add_node("test.add", (x, 0)) for x in (0, 260, 520)]
    plain, bypassed, muted = ids
    coloured = c.editor.add_node("test.add", (0, 200))
    src = c.editor.add_node("test.source", (-300, 200))
    dst = c.editor.add_node("test.add", (520, 200))
    collapsed = c.editor.add_node("test.add", (260, 200))
    c.editor.connect(src, "image", collapsed, "a")
    c.editor.connect(collapsed, "image", dst, "a")
    assert c.editor.toggle_mode([bypassed], "bypass") and c.editor.toggle_mode([muted], "mute")
    c.editor.set_color([coloured], "#3f7a3a")
    c.editor.set_collapsed([collapsed], True)
    items = c.scene.node_items
    assert items[bypassed].badge == "bypassed" and items[muted].badge == "muted" and items[plain].badge == ""
    assert items[muted].opacity() < 0.6
    img = shot(c)

    def header(nid):
        x, y = c.graph.nodes[nid].pos
        return pixel(c.view, img, (x + 150, y + 3))

    def body(nid):
        x, y = c.graph.nodes[nid].pos
        return pixel(c.view, img, (x + 110, y + 70))

    normal = header(plain)
    purple = header(bypassed)
    assert distance(purple, normal) > 60 and purple.blue() > purple.green() and purple.red() > purple.green()
    assert distance(body(bypassed), body(plain)) > 30
    assert distance(header(muted), normal) > 30
    assert sum(header(muted).getRgb()[:3]) < sum(normal.getRgb()[:3])  # faded toward the dark canvas
    assert distance(header(coloured), QColor("#3f7a3a")) < 30
    assert distance(body(coloured), body(plain)) > 8  # tinted slightly
    # Collapsed: only the header, narrower; its wires meet the header's left and right edges.
    item = items[collapsed]
    assert item.node_rect().height() == HEADER and item.node_rect().width() < NODE_WIDTH
    assert not any(p.isVisible() for p in (*item.inputs.values(), *item.outputs.values()))
    x, y = c.graph.nodes[collapsed].pos
    w = item.node_rect().width()
    wire_in = c.scene.wires[(collapsed, "a")].path()
    wire_out = c.scene.wires[(dst, "a")].path()
    assert wire_in.pointAtPercent(1) == QPointF(x, y + HEADER / 2)
    assert wire_out.pointAtPercent(0) == QPointF(x + w, y + HEADER / 2)
    assert distance(pixel(c.view, img, (x + w / 2, y + HEADER + 12)), QColor(theme.CANVAS_BG)) < 40
    c.editor.stack.undo()  # expand: the wire goes back to the port
    assert c.scene.wires[(collapsed, "a")].path().pointAtPercent(1) == c.scene.port(collapsed, "a",
                                                                                       output=False).scenePos()


# -- reroutes ---------------------------------------------------------------------------------------
def test_a_reroute_is_a_dot_in_the_colour_of_what_it_carries(canvas):
    c = canvas
    src = c.editor.add_node("test.source", (0, 0))
    reroute = c.editor.add_node("util.reroute", (300, 40))
    sink = c.editor.add_node("test.add", (450, 0))
    item = c.scene.node_items[reroute]
    assert isinstance(item, RerouteItem) and item.kind is Kind.ANY
    assert item.node_rect().width() <= 16
    c.editor.connect(reroute, "value", sink, "a")
    assert c.scene.wires[(sink, "a")].pen().color() == theme.port_color(Kind.ANY)
    c.editor.connect(src, "image", reroute, "value")  # fed from upstream: the dot and its wires follow
    assert item.kind is Kind.IMAGE and item.outputs["value"].port_type.kind is Kind.IMAGE
    assert c.scene.wires[(sink, "a")].pen().color() == theme.port_color(Kind.IMAGE)
    img = shot(c)
    centre = item.mapToScene(item.node_rect().center())
    assert distance(pixel(c.view, img, (centre.x(), centre.y())), theme.port_color(Kind.IMAGE)) < 30
    # Its input and output sit at the dot's edges.
    assert abs(item.inputs["value"].scenePos().x() - item.scenePos().x()) < 1
    assert abs(item.outputs["value"].scenePos().x() - item.mapToScene(item.node_rect().topRight()).x()) < 1
    c.editor.stack.undo()
    assert item.kind is Kind.ANY and c.scene.wires[(sink, "a")].pen().color() == theme.port_color(Kind.ANY)


# -- notes ------------------------------------------------------------------------------------------
def test_a_note_renders_markdown_and_stays_bounded(canvas):
    c = canvas
    nid = c.editor.add_node("util.note", (0, 0))
    item = c.scene.node_items[nid]
    assert isinstance(item, NoteItem)
    c.editor.set_param(nid, "text", "# Title\n\nSome **bold** words\n\n- one\n- two\n\n[a link](https://x.org) `code`")
    doc = item.document
    fragments = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragments.append(it.fragment())
            it += 1
        block = block.next()
    assert any(f.text() == "bold" and f.charFormat().fontWeight() >= QFont.Weight.Bold for f in fragments)
    assert any(f.charFormat().isAnchor() and f.text() == "a link" for f in fragments)
    assert doc.toPlainText().startswith("Title")
    assert not item.clipped
    img = shot(c)
    assert distance(pixel(c.view, img, (item.node_rect().width() - 20, HEADER + 40)), QColor(theme.NOTE_BG)) < 30
    c.editor.set_param(nid, "text", "line\n\n" * 5000)
    assert item.clipped and item.node_rect().height() <= HEADER + NOTE_MAX_TEXT + 40


def test_editing_a_note_in_place_is_one_undo_step_and_escape_cancels(canvas, qtbot):
    c = canvas
    c.view.activateWindow()
    nid = c.editor.add_node("util.note", (0, 0))
    c.editor.set_param(nid, "text", "old")
    item = c.scene.node_items[nid]
    steps = c.editor.stack.count()
    QTest.mouseDClick(c.view.viewport(), LEFT, NOMOD, vp(c.view, (100, 60)))
    field = item.inline_editor
    assert isinstance(field, QPlainTextEdit) and field.toPlainText() == "old"
    field.selectAll()
    QTest.keyClicks(field, "Hello **world**")
    QTest.keyClick(field, Qt.Key.Key_Return)  # a new line, not the end of editing
    QTest.keyClicks(field, "- item")
    assert item.inline_editor is field
    QTest.mouseClick(c.view.viewport(), LEFT, NOMOD, vp(c.view, (700, 500)))  # click away: focus leaves
    qtbot.waitUntil(lambda: item.inline_editor is None, timeout=2000)
    assert c.graph.nodes[nid].params["text"] == "Hello **world**\n- item"
    assert c.editor.stack.count() == steps + 1
    c.editor.stack.undo()
    assert c.graph.nodes[nid].params["text"] == "old"
    QTest.mouseDClick(c.view.viewport(), LEFT, NOMOD, vp(c.view, (100, 60)))
    QTest.keyClicks(item.inline_editor, "discarded")
    QTest.keyClick(item.inline_editor, Qt.Key.Key_Escape)
    assert item.inline_editor is None and c.graph.nodes[nid].params["text"] == "old"
    assert c.editor.stack.index() == steps and c.editor.stack.canRedo()  # nothing new was pushed


# -- level of detail ---------------------------------------------------------------------------------
def test_titles_stay_readable_when_zoomed_out(canvas, qtbot):
    c = canvas
    nid = c.editor.add_node("test.add", (0, 0))
    item = c.scene.node_items[nid]
    assert item.title_font(1.0).pixelSize() == 13
    c.view.resetTransform()
    c.view.scale(0.15, 0.15)
    c.view.centerOn(115, 40)
    shot(c)  # the scene notices the new scale while painting, and applies it right after
    qtbot.waitUntil(lambda: c.scene.zoom == pytest.approx(0.15), timeout=2000)
    assert item.title_font(c.scene.zoom).pixelSize() * 0.15 >= 9
    assert item.boundingRect().width() > NODE_WIDTH + 20  # room for the big title past the edge
    img = shot(c)
    box = c.view.mapFromScene(item.sceneBoundingRect()).boundingRect()
    text = QColor(theme.TEXT)
    bright = sum(distance(img.pixelColor(x, y), text) < 120
                 for x in range(box.left(), box.right()) for y in range(box.top(), box.bottom()))
    assert bright >= 8  # the title is drawn, not skipped as a smudge
    c.scene.set_zoom(1.0)
    assert item.boundingRect().width() < NODE_WIDTH + 10


# -- minimap --------------------------------------------------------------------------------------
def test_minimap_sits_in_the_corner_and_clicking_it_moves_the_view(canvas, qtbot):
    c = canvas
    c.editor.add_node("test.source", (0, 0))
    far = c.editor.add_node("test.source", (3000, 1800))
    c.view.centerOn(100, 50)
    minimap = Minimap(c.view)
    minimap.show()
    QApplication.processEvents()
    vp_rect = c.view.viewport().geometry()
    geo = minimap.geometry()
    assert vp_rect.contains(geo) and vp_rect.right() - geo.right() < 30 and vp_rect.bottom() - geo.bottom() < 30
    assert 150 <= geo.width() <= 260 and 100 <= geo.height() <= 180
    before = c.view.mapToScene(c.view.viewport().rect().center())
    target = c.scene.node_items[far].scene_node_rect().center()
    spot = minimap.mapping().to_map(QRectF(target, target)).topLeft().toPoint()
    assert minimap.rect().contains(spot)
    QTest.mouseClick(minimap, LEFT, NOMOD, spot)
    after = c.view.mapToScene(c.view.viewport().rect().center())
    assert (after - target).manhattanLength() < (before - target).manhattanLength() / 4
    assert minimap.geometry() == geo  # panning does not carry it away
    c.view.resize(800, 600)
    QApplication.processEvents()
    assert c.view.viewport().geometry().right() - minimap.geometry().right() < 30
    minimap.setVisible(False)
    assert not minimap.isVisible()


def test_keys_typed_into_an_inline_editor_stay_there(make_window, qtbot):
    """Canvas shortcuts (Delete, Ctrl+D, Ctrl+G, Ctrl+M, Space) must not fire while a title is typed."""
    w = make_window()
    w.show()
    w.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w)  # shortcuts only fire in the active window
    gid = w.editor.add_group((0, 0, 400, 300), "Old")
    nid = w.editor.add_node("test.source", (40, 60))
    w.scene.node_items[nid].setSelected(True)
    steps = w.editor.stack.count()
    field = w.scene.group_items[gid].start_rename()
    assert field is not None
    qtbot.waitUntil(lambda: QApplication.focusWidget() is field)
    for key, mod in ((Qt.Key.Key_Delete, NOMOD), (Qt.Key.Key_Backspace, NOMOD),
                     (Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier),
                     (Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier),
                     (Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)):
        QTest.keyClick(field, key, mod)
    QTest.keyClicks(field, "Two words")
    assert field.text() == "Two words"
    assert list(w.graph.nodes) == [nid] and len(w.graph.groups) == 1 and w.graph.nodes[nid].mode == "normal"
    assert w.editor.stack.count() == steps
    QTest.keyClick(field, Qt.Key.Key_Enter)
    assert w.graph.groups[0].title == "Two words" and w.editor.stack.count() == steps + 1
