"""Finding node types: the library panel (search + category tree, drag to the canvas) and the quick-add
popup (Tab / double-click on the canvas, or a wire dropped on empty space)."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Sequence

import qtawesome as qta
from PySide6.QtCore import (
    QEvent,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QRect,
    Qt,
    Signal,
)
from PySide6.QtGui import QGuiApplication, QIcon, QKeyEvent, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.nodetype import NodeType
from studio.core.registry import Registry

MIME_NODE_TYPE = "application/x-latent-studio-node-type"
TYPE_ID_ROLE = Qt.ItemDataRole.UserRole
CATEGORY_ROLE = Qt.ItemDataRole.UserRole + 1

CATEGORY_ICONS = {
    "Image": "mdi6.image-outline",
    "Preprocess": "mdi6.auto-fix",
    "Models": "mdi6.database-outline",
    "Loaders": "mdi6.database-outline",
    "Conditioning": "mdi6.text-box-outline",
    "Control": "mdi6.tune-variant",
    "Latent": "mdi6.grid",
    "Sampling": "mdi6.creation",
    "Mask": "mdi6.drawing",
    "Inpaint": "mdi6.brush",
    "Utility": "mdi6.note-text-outline",
}
ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


# -- helpers shared with the canvas --------------------------------------------------------------------


def mime_for_type(type_id: str) -> QMimeData:
    """What a drag of node type ``type_id`` carries (the canvas creates the node on drop)."""
    mime = QMimeData()
    mime.setData(MIME_NODE_TYPE, type_id.encode("utf-8"))
    mime.setText(type_id)
    return mime


def type_id_from_mime(mime: QMimeData) -> str | None:
    if not mime.hasFormat(MIME_NODE_TYPE):
        return None
    return bytes(mime.data(MIME_NODE_TYPE).data()).decode("utf-8") or None


def category_icon(category: str) -> QIcon:
    return qta.icon(CATEGORY_ICONS.get(category, "mdi6.shape-outline"))


def node_tooltip(nt: NodeType) -> str:
    """Rich-text tooltip: title, description, then the ports with their types."""

    def ports(items: Iterable[tuple[str, object]]) -> str:
        return ", ".join(f"{html.escape(name)} <i>{html.escape(str(t))}</i>" for name, t in items) or "none"

    ins = ports((i.display_name, i.type) for i in nt.wires)
    outs = ports((o.display_name, o.type) for o in nt.outputs)
    desc = f"<p>{html.escape(nt.description)}</p>" if nt.description else ""
    return (f"<p style='white-space:pre'><b>{html.escape(nt.title)}</b> &nbsp;<tt>{html.escape(nt.id)}</tt></p>"
            f"{desc}<p>in: {ins}<br>out: {outs}</p>")


def match_score(nt: NodeType, words: Sequence[str]) -> int | None:
    """How well ``nt`` matches every search word (lower is better), or None if one word is missing."""
    title, tid, cat, desc = nt.title.lower(), nt.id.lower(), nt.category.lower(), nt.description.lower()
    aliases = [a.lower() for a in nt.aliases]  # ComfyUI class names find their counterparts here
    score = 0
    for w in words:
        if title.startswith(w) or w in aliases:
            score += 0
        elif any(part.startswith(w) for part in title.split()) or any(a.startswith(w) for a in aliases):
            score += 1
        elif w in title or w in tid or any(w in a for a in aliases):
            score += 2
        elif w in cat:
            score += 3
        elif w in desc:
            score += 4
        else:
            return None
    return score


def search_words(text: str) -> list[str]:
    return text.lower().split()


def no_match_text(text: str) -> str:
    shown = text.strip()
    shown = shown if len(shown) <= 40 else shown[:39] + "…"
    return f"No nodes match “{shown}”"


# -- the library panel ---------------------------------------------------------------------------


class NodeTree(QTreeWidget):
    """The category tree; its drags carry the node type id."""

    enter_pressed = Signal(QTreeWidgetItem)

    def mimeTypes(self) -> list[str]:
        return [MIME_NODE_TYPE]

    # Qt takes no data (None) for no drag; PySide6's stub says the result is never None.
    def mimeData(self, items: Sequence[QTreeWidgetItem]) -> QMimeData | None:  # type: ignore[override]
        ids = [i.data(0, TYPE_ID_ROLE) for i in items if i.data(0, TYPE_ID_ROLE)]
        return mime_for_type(ids[0]) if ids else None

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in ENTER_KEYS and self.currentItem() is not None:
            self.enter_pressed.emit(self.currentItem())
            return
        super().keyPressEvent(event)


class NodeLibrary(QWidget):
    add_requested = Signal(str)  # node type id

    def __init__(self, registry: Registry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search nodes…")
        self.search.setClearButtonEnabled(True)
        self.search.addAction(qta.icon("mdi6.magnify"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.textChanged.connect(self._apply_filter)
        self.search.installEventFilter(self)
        self.tree = NodeTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.tree.setUniformRowHeights(True)
        self.tree.setAnimated(True)
        self.tree.itemDoubleClicked.connect(self._item_chosen)
        self.tree.enter_pressed.connect(self._item_chosen)
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.setSpacing(4)
        self.empty = QLabel()
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.empty.setStyleSheet("color: #9aa0a6; padding: 12px;")
        self.empty.hide()
        col.addWidget(self.search)
        col.addWidget(self.empty)
        col.addWidget(self.tree)
        self.set_registry(registry)

    def set_registry(self, registry: Registry) -> None:
        """Rebuild the tree (e.g. after node packs were loaded)."""
        self.registry = registry
        self.tree.clear()
        categories: dict[str, QTreeWidgetItem] = {}
        for nt in registry:  # sorted by category, then title
            parent = categories.get(nt.category)
            if parent is None:
                parent = categories[nt.category] = QTreeWidgetItem(self.tree, [nt.category])
                parent.setIcon(0, category_icon(nt.category))
                parent.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                font = parent.font(0)
                font.setBold(True)
                parent.setFont(0, font)
            item = QTreeWidgetItem(parent, [nt.title])
            item.setData(0, TYPE_ID_ROLE, nt.id)
            item.setToolTip(0, node_tooltip(nt))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
        self.tree.expandAll()
        self._apply_filter(self.search.text())

    def visible_type_ids(self) -> list[str]:
        """The node types the current search shows, in tree order."""
        out = []
        for c in range(self.tree.topLevelItemCount()):
            cat = self.tree.topLevelItem(c)
            assert cat is not None  # c < topLevelItemCount()
            if cat.isHidden():
                continue
            for i in range(cat.childCount()):
                child = cat.child(i)
                assert child is not None  # i < childCount()
                if not child.isHidden():
                    out.append(child.data(0, TYPE_ID_ROLE))
        return out

    def item_for(self, type_id: str) -> QTreeWidgetItem | None:
        for c in range(self.tree.topLevelItemCount()):
            cat = self.tree.topLevelItem(c)
            assert cat is not None  # c < topLevelItemCount()
            for i in range(cat.childCount()):
                child = cat.child(i)
                if child is not None and child.data(0, TYPE_ID_ROLE) == type_id:
                    return child
        return None

    def focus_search(self) -> None:
        self.search.setFocus()
        self.search.selectAll()

    # -- internals ------------------------------------------------------------------------------
    def _apply_filter(self, text: str) -> None:
        words = search_words(text)
        first: QTreeWidgetItem | None = None
        for c in range(self.tree.topLevelItemCount()):
            cat = self.tree.topLevelItem(c)
            assert cat is not None  # c < topLevelItemCount()
            shown = 0
            for i in range(cat.childCount()):
                item = cat.child(i)
                assert item is not None  # i < childCount()
                nt = self.registry.get(item.data(0, TYPE_ID_ROLE))
                hide = bool(words) and (nt is None or match_score(nt, words) is None)
                item.setHidden(hide)
                if not hide:
                    shown += 1
                    first = first or item
            cat.setHidden(shown == 0)
            if words and shown:
                cat.setExpanded(True)
        if words and first is not None:
            self.tree.setCurrentItem(first)
        nothing = bool(words) and first is None
        self.empty.setText(no_match_text(text) if nothing else "")
        self.empty.setVisible(nothing)
        self.tree.setVisible(not nothing)

    def _item_chosen(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        type_id = item.data(0, TYPE_ID_ROLE)
        if type_id:
            self.add_requested.emit(type_id)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.search and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key == Qt.Key.Key_Down:
                self.tree.setFocus()
                return True
            if key in ENTER_KEYS:
                current = self.tree.currentItem()
                if current is not None and not current.isHidden():
                    self._item_chosen(current)
                return True
            if key == Qt.Key.Key_Escape and self.search.text():
                self.search.clear()
                return True
        return super().eventFilter(obj, event)


# -- the quick-add popup -------------------------------------------------------------------------


class _CategoryDelegate(QStyledItemDelegate):
    """Draws each entry's category, dimmed, at the right edge of its row."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        super().paint(painter, option, index)
        category = index.data(CATEGORY_ROLE)
        if not category:
            return
        painter.save()
        painter.setPen(option.palette.placeholderText().color())
        rect: QRect = option.rect.adjusted(0, 0, -8, 0)
        painter.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, category)
        painter.restore()


