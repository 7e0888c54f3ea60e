"""The Audit screen: ranked likely label errors; the selected one explained and resolved."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, QSize, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.audit.controller import FINDING_CHECKS, AuditController
from desktop.audit.evidence import AuditEvidence
from desktop.audit.findings import TABS, FindingsTab
from desktop.audit.model import THUMB_COLUMN, AuditItem, AuditModel
from desktop.review import service as review_service
from desktop.review.panels import ClassSearch
from desktop.signals import listen
from desktop.widgets.fit import ElidedLabel, wrapping
from desktop.widgets.task_strip import TaskStrip

THUMB_PX = 56


class AuditView(QWidget):
    """Table of suspicious labels on the left; evidence and keep/correct on the right."""

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.controller = c = AuditController(ctx, self)
        self.thumbs = None
        self.model = AuditModel(None, self)

        self.run_button = QPushButton("Run audit")
        self.run_button.setToolTip("Rank likely label errors, find duplicates, outliers and overlapping classes, "
                                   "and take a second look at decisions the model strongly contradicts")
        self.run_button.clicked.connect(c.run_audit)
        self.flagged = QCheckBox("flagged only")
        self.flagged.toggled.connect(c.set_flagged_only)
        self.strip = TaskStrip("images")
        self.summary = ElidedLabel()
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.flagged)
        top.addWidget(self.strip, 1)
        top.addStretch(1)
        top.addWidget(self.summary)

        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.table.verticalHeader().setDefaultSectionSize(THUMB_PX + 6)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        # Interactive, sized once per load: ResizeToContents would re-measure every row each
        # time a thumbnail arrives (quadratic; 80 s for 200 rows)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setResizeContentsPrecision(50)
        header.setStretchLastSection(True)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setColumnWidth(THUMB_COLUMN, THUMB_PX + 8)
        self.table.selectionModel().selectionChanged.connect(self._selection)

        self.path_label = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)
        self.path_label.setTextFormat(Qt.TextFormat.RichText)
        self.title = wrapping(QLabel())
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.evidence = AuditEvidence()
        self.evidence.compare.refine_requested.connect(self._refine_pair)  # issue #17: distinguishing attributes
        self.overlay = self.evidence.overlay
        self.keep = QPushButton("Keep given label (G)")
        self.keep.clicked.connect(self._keep)
        self.use = QPushButton("Use model's label (M)")
        self.use.clicked.connect(self._use)
        self.search = ClassSearch()
        self.search.setPlaceholderText("…or correct to another class (/)")
        self.search.class_chosen.connect(self._correct)
        self.notice = wrapping(QLabel())
        buttons = QHBoxLayout()
        buttons.addWidget(self.keep)
        buttons.addWidget(self.use)
        buttons.addWidget(self.search, 1)

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.path_label)
        dl.addWidget(self.title)
        dl.addWidget(self.evidence, 1)
        dl.addLayout(buttons)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(detail)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([560, 840])
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(split, "Label issues")
        self.finding_tabs: dict[str, FindingsTab] = {}
        for check in FINDING_CHECKS:
            tab = FindingsTab(check)
            tab.open_images.connect(c.open_in_review)
            if check == "overlap":
                tab.images_for = c.images_of_pair
            elif check == "health":
                tab.images_for = c.images_of_class
            self.finding_tabs[check] = tab
            self.tabs.addTab(tab, TABS[check][0])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(self.notice)

        for key, slot in (("G", self._keep), ("M", self._use), ("/", self._focus_search),
                          ("Space", self.overlay.toggle_overlay), ("H", self.evidence.toggle_mode)):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)

        c.items_loaded.connect(self._show_items)
        c.findings_loaded.connect(self._show_findings)
        c.item_changed.connect(self._item_changed)
        c.selected.connect(self._show_selected)
        c.evidence_changed.connect(self.evidence.set_evidence)
        c.notice.connect(self.notice.setText)
        c.task_started.connect(self.strip.follow)
        listen(ctx.project_changed, self, self._project_changed)
        self._project_changed()

    def _refine_pair(self, a: int, b: int) -> None:
        from desktop.learn.refine_dialog import open_refine

        open_refine(self.ctx, a, b, self)

    def activate(self) -> None:
        self.controller.load()

    def _project_changed(self) -> None:
        """Thumbnails are cached under the project's cache directory; start a service per project."""
        from desktop.thumbnails import ThumbnailService

        if self.thumbs is not None:
            self.thumbs.shutdown()
        project = self.ctx.project
        self.thumbs = ThumbnailService(project.cache_dir if project is not None else None, px=THUMB_PX, parent=self)
        self.model.thumbs = self.thumbs
        self.thumbs.ready.connect(self.model._thumb_ready)
        try:
            classes = review_service.list_classes(project) if project is not None else []
        except Exception:  # noqa: BLE001 - a search box without names is still usable
            classes = []
        self.search.set_classes(classes)
        self.controller.load()

    # -- table ---------------------------------------------------------------------------------------
    def _item_changed(self, item: AuditItem) -> None:
        self.model.update_item(item.row.image_id, item)

    def _show_items(self, items: list[AuditItem]) -> None:
        self.model.set_items(items)
        self.table.resizeColumnsToContents()
        self.table.setColumnWidth(THUMB_COLUMN, THUMB_PX + 8)
        self.table.setColumnWidth(1, min(self.table.columnWidth(1), 220))
        flagged = sum(1 for it in items if it.row.flagged)
        self.summary.setText(f"{flagged} flagged of {len(items)} audited" if items else "")
        self.tabs.setTabText(0, f"Label issues ({flagged})" if items else "Label issues")
        if items:
            self.table.selectRow(0)
        else:
            self.controller.select(None)

    def _show_findings(self, findings: dict) -> None:
        """Each check's tab shows its rows; the tab title counts them."""
        for check, tab in self.finding_tabs.items():
            doc = findings.get(check)
            tab.set_doc(doc)
            title = TABS[check][0]
            if doc is not None and check != "health":
                n = (sum(1 for o in doc["items"] if o.get("flagged")) if check == "outliers" else len(doc["items"]))
                title = f"{title} ({n})"
            self.tabs.setTabText(self.tabs.indexOf(tab), title)

    def _selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        rows = {i.row() for i in self.table.selectionModel().selectedRows()}
        item = self.model.items[min(rows)] if rows else None
        self.controller.select(item)

    def select_image(self, image_id: int) -> bool:
        r = self.model.row_of(image_id)
        if r is None:
            return False
        self.table.selectRow(r)
        return True

    # -- detail ---------------------------------------------------------------------------------------
    def _show_selected(self, item: AuditItem | None) -> None:
        has = item is not None
        for w in (self.keep, self.use, self.search):
            w.setEnabled(has)
        self.evidence.set_item(item)
        if item is None:
            self.path_label.setText("")
            self.title.setText("Select a row to see why the model disagrees with the given label.")
            return
        r = item.row
        self.path_label.setText(f"<b>{r.rel_path}</b>")
        self.title.setText(
            f"given <b>{r.given_label}</b> (p = {r.p_given:.3f}) · "
            f"model says <b>{r.suggested_label}</b> · issue score {r.issue_score:.3f}"
            + (" · <b>flagged</b>" if r.flagged else "")
            + (f"<br>now: {item.review_status.replace('_', ' ')}"
               + (f" as <b>{item.label_name}</b>" if item.label_name else "") if item.review_status != "unreviewed" else "")
        )

    def _after_decision(self, ok: bool) -> None:
        """Move on to the next unresolved row, keyboard-review style."""
        if not ok:
            return
        cur = self.controller.current
        start = self.model.row_of(cur.row.image_id) if cur else None
        if start is None:
            return
        for r in range(start + 1, len(self.model.items)):
            if self.model.items[r].review_status == "unreviewed":
                self.table.selectRow(r)
                return

    def _keep(self) -> None:
        self._after_decision(self.controller.keep_given())

    def _use(self) -> None:
        self._after_decision(self.controller.use_suggested())

    def _correct(self, class_id: int) -> None:
        self._after_decision(self.controller.correct_to(class_id))
        self.table.setFocus()

    def _focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
