"""The Browse screen: filter bar, virtualised thumbnail grid, and a line of counts."""

from __future__ import annotations

from PySide6.QtCore import QItemSelection, QSize, Qt, QTimer
from PySide6.QtGui import QKeySequence, QRegion, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.browser.controller import BrowserController
from desktop.browser.delegate import TileDelegate
from desktop.browser.filters import IMPORTED_FILTERS, STATUS_FILTERS, sort_choices
from desktop.context import AppContext
from desktop.signals import listen

LARGE_SELECTION = 512  # rows: more than fit on a screen of tiles


class ImageGrid(QListView):
    """QListView in icon mode with uniform tiles: layout cost is O(1) per scroll at any size."""

    def __init__(self, px: int = 160, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("grid")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2000)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setSpacing(4)
        self.setWordWrap(False)
        self.delegate = TileDelegate(px, self)
        self.setItemDelegate(self.delegate)
        self.verticalScrollBar().setSingleStep(40)

    def visualRegionForSelection(self, selection: QItemSelection) -> QRegion:  # noqa: N802 - Qt override
        """Qt walks every selected row to find what to repaint (via rowCount, in Python, per row: 0.4 s
        for select-all at 100,000 images); past a screenful, repainting the viewport is the answer."""
        rows = sum(r.bottom() - r.top() + 1 for r in selection)
        if rows > LARGE_SELECTION:
            return QRegion(self.viewport().rect())
        return super().visualRegionForSelection(selection)

    def resizeEvent(self, e) -> None:  # noqa: N802 - Qt override
        """Spread the columns over the whole width (grid cells share the spare pixels)."""
        tile = self.delegate.sizeHint(None, None)  # type: ignore[arg-type]
        avail = self.viewport().width() - 2
        cols = max(1, avail // (tile.width() + 6))
        self.setGridSize(QSize(max(tile.width() + 6, avail // cols), tile.height() + 6))
        super().resizeEvent(e)


class BrowserView(QWidget):
    """Screen `browser`. Double-click or Enter opens the image in Review."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.controller = BrowserController(ctx, parent=self)
        c = self.controller

        self.status_box = QComboBox()
        for key, (label, _kw) in STATUS_FILTERS.items():
            self.status_box.addItem(label, key)
        self.class_box = QComboBox()
        self.imported_box = QComboBox()
        self.sort_box = QComboBox()
        for key, label in sort_choices():
            self.sort_box.addItem(label, key)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search names…")
        self.search.setMinimumWidth(110)
        self.search.setClearButtonEnabled(True)
        self.search.setMaximumWidth(220)
        self._search_timer = QTimer(self, singleShot=True, interval=250)
        self._search_timer.timeout.connect(lambda: c.set_filters(text=self.search.text()))
        self.search.textChanged.connect(lambda _t: self._search_timer.start())
        self.prelabel_button = QPushButton("Pre-label…")
        self.prelabel_button.setObjectName("primary")
        self.prelabel_button.setToolTip("Run the engine on all, selected or unlabelled images (Ctrl+R)")
        self.prelabel_button.clicked.connect(self._prelabel)
        self.accept_button = QPushButton("Accept selection")
        self.accept_button.setToolTip("accept the predicted label of the selected images (Ctrl+Shift+A)")
        self.accept_button.clicked.connect(self.accept_selection)
        self.accept_above_button = QPushButton("Accept above…")
        self.accept_above_button.setToolTip("accept every unreviewed prediction scoring at least a threshold")
        self.accept_above_button.clicked.connect(self._accept_above)

        for box in (self.status_box, self.class_box, self.imported_box, self.sort_box):
            box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            box.setMinimumContentsLength(6)  # with the app style the bar fits a 1024 px window
        bar = QHBoxLayout()
        for label, w in (("Show", self.status_box), ("Class", self.class_box), ("Imported", self.imported_box), ("Sort", self.sort_box)):
            lab = QLabel(label)
            lab.setObjectName("muted")
            bar.addWidget(lab)
            bar.addWidget(w)
        bar.addSpacing(8)
        bar.addWidget(self.search)
        bar.addStretch(1)

        self.grid = ImageGrid(c.thumb_px)
        self.grid.setModel(c.model)
        self.grid.setSelectionModel(c.selection_model)
        self.grid.activated.connect(lambda ix: c.open_row(ix.row()))
        self.info = QLabel()
        self.info.setObjectName("muted")
        self.info.setWordWrap(True)
        self.info.setMinimumWidth(120)
        actions = QHBoxLayout()  # under the grid: fits a 1024 px window beside the filters
        actions.addWidget(self.info, 1)
        actions.addWidget(self.accept_button)
        actions.addWidget(self.accept_above_button)
        self.vouch_button = QPushButton("Guarantee…")
        self.vouch_button.setToolTip("bulk accept with a guarantee: audit a random sample, then accept what the tool can vouch for")
        self.vouch_button.clicked.connect(self._vouch)
        actions.addWidget(self.vouch_button)
        actions.addWidget(self.prelabel_button)
        c.counts_changed.connect(self._show_counts)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(12, 10, 12, 6)
        lay.addLayout(bar)
        lay.addWidget(self.grid, 1)
        lay.addLayout(actions)

        self.status_box.currentIndexChanged.connect(lambda _i: c.set_filters(status=self.status_box.currentData()))
        self.class_box.currentIndexChanged.connect(self._class_chosen)
        self.imported_box.currentIndexChanged.connect(self._imported_chosen)
        self.sort_box.currentIndexChanged.connect(lambda _i: c.set_filters(sort=self.sort_box.currentData()))
        QShortcut(QKeySequence.StandardKey.Find, self, activated=self.search.setFocus)
        accept = QShortcut(QKeySequence("Ctrl+Shift+A"), self, activated=self.accept_selection)
        accept.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        listen(ctx.project_changed, self, self._reset_menus)
        listen(ctx.classes_changed, self, self._fill_class_menus)
        for sig in (ctx.project_changed, ctx.classes_changed, ctx.images_changed):
            listen(sig, self, self._sync_prelabel)
        self._sync_prelabel()
        self._reset_menus()

    # -- screen protocol -----------------------------------------------------------------------
    def activate(self) -> None:
        self.controller.visible = True
        if self.controller.dirty:
            self.controller.reload()
        self.grid.setFocus()

    def hideEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.controller.visible = False
        super().hideEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.controller.visible = True
        super().showEvent(event)

    # -- menus ---------------------------------------------------------------------------------
    def _reset_menus(self) -> None:
        for box in (self.status_box, self.sort_box):
            box.blockSignals(True)
            box.setCurrentIndex(0)
            box.blockSignals(False)
        self.search.blockSignals(True)
        self.search.clear()
        self.search.blockSignals(False)
        self._fill_class_menus()

    def _fill_class_menus(self) -> None:
        p = self.ctx.project
        names = p.class_names_by_id() if p is not None else {}
        for box, first in ((self.class_box, [("Any class", None)]), (self.imported_box, None)):
            current = box.currentData()
            box.blockSignals(True)
            box.clear()
            if first is None:
                for key, (label, _kw) in IMPORTED_FILTERS.items():
                    box.addItem(label, key)
            else:
                for label, data in first:
                    box.addItem(label, data)
            for cid, name in names.items():
                box.addItem(name, cid)
            i = box.findData(current)
            box.setCurrentIndex(max(0, i))
            box.blockSignals(False)

    def _class_chosen(self, _i: int) -> None:
        self.controller.set_filters(class_id=self.class_box.currentData())

    def _imported_chosen(self, _i: int) -> None:
        self.controller.set_filters(imported=self.imported_box.currentData())

    def _show_counts(self, shown: int, total: int, selected: int) -> None:
        parts = [f"Showing {shown:,} of {total:,} images"]
        if selected:
            parts.append(f"{selected:,} selected")
        parts.append("double-click or Enter opens an image in Review")
        self.info.setText("  ·  ".join(parts))

    def _sync_prelabel(self) -> None:
        """Pre-label is offered only when it can run; otherwise the button says why (tooltip)."""
        from desktop.prelabel_panel import prelabel_blocker

        why = prelabel_blocker(self.ctx.project) if self.ctx.project is not None else "Open a project first."
        self.prelabel_button.setEnabled(not why)
        self.prelabel_button.setToolTip(why or "Run the engine on all, selected or unlabelled images (Ctrl+R)")

    def accept_selection(self) -> int:
        """Accept the predictions of the selected images (with a confirmation that counts them)."""
        from desktop.bulk import accept_predictions

        return accept_predictions(self.ctx, self.controller.selected_ids(), self)

    def _vouch(self) -> None:
        from desktop.dialogs.vouch import VouchDialog

        if self.ctx.project is not None:
            VouchDialog(self.ctx, self).open()

    def _accept_above(self) -> None:
        from desktop.dialogs.accept_above import AcceptAboveDialog

        AcceptAboveDialog(self.ctx, self).open()

    def _prelabel(self) -> None:
        from desktop.prelabel_panel import PrelabelDialog

        PrelabelDialog(self.ctx, self).open()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(1000, 700)