class QuickAddPopup(QFrame):
    """A frameless search-and-pick popup: type to filter, arrows + Enter (or a click) to choose."""

    chosen = Signal(str)  # node type id

    def __init__(self, registry: Registry, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup | Qt.WindowType.FramelessWindowHint)
        self.registry = registry
        self._filter: Callable[[NodeType], bool] | None = None
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Add a node…")
        self.search.addAction(qta.icon("mdi6.magnify"), QLineEdit.ActionPosition.LeadingPosition)
        self.search.textChanged.connect(self._refill)
        self.search.installEventFilter(self)
        self.list = QListWidget()
        self.list.setItemDelegate(_CategoryDelegate(self.list))
        self.list.setUniformItemSizes(True)
        self.list.itemClicked.connect(self._choose_item)
        self.list.itemActivated.connect(self._choose_item)
        col = QVBoxLayout(self)
        col.setContentsMargins(4, 4, 4, 4)
        col.setSpacing(4)
        self.empty = QLabel()
        self.empty.setTextFormat(Qt.TextFormat.PlainText)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet("color: #9aa0a6; padding: 12px;")
        self.empty.hide()
        col.addWidget(self.search)
        col.addWidget(self.empty)
        col.addWidget(self.list)
        self.resize(340, 360)

    def popup(self, global_pos: QPoint, type_filter: Callable[[NodeType], bool] | None = None) -> None:
        """Show at ``global_pos`` listing the node types that pass ``type_filter`` (all if None)."""
        self._filter = type_filter
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self._refill("")
        screen = QGuiApplication.screenAt(global_pos) or QGuiApplication.primaryScreen()
        area = screen.availableGeometry() if screen else QRect(global_pos, self.size())
        x = min(max(global_pos.x(), area.left()), area.right() - self.width())
        y = min(max(global_pos.y(), area.top()), area.bottom() - self.height())
        self.move(x, y)
        self.show()
        self.raise_()
        self.activateWindow()
        self.search.setFocus()

    def type_ids(self) -> list[str]:
        """The node types listed now, best match first."""
        return [self.list.item(i).data(TYPE_ID_ROLE) for i in range(self.list.count())]

    def choose_current(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._choose_item(item)

    # -- internals ------------------------------------------------------------------------------
    def _refill(self, text: str) -> None:
        words = search_words(text)
        ranked: list[tuple[int, str, NodeType]] = []
        for nt in self.registry:
            if self._filter is not None and not self._filter(nt):
                continue
            score = match_score(nt, words) if words else 0
            if score is not None:
                ranked.append((score, nt.title.lower() if words else "", nt))
        ranked.sort(key=lambda r: (r[0], r[1]))  # stable: without words, the registry's order stays
        self.list.clear()
        for _score, _title, nt in ranked:
            item = QListWidgetItem(category_icon(nt.category), nt.title)
            item.setData(TYPE_ID_ROLE, nt.id)
            item.setData(CATEGORY_ROLE, nt.category)
            item.setToolTip(node_tooltip(nt))
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)
        self.empty.setText("" if self.list.count() else no_match_text(text) if words else "No node fits here")
        self.empty.setVisible(not self.list.count())

    def _choose_item(self, item: QListWidgetItem) -> None:
        type_id = item.data(TYPE_ID_ROLE)
        self.hide()
        if type_id:
            self.chosen.emit(type_id)

    def _move(self, delta: int) -> None:
        n = self.list.count()
        if n:
            self.list.setCurrentRow(min(max(self.list.currentRow() + delta, 0), n - 1))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.search and event.type() == QEvent.Type.KeyPress:
            return self._key(event.key())  # type: ignore[attr-defined]
        return super().eventFilter(obj, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if not self._key(event.key()):
            super().keyPressEvent(event)

    def _key(self, key: int) -> bool:
        page = max(1, self.list.height() // max(1, self.list.sizeHintForRow(0)) - 1) if self.list.count() else 1
        moves = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: page, Qt.Key.Key_PageUp: -page}
        if key in moves:
            self._move(moves[key])  # type: ignore[index]
        elif key in ENTER_KEYS:
            self.choose_current()
        elif key == Qt.Key.Key_Escape:
            self.hide()
        else:
            return False
        return True
