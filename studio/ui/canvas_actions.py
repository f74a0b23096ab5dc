"""Canvas editing actions of the main window: bypass and mute, collapse and colour, groups,
arrange, reroutes and notes, partial runs, node help, and the context menus that offer them.
A mixin of ``MainWindow``; every edit goes through the ``Editor`` (one undo step each)."""

from __future__ import annotations

import html
from functools import partial
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPoint, QPointF, QRectF
from PySide6.QtGui import QAction, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QDialog, QMenu, QTextBrowser, QVBoxLayout, QWidget

from studio.core import arrange
from studio.core.graph import BYPASS, MUTE, Link
from studio.core.nodetype import NodeType
from studio.core.plan import target_problem

from . import theme

if TYPE_CHECKING:
    from studio.app import Session
    from studio.core.graph import Graph

    from .canvas.scene import GraphScene
    from .canvas.view import GraphView
    from .editor import Editor
    from .run_view import RunView

# Header colours offered for nodes and groups (name, colour); None restores the default.
COLORS: tuple[tuple[str, str], ...] = (
    ("Red", "#8a3a3a"), ("Brown", "#7a5a34"), ("Yellow", "#857a2e"), ("Green", "#3f7a3a"),
    ("Cyan", "#2f7373"), ("Blue", "#34558a"), ("Purple", "#654287"), ("Grey", "#4a4a4a"),
)
GROUP_PAD, GROUP_TITLE = 16.0, 40.0
ALIGN_EDGES = (("Left edges", "left"), ("Right edges", "right"), ("Top edges", "top"),
               ("Bottom edges", "bottom"), ("Centres, horizontally", "hcenter"), ("Centres, vertically", "vcenter"))


def color_icon(color: str) -> QIcon:
    pix = QPixmap(14, 14)
    pix.fill(QColor(color))
    return QIcon(pix)


