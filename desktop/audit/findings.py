"""The Audit screen's tabs for the dataset checks: duplicates, outliers, overlapping classes, the
health summary and the second opinion on decisions. Each row knows its images; Enter, a double
click or "Open in Review" shows them in Review (several images become Review's queue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.widgets.fit import wrapping

IDS_ROLE = Qt.ItemDataRole.UserRole
ROW_ROLE = Qt.ItemDataRole.UserRole + 1

#: check -> (tab title, column titles, what the empty tab says)
TABS: dict[str, tuple[str, list[str], str]] = {
    "duplicates": ("Duplicates", ["group / image", "kind", "similarity", "images"],
                   "No duplicate groups. Run the audit to look for copies and near copies."),
    "outliers": ("Outliers", ["image", "score", "distance", "predicted", "flagged"],
                 "No outliers listed yet. Run the audit to find images unlike the rest."),
    "overlap": ("Overlapping classes", ["class", "class", "images", "joint probability"],
                "No overlapping classes: needs imported labels and an audit run."),
    "health": ("Health", ["class", "labelled", "label issues", "noise", "inverse noise", "quality"],
               "No health summary: needs imported labels and an audit run."),
    "decisions": ("Second opinion", ["image", "decided", "model says", "p(decided)", "p(model)", "reviewer", "when"],
                  "No decisions the model strongly contradicts."),
}


def _f(v: Any, digits: int = 3) -> str:
    return "" if v is None else f"{v:.{digits}f}"


class FindingsTab(QWidget):
    """One check's findings as a tree (groups expand to their images) with an open button."""

    open_images = Signal(list)  # [image id], first shown first

    def __init__(self, check: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.check = check
        title, columns, empty = TABS[check]
        self.empty_text = empty
        self.header = wrapping(QLabel())
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(columns)
        self.tree.setRootIsDecorated(check == "duplicates")
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.itemActivated.connect(lambda *_: self.open_selected())
        self.tree.itemSelectionChanged.connect(self._selection)
        self.open_button = QPushButton("Open in Review")
        self.open_button.setToolTip("Show this row's images in Review (Enter or double click)")
        self.open_button.clicked.connect(self.open_selected)
        self.open_button.setEnabled(False)
        bar = QHBoxLayout()
        bar.addWidget(self.header, 1)
        bar.addWidget(self.open_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(bar)
        self.body = QSplitter(Qt.Orientation.Horizontal)
        self.body.addWidget(self.tree)
        lay.addWidget(self.body, 1)
        self.side: QWidget | None = None
        if check == "overlap":
            self.side = self._attribute_panel()
            self.body.addWidget(self.side)
            self.body.setStretchFactor(0, 3)
            self.body.setStretchFactor(1, 2)
        self.images_for: Callable[[dict[str, Any]], list[int]] = lambda row: []
        self.doc: dict[str, Any] | None = None

    # -- overlapping classes: attributes side by side ---------------------------------------------------
    def _attribute_panel(self) -> QWidget:
        w = QWidget()
        grid = QHBoxLayout(w)
        grid.setContentsMargins(0, 0, 0, 0)
        self.attr_titles: list[QLabel] = []
        self.attr_lists: list[QListWidget] = []
        for _ in range(2):
            col = QVBoxLayout()
            t = wrapping(QLabel())
            t.setTextFormat(Qt.TextFormat.RichText)
            lst = QListWidget()
            lst.setWordWrap(True)
            col.addWidget(t)
            col.addWidget(lst, 1)
            grid.addLayout(col)
            self.attr_titles.append(t)
            self.attr_lists.append(lst)
        return w

    def _show_attributes(self, row: dict[str, Any] | None) -> None:
        if self.side is None:
            return
        for k, side in enumerate("ab"):
            self.attr_lists[k].clear()
            if row is None:
                self.attr_titles[k].setText("")
                continue
            self.attr_titles[k].setText(f"<b>{row.get('name_' + side) or '?'}</b>")
            self.attr_lists[k].addItems(row.get("attributes_" + side) or ["(no attributes)"])

    # -- rows ----------------------------------------------------------------------------------------
    def set_doc(self, doc: dict[str, Any] | None) -> None:
        self.doc = doc
        self.tree.clear()
        items = (doc or {}).get("items", [])
        if not items:
            self.header.setText(self._empty_header(doc))
            self._show_attributes(None)
            self.open_button.setEnabled(False)
            return
        self.header.setText(self._header(doc))
        add = getattr(self, f"_rows_{self.check}")
        self.tree.addTopLevelItems(add(items))
        for c in range(self.tree.columnCount()):
            self.tree.resizeColumnToContents(c)
        self.tree.setColumnWidth(0, min(self.tree.columnWidth(0), 320))
        self.tree.setCurrentItem(self.tree.topLevelItem(0))

    def _empty_header(self, doc: dict[str, Any] | None) -> str:
        if doc is None:
            return self.empty_text
        if self.check == "outliers":
            return "No images listed."
        return {"duplicates": f"No duplicate groups at similarity ≥ {doc.get('threshold')}.",
                "overlap": "No class pairs overlap.", "health": "No labelled classes.",
                "decisions": "No decision is strongly contradicted by the model."}.get(self.check, self.empty_text)

    def _header(self, doc: dict[str, Any]) -> str:
        n = len(doc["items"])
        if self.check == "duplicates":
            return (f"<b>{n}</b> groups of copies (similarity ≥ {doc.get('threshold')}; "
                    f"{doc.get('n_images', 0)} images compared). Keep one of each, or keep each group in one split.")
        if self.check == "outliers":
            flagged = sum(1 for o in doc["items"] if o.get("flagged"))
            return (f"<b>{flagged}</b> flagged as unlike the rest; the {n} most unusual listed, "
                    f"most unusual first.")
        if self.check == "overlap":
            return f"<b>{n}</b> class pairs the labels and the model confuse. Compare their attributes."
        if self.check == "health":
            return (f"Label health <b>{doc.get('overall', 0):.2f}</b> over {doc.get('n_labelled', 0)} labelled "
                    f"images (1 − estimated share of wrong labels); classes worst first.")
        return f"<b>{n}</b> accepted or corrected labels that the model strongly contradicts: worth a second look."

    @staticmethod
    def _item(texts: list[str], ids: list[int], row: dict[str, Any]) -> QTreeWidgetItem:
        it = QTreeWidgetItem([str(t) for t in texts])
        it.setData(0, IDS_ROLE, ids)
        it.setData(0, ROW_ROLE, row)
        it.setToolTip(0, texts[0])
        return it

    def _rows_duplicates(self, items: list[dict[str, Any]]) -> list[QTreeWidgetItem]:
        out = []
        for g in items:
            ids = [im["image_id"] for im in g["images"]]
            name = f"{g['group']}. {g['images'][0]['rel_path']} +{len(ids) - 1}"
            top = self._item([name, g["kind"], _f(g["min_similarity"], 4), str(len(ids))], ids, g)
            for im in g["images"]:
                rest = [i for i in ids if i != im["image_id"]]
                top.addChild(self._item([im["rel_path"], "", "", ""], [im["image_id"], *rest], g))
            out.append(top)
        return out

    def _rows_outliers(self, items: list[dict[str, Any]]) -> list[QTreeWidgetItem]:
        return [self._item([o["rel_path"], _f(o["score"]), _f(o["mean_distance"]), o.get("predicted") or "",
                            "yes" if o.get("flagged") else ""], [o["image_id"]], o) for o in items]

    def _rows_overlap(self, items: list[dict[str, Any]]) -> list[QTreeWidgetItem]:
        return [self._item([p["name_a"] or "?", p["name_b"] or "?", str(p["n_overlapping"]),
                            _f(p["joint_probability"], 4)], self.images_for(p), p) for p in items]

    def _rows_health(self, items: list[dict[str, Any]]) -> list[QTreeWidgetItem]:
        return [self._item([c["class_name"] or "?", str(c["n_labelled"]), str(c["label_issues"]),
                            _f(c["label_noise"]), _f(c["inverse_label_noise"]), _f(c["label_quality"])],
                           self.images_for(c), c) for c in items]

    def _rows_decisions(self, items: list[dict[str, Any]]) -> list[QTreeWidgetItem]:
        return [self._item([r["rel_path"], r.get("decided") or "?", r.get("suggested") or "?", _f(r["p_decided"]),
                            _f(r["p_suggested"]), r.get("reviewer") or "", (r.get("at") or "").replace("T", " ")[:16]],
                           [r["image_id"]], r) for r in items]

    # -- opening ------------------------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        it = self.tree.currentItem()
        return list(it.data(0, IDS_ROLE) or []) if it is not None else []

    def _selection(self) -> None:
        it = self.tree.currentItem()
        self.open_button.setEnabled(bool(self.selected_ids()))
        self._show_attributes(it.data(0, ROW_ROLE) if it is not None else None)

    def open_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.open_images.emit(ids)