class CanvasActions:
    editor: Editor
    scene: GraphScene
    view: GraphView
    session: Session
    runs: RunView
    act_paste: QAction
    act_select_all: QAction
    act_duplicate: QAction
    act_copy: QAction
    act_cut: QAction
    act_delete: QAction
    act_bypass: QAction
    act_mute: QAction
    act_collapse: QAction
    act_group: QAction
    act_ungroup: QAction
    act_auto_layout: QAction
    act_run_to_node: QAction
    act_frame: QAction
    act_zoom_reset: QAction
    act_node_help: QAction
    arrange_actions: dict[str, QAction]

    if TYPE_CHECKING:
        @property
        def graph(self) -> Graph: ...
        def selected(self) -> list[str]: ...
        def _select(self, ids: list[str], *, frame: bool = False) -> None: ...
        def show_message(self, text: str) -> None: ...
        def run(self, targets: list[str] | None = None) -> None: ...
        def missing_downloads(self, node_id: str) -> list[tuple[str, str]]: ...
        def download_model(self, name: str) -> None: ...
        def node_image(self, node_id: str) -> Any: ...

    def _parent(self) -> QWidget:
        return self  # type: ignore[return-value]  # the window is a QWidget

    # -- modes and looks --------------------------------------------------------------------------
    def bypass_selected(self) -> None:
        if not self.editor.toggle_mode(self.selected(), BYPASS) and not self.selected():
            self.show_message("Select the nodes to bypass first")

    def mute_selected(self) -> None:
        if not self.editor.toggle_mode(self.selected(), MUTE) and not self.selected():
            self.show_message("Select the nodes to mute first")

    def collapse_selected(self) -> None:
        self.editor.set_collapsed(self.selected())

    def color_selected(self, color: str | None) -> None:
        groups = self.scene.selected_group_ids()
        for gid in groups:
            self.editor.edit_group(gid, color=color)
        self.editor.set_color(self.selected(), color)

    # -- groups -----------------------------------------------------------------------------------
    def _selection_rect(self) -> QRectF:
        rect = QRectF()
        for nid in self.selected():
            item = self.scene.node_items.get(nid)
            if item is not None:
                rect = rect.united(item.scene_node_rect())
        for gid in self.scene.selected_group_ids():
            group = self.scene.group_items.get(gid)
            if group is not None:
                rect = rect.united(group.sceneBoundingRect())
        return rect

    def group_selection(self) -> str | None:
        """Ctrl+G: a group around the selected nodes (and groups, which then nest inside it)."""
        rect = self._selection_rect()
        if rect.isNull():
            self.show_message("Select the nodes to group first")
            return None
        box = (rect.x() - GROUP_PAD, rect.y() - GROUP_TITLE, rect.width() + 2 * GROUP_PAD,
               rect.height() + GROUP_TITLE + GROUP_PAD)
        return self.editor.add_group(box, "Group")

    def ungroup_selected(self) -> None:
        """Delete the selected groups, keeping what is in them."""
        groups = self.scene.selected_group_ids()
        if groups:
            self.editor.delete_groups(groups)
        else:
            self.show_message("Select a group (click its title bar) to ungroup")

    def rename_group(self, group_id: str) -> None:
        item = self.scene.group_items.get(group_id)
        if item is not None:
            item.start_rename()  # in place, as a double-click on the title does

    def fit_group(self, group_id: str) -> None:
        rect = QRectF()
        for nid in self.scene.nodes_in_group(group_id):
            rect = rect.united(self.scene.node_items[nid].scene_node_rect())
        for gid in self.scene.groups_in_group(group_id):
            rect = rect.united(self.scene.group_items[gid].sceneBoundingRect())
        if not rect.isNull():
            self.editor.edit_group(group_id, rect=(rect.x() - GROUP_PAD, rect.y() - GROUP_TITLE,
                                                   rect.width() + 2 * GROUP_PAD,
                                                   rect.height() + GROUP_TITLE + GROUP_PAD))

    # -- arrange ----------------------------------------------------------------------------------
    def _node_rects(self, ids: list[str]) -> dict[str, arrange.Rect]:
        out = {}
        for nid in ids:
            item = self.scene.node_items.get(nid)
            if item is not None:
                r = item.mapRectToScene(item.node_rect())
                out[nid] = (r.x(), r.y(), r.width(), r.height())
        return out

    def _apply_positions(self, positions: dict[str, tuple[float, float]], text: str) -> None:
        moves = {nid: (self.graph.nodes[nid].pos, (float(x), float(y))) for nid, (x, y) in positions.items()
                 if nid in self.graph.nodes}
        self.editor.move(moves, text=text)

    def align_selected(self, edge: str) -> None:
        rects = self._node_rects(self.selected())
        if len(rects) < 2:
            self.show_message("Select two or more nodes to align")
            return
        self._apply_positions(arrange.align(rects, edge), "Align nodes")

    def distribute_selected(self, axis: str) -> None:
        rects = self._node_rects(self.selected())
        if len(rects) < 3:
            self.show_message("Select three or more nodes to distribute")
            return
        self._apply_positions(arrange.distribute(rects, axis), "Distribute nodes")

    def auto_layout(self) -> None:
        """Lay out the selection (two or more nodes), or else the whole graph, left to right."""
        ids = self.selected()
        subset = ids if len(ids) >= 2 else None
        sizes = {nid: (r[2], r[3]) for nid, r in self._node_rects(list(self.graph.nodes)).items()}
        positions = arrange.auto_layout(self.graph, sizes, subset)
        self._apply_positions(positions, "Arrange selection" if subset else "Arrange graph")
        if subset is None:
            self.view.frame()

    # -- reroutes and notes -----------------------------------------------------------------------
    def add_note(self, pos: QPointF | None = None) -> None:
        at = pos or self.view.last_scene_pos
        self._select([self.editor.add_node("util.note", (at.x(), at.y()))])

    def add_reroute(self, pos: QPointF | None = None) -> None:
        at = pos or self.view.last_scene_pos
        self._select([self.editor.add_node("util.reroute", (at.x(), at.y()))])

    def reroute_wire(self, link: Link, at: QPointF) -> None:
        nid = self.editor.insert_on_wire(link, "util.reroute", (at.x(), at.y()))
        if nid:
            self._select([nid])

    def insert_on_wire(self, link: Link, type_id: str, at: QPointF) -> None:
        nid = self.editor.insert_on_wire(link, type_id, (at.x() - 115, at.y() - 30))
        if nid:
            self._select([nid])

    def types_for_wire(self, link: Link) -> list[NodeType]:
        """Node types that fit into ``link``: an input for what it carries, an output for its end."""
        out_t = self.graph.output_type(link.src, link.src_port)
        dst = self.graph.nodes[link.dst]
        decl = next((i for i in self.graph.input_ports(dst) if i.name == link.dst_port), None)
        if decl is None:
            return []
        from studio.core.types import can_connect

        return [nt for nt in self.editor.registry if not nt.passthrough
                and any(can_connect(out_t, i.type) for i in nt.wires)
                and any(can_connect(o.type, decl.type) for o in nt.outputs)]

    # -- partial runs -----------------------------------------------------------------------------
    def run_to_node(self, node_id: str | None = None) -> None:
        """Run this node and only what it needs (outputs cached from earlier runs are reused)."""
        ids = [node_id] if node_id else self.selected()
        if len(ids) != 1:
            self.show_message("Select one node to run up to")
            return
        problem = target_problem(self.graph, ids[0])
        if problem:
            self.show_message(f"Cannot run up to it: {problem}")
            return
        self.run(ids)

    def run_selected_outputs(self) -> None:
        """Run the selected output nodes (savers, previews) and what they need."""
        outputs = [nid for nid in self.selected()
                   if (nt := self.graph.node_type(nid)) is not None and not nt.outputs and not nt.editor_only]
        if not outputs:
            self.show_message("Select one or more output nodes (Save Image, Preview Image) to run")
            return
        runnable = [nid for nid in outputs if not target_problem(self.graph, nid)]
        if not runnable:
            self.show_message(f"Cannot run: {target_problem(self.graph, outputs[0])}")
            return
        self.run(runnable)

    # -- masks ------------------------------------------------------------------------------------
    def can_edit_mask(self, node_id: str) -> bool:
        """Load Image nodes, and nodes that made an image, can have a mask painted on them."""
        node = self.graph.nodes.get(node_id)
        if node is None:
            return False
        if node.type_id == "image.load":
            return True
        nt = self.graph.node_type(node)
        return nt is not None and any(o.type.kind.value == "IMAGE" for o in nt.outputs) and (
            self.node_image(node_id) is not None)

    def edit_mask(self, node_id: str) -> None:
        from .mask_editor import edit_mask_for_node

        edit_mask_for_node(self, node_id)  # type: ignore[arg-type]  # the window

    # -- help -------------------------------------------------------------------------------------
    def show_node_help(self, node_id: str | None = None) -> None:
        ids = [node_id] if node_id else self.selected()
        nt = self.graph.node_type(ids[0]) if ids else None
        if nt is None:
            self.show_message("Select a node to see its help")
            return
        dlg = QDialog(self._parent())
        dlg.setWindowTitle(f"{nt.title} — help")
        text = QTextBrowser()
        text.setOpenExternalLinks(True)
        text.setHtml(node_help_html(nt))
        col = QVBoxLayout(dlg)
        col.addWidget(text)
        dlg.resize(520, 480)
        dlg.show()
        self._help_dialog = dlg  # kept alive while shown

    # -- context menus ----------------------------------------------------------------------------
    def _color_menu(self, parent: QMenu, apply: Any) -> None:
        menu = parent.addMenu(theme.icon("mdi6.palette-outline"), "Colour")
        for name, color in COLORS:
            menu.addAction(color_icon(color), name, partial(apply, color))
        menu.addSeparator()
        menu.addAction("Default", lambda: apply(None))

    def _arrange_menu(self, parent: QMenu) -> QMenu:
        menu = parent.addMenu(theme.icon("mdi6.arrange-bring-forward"), "Arrange")
        many = len(self.selected()) >= 2
        align = menu.addMenu("Align")
        align.menuAction().setEnabled(many)
        for _text, edge in ALIGN_EDGES[:4]:
            align.addAction(self.arrange_actions[edge])
        for text, edge in ALIGN_EDGES[4:]:
            align.addAction(text, partial(self.align_selected, edge))
        dist = menu.addMenu("Distribute")
        dist.menuAction().setEnabled(len(self.selected()) >= 3)
        dist.addActions([self.arrange_actions["horizontal"], self.arrange_actions["vertical"]])
        menu.addAction(self.act_auto_layout)
        return menu

    def build_node_menu(self, node_id: str) -> QMenu:
        menu = QMenu(self._parent())
        node = self.graph.nodes[node_id]
        nt = self.graph.node_type(node)
        for name, title in self.missing_downloads(node_id):
            menu.addAction(theme.icon("mdi6.download"), f"Download {title}…",
                           lambda name=name: self.download_model(name))
        if menu.actions():
            menu.addSeparator()
        run_here = menu.addAction(theme.icon("mdi6.play-outline"), "Run up to here",
                                  lambda: self.run_to_node(node_id))
        run_here.setEnabled(not target_problem(self.graph, node_id))
        if self.can_edit_mask(node_id):
            menu.addAction(theme.icon("mdi6.brush"), "Edit mask…", lambda: self.edit_mask(node_id))
        pin = menu.addAction(theme.icon("mdi6.pin-outline"), "Pin output preview",
                             lambda: self.runs.toggle_pin(node_id))
        pin.setCheckable(True)
        pin.setChecked(self.runs.pinned == node_id)
        menu.addSeparator()
        for act, mode in ((self.act_bypass, BYPASS), (self.act_mute, MUTE)):
            act.setCheckable(True)
            act.setChecked(node.mode == mode)
            menu.addAction(act)
        self.act_bypass.setEnabled(node.mode == BYPASS or not self.graph.bypass_problem(node_id))
        self.act_collapse.setText("Expand" if node.collapsed else "Collapse")
        menu.addAction(self.act_collapse)
        self._color_menu(menu, self.color_selected)
        menu.addSeparator()
        menu.addAction(self.act_group)
        self._arrange_menu(menu)
        menu.addSeparator()
        menu.addActions([self.act_duplicate, self.act_copy, self.act_cut, self.act_delete])
        menu.addSeparator()
        help_act = menu.addAction(theme.icon("mdi6.help-circle-outline"), "Help", lambda: self.show_node_help(node_id))
        help_act.setEnabled(nt is not None)
        return menu

    def _node_menu(self, node_id: str, global_pos: QPoint) -> None:
        self.build_node_menu(node_id).popup(global_pos)
        self.act_bypass.setEnabled(True)  # the key works on any selection; the menu only greys it

    def build_canvas_menu(self, scene_pos: QPointF) -> QMenu:
        menu = QMenu(self._parent())
        add = menu.addMenu(theme.icon("mdi6.plus-box-outline"), "Add node")
        categories: dict[str, QMenu] = {}
        for nt in self.editor.registry:
            sub = categories.get(nt.category)
            if sub is None:
                sub = categories[nt.category] = add.addMenu(nt.category)
            sub.addAction(nt.title, partial(self._add_at, nt.id, scene_pos))
        menu.addAction(theme.icon("mdi6.note-text-outline"), "Add note", lambda: self.add_note(scene_pos))
        menu.addAction(theme.icon("mdi6.circle-small"), "Add reroute", lambda: self.add_reroute(scene_pos))
        menu.addSeparator()
        menu.addActions([self.act_paste, self.act_select_all])
        menu.addSeparator()
        if self.selected():
            menu.addAction(self.act_group)
        self._arrange_menu(menu)
        menu.addActions([self.act_frame, self.act_zoom_reset])
        return menu

    def _add_at(self, type_id: str, scene_pos: QPointF) -> None:
        self._select([self.editor.add_node(type_id, (scene_pos.x(), scene_pos.y()))])

    def _canvas_menu(self, global_pos: QPoint, scene_pos: QPointF) -> None:
        self.build_canvas_menu(scene_pos).popup(global_pos)

    def build_wire_menu(self, link: Link, scene_pos: QPointF) -> QMenu:
        menu = QMenu(self._parent())
        menu.addAction(theme.icon("mdi6.circle-small"), "Add reroute here", lambda: self.reroute_wire(link, scene_pos))
        insert = menu.addMenu(theme.icon("mdi6.plus-box-outline"), "Insert node")
        fitting = self.types_for_wire(link)
        for nt in fitting:
            insert.addAction(nt.title, partial(self.insert_on_wire, link, nt.id, scene_pos))
        insert.setEnabled(bool(fitting))
        menu.addSeparator()
        menu.addAction(theme.icon("mdi6.delete-outline"), "Delete wire", lambda: self.editor.disconnect(link))
        return menu

    def _wire_menu(self, link: Link, global_pos: QPoint, scene_pos: QPointF) -> None:
        self.build_wire_menu(link, scene_pos).popup(global_pos)

    def build_group_menu(self, group_id: str) -> QMenu:
        menu = QMenu(self._parent())
        menu.addAction(theme.icon("mdi6.rename-box"), "Rename…", lambda: self.rename_group(group_id))
        self._color_menu(menu, lambda c: self.editor.edit_group(group_id, color=c))
        menu.addAction(theme.icon("mdi6.fit-to-page-outline"), "Fit to contents", lambda: self.fit_group(group_id))
        menu.addAction(theme.icon("mdi6.select-group"), "Select contents",
                       lambda: self._select(self.scene.nodes_in_group(group_id)))
        menu.addSeparator()
        menu.addAction(theme.icon("mdi6.group"), "Delete group (keep nodes)",
                       lambda: self.editor.delete_groups([group_id]))
        menu.addAction(theme.icon("mdi6.delete-outline"), "Delete group and contents",
                       lambda: self.editor.delete_groups([group_id, *self.scene.groups_in_group(group_id)],
                                                         self.scene.nodes_in_group(group_id)))
        return menu

    def _group_menu(self, group_id: str, global_pos: QPoint) -> None:
        self.build_group_menu(group_id).popup(global_pos)


def node_help_html(nt: NodeType) -> str:
    """A node type's help: what it does, its inputs (with ranges and defaults) and outputs."""
    e = html.escape
    rows = []
    for i in nt.inputs:
        if i.wire:
            what = f"wire: {e(str(i.type))}" + (" (optional)" if i.optional else "")
        else:
            what = e(i.type.kind.value.lower())
            if i.choices:
                what += ": " + ", ".join(e(c) for c in i.choices)
            if i.min is not None or i.max is not None:
                what += f" [{'' if i.min is None else i.min} … {'' if i.max is None else i.max}]"
            if i.default not in (None, ""):
                what += f"; default {e(repr(i.default))}"
        tip = f"<br><span style='color:#9aa0a6'>{e(i.tooltip)}</span>" if i.tooltip else ""
        rows.append(f"<tr><td><b>{e(i.display_name)}</b></td><td>{what}{tip}</td></tr>")
    outs = "".join(f"<tr><td><b>{e(o.display_name)}</b></td><td>{e(str(o.type))}</td></tr>" for o in nt.outputs)
    aliases = f"<p>Also found as: {', '.join(e(a) for a in nt.aliases)}</p>" if nt.aliases else ""
    return (f"<h2>{e(nt.title)}</h2><p><tt>{e(nt.id)}</tt> · version {e(nt.version)} · {e(nt.category)}</p>"
            f"<p>{e(nt.description) or 'No description.'}</p>"
            + (f"<h3>Inputs</h3><table cellspacing=6>{''.join(rows)}</table>" if rows else "")
            + (f"<h3>Outputs</h3><table cellspacing=6>{outs}</table>" if outs else "") + aliases)
