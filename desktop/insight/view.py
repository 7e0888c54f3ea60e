"""Insight: score histogram, per-class counts (predicted / decided / imported), confusion heat maps.

Numbers come from `workflows.stats.project_stats` (aggregate queries). The screen refreshes when
shown and, while visible, shortly after labels change (coalesced).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.context import AppContext
from desktop.insight.charts import GroupedBarChart, HeatmapChart, HistogramChart
from desktop.insight.pairs import PairGridWidget, pair_image_ids
from desktop.signals import listen
from workflows.progress import Progress

# confusion choice -> (Stats attribute, row title)
CONFUSIONS: dict[str, tuple[str, str, str]] = {
    "Predicted vs decided": ("predicted_vs_decided", "predicted", "decided"),
    "Imported vs decided": ("imported_vs_decided", "imported", "decided"),
    "Imported vs predicted": ("imported_vs_predicted", "imported", "predicted"),
}


# axis title -> ImageFilter keyword for "has this class" and for "has none"
_AXIS_FILTERS: dict[str, tuple[str, dict[str, Any]]] = {
    "predicted": ("pred_class_id", {"has_prediction": False}),
    "decided": ("label_class_id", {"decided": False}),
    "imported": ("imported_class_id", {"has_imported": False}),
}


def cell_image_ids(project: Any, row_axis: str, col_axis: str, row_class: int | None, col_class: int | None) -> list[int]:
    """The images counted in one confusion cell (row class on one axis, column class on the other)."""
    from db import ImageFilter

    kwargs: dict[str, Any] = {}
    for axis, cls in ((row_axis, row_class), (col_axis, col_class)):
        field, none = _AXIS_FILTERS[axis]
        if cls is None:
            kwargs.update(none)
        else:
            kwargs[field] = cls
            if axis == "decided":
                kwargs["decided"] = True
    return project.image_ids(ImageFilter(**kwargs))


def imported_vs_predicted(project: Any, names: dict[int, str]) -> Any:
    """Confusion of imported labels against the latest predictions (the audit's raw picture),
    shaped like `workflows.stats.Confusion`; None when nothing is imported."""
    from workflows.stats import NONE_LABEL, Confusion

    cells = project.crosstab("imported", "predicted")
    if not any(a is not None for a, _b in cells):
        return None
    ids: list[int | None] = [*names, None]
    pos = {c: i for i, c in enumerate(ids)}
    m = [[0] * len(ids) for _ in ids]
    for (a, b), n in cells.items():
        if a is not None and b is not None:
            m[pos.get(a, len(ids) - 1)][pos.get(b, len(ids) - 1)] += n
    return Confusion(ids, [*names.values(), NONE_LABEL], m)


class StatCard(QFrame):
    def __init__(self, title: str) -> None:
        super().__init__()
        self.setObjectName("card")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 10, 14, 10)
        self.value = QLabel("—")
        self.value.setStyleSheet("font-size: 18pt; font-weight: 600;")
        self.caption = QLabel(title)
        self.caption.setObjectName("muted")
        lay.addWidget(self.value)
        lay.addWidget(self.caption)

    def set(self, value: str, caption: str | None = None) -> None:
        self.value.setText(value)
        if caption is not None:
            self.caption.setText(caption)


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


class InsightView(QWidget):
    """Screen `insight`."""

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.stats: Any = None
        self.extra_confusions: dict[str, Any] = {}
        self._visible = False
        self._timer = QTimer(self, singleShot=True, interval=400)
        self._timer.timeout.connect(self.refresh)

        title = QLabel("Insight")
        title.setObjectName("screenTitle")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        head = QHBoxLayout()
        head.addWidget(title)
        head.addStretch(1)
        head.addWidget(self.refresh_button)

        self.cards = {
            "images": StatCard("images"),
            "predicted": StatCard("pre-labelled"),
            "reviewed": StatCard("reviewed"),
            "agreement": StatCard("reviews that kept the prediction"),
            "errors": StatCard("unreadable or missing"),
        }
        cards = QHBoxLayout()
        for c in self.cards.values():
            cards.addWidget(c)

        self.histogram = HistogramChart("Top-1 score of the latest predictions", "score")
        self.histogram.empty_text = "No predictions yet: run Pre-label."
        self.class_bars = GroupedBarChart("Images per class")
        self.class_bars.empty_text = "No classes with images yet."
        self.confusion_box = QComboBox()
        self.confusion_box.addItems(list(CONFUSIONS))
        self.confusion_box.currentIndexChanged.connect(lambda _i: self._show_confusion())
        self.confusion = HeatmapChart("Confusion", "predicted", "decided")
        self.confusion.setMinimumHeight(320)

        self.refine_button = QToolButton()
        self.refine_button.setObjectName("refinePairs")
        self.refine_button.setText("Distinguish a confused pair")
        self.refine_button.setToolTip("ask the LLM for attributes that tell the most confused classes apart "
                                      "(or right-click a cell of the matrix)")
        self.refine_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.pairs_menu = QMenu(self.refine_button)
        self.pairs_menu.aboutToShow.connect(self._fill_pairs)
        self.confused: list[Any] | None = None  # workflows.refine.ConfusedPair, most confused first
        self._pairs_worker: Any = None
        self.refine_button.setMenu(self.pairs_menu)
        conf_head = QHBoxLayout()
        conf_head.addWidget(QLabel("Compare"))
        conf_head.addWidget(self.confusion_box)
        conf_head.addStretch(1)
        conf_head.addWidget(self.refine_button)
        grid = QGridLayout()
        grid.addWidget(self.histogram, 0, 0)
        grid.addWidget(self.class_bars, 0, 1, 2, 1)
        conf = QVBoxLayout()
        conf.addLayout(conf_head)
        conf.addWidget(self.confusion, 1)
        grid.addLayout(conf, 1, 0)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(1, 1)

        inner = QWidget()
        lay = QVBoxLayout(inner)
        lay.setContentsMargins(16, 12, 16, 12)
        lay.addLayout(head)
        lay.addLayout(cards)
        lay.addLayout(grid, 1)
        self.pairs = PairGridWidget()  # compositional projects only (desktop/insight/pairs.py)
        self.pairs.pair_activated.connect(self.open_pair)
        lay.addWidget(self.pairs)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

        for sig in (ctx.labels_changed, ctx.classes_changed, ctx.images_changed, ctx.project_changed):
            listen(sig, self, lambda *_: self._timer.start() if self._visible else None)
        listen(ctx.project_changed, self, self._forget_pairs)
        self.confusion.cell_clicked.connect(self.open_cell)
        self.confusion.cell_menu.connect(self._cell_menu)

    # -- screen protocol ---------------------------------------------------------------------------
    def activate(self) -> None:
        self.refresh()

    def showEvent(self, e) -> None:  # noqa: N802 - Qt override
        self._visible = True
        super().showEvent(e)

    def hideEvent(self, e) -> None:  # noqa: N802 - Qt override
        self._visible = False
        super().hideEvent(e)

    # -- data ----------------------------------------------------------------------------------------
    def refresh(self) -> None:
        from workflows.stats import project_stats

        p = self.ctx.project
        if p is None:
            return
        try:
            s = project_stats(p)
        except Exception as err:  # noqa: BLE001
            self.ctx.show_error("Insight", err)
            return
        self.stats = s
        self.confused = None  # ranked again when the menu opens next
        self.extra_confusions = {"imported_vs_predicted": imported_vs_predicted(p, p.class_names_by_id())}
        if s.n_reviewed == 0 and self.extra_confusions["imported_vs_predicted"] is not None:
            self.confusion_box.blockSignals(True)  # nothing decided yet: show what can be compared
            self.confusion_box.setCurrentText("Imported vs predicted")
            self.confusion_box.blockSignals(False)
        bad = s.by_status.get("error", 0) + s.by_status.get("missing", 0)
        self.cards["images"].set(f"{s.n_images:,}")
        self.cards["predicted"].set(f"{s.n_predicted:,}", f"pre-labelled ({_pct(s.n_predicted / s.n_images if s.n_images else None)})")
        self.cards["reviewed"].set(f"{s.n_reviewed:,}", f"reviewed ({_pct(s.n_reviewed / s.n_images if s.n_images else None)})")
        self.cards["agreement"].set(_pct(s.agreement), f"reviews that kept the prediction ({s.n_agree:,} of {s.n_compared:,})")
        self.cards["errors"].set(f"{bad:,}")
        self.histogram.set_data(s.score_edges, s.score_counts)
        series = [("predicted", [c.predicted for c in s.classes]), ("decided", [c.decided for c in s.classes])]
        if any(c.imported for c in s.classes):
            series.append(("imported", [c.imported for c in s.classes]))
        self.class_bars.set_data([c.name for c in s.classes], series)
        self._show_confusion()
        from workflows.compose import pair_grid

        self.pairs.set_grid(pair_grid(p))

    def open_pair(self, class_id: int, decided: bool) -> list[int]:
        """A pair-grid cell was double-clicked: its images become the selection, Review opens."""
        p = self.ctx.project
        ids = pair_image_ids(p, class_id, decided) if p is not None else []
        if ids:
            self.ctx.set_selection(ids)
            self.ctx.open_image(ids[0])
            self.ctx.show_status(f"{len(ids):,} image(s) of that pair are the review queue now", 6000)
        return ids

    def open_cell(self, row_class: int | None, col_class: int | None) -> list[int]:
        """A confusion cell was clicked: its images become the selection and Review opens on them."""
        p = self.ctx.project
        if p is None:
            return []
        ids = cell_image_ids(p, self.confusion.row_title, self.confusion.col_title, row_class, col_class)
        if ids:
            self.ctx.set_selection(ids)
            self.ctx.open_image(ids[0])
            self.ctx.show_status(f"{len(ids):,} image(s) of that cell are the review queue now", 6000)
        return ids

    # -- distinguishing attributes for confused pairs (issue #17) ------------------------------------
    def refine_pair(self, a: int, b: int) -> Any:
        """Open the dialog that asks the LLM for attributes telling class `a` from class `b`."""
        from desktop.learn.refine_dialog import open_refine

        return open_refine(self.ctx, a, b, self)

    def cell_actions(self, row_class: Any, col_class: Any) -> list[tuple[str, Any]]:
        """What a cell's context menu offers: its images, and for two different classes the LLM."""
        out: list[tuple[str, Any]] = [("Review these images", lambda: self.open_cell(row_class, col_class))]
        if row_class is not None and col_class is not None and row_class != col_class:
            names = self.ctx.project.class_names_by_id() if self.ctx.project is not None else {}
            a, b = names.get(row_class, "?"), names.get(col_class, "?")
            out.append((f"Ask the LLM what tells {a} from {b}…", lambda: self.refine_pair(row_class, col_class)))
        return out

    def _cell_menu(self, row_class: Any, col_class: Any, pos: Any) -> None:
        menu = QMenu(self)
        for text, call in self.cell_actions(row_class, col_class):
            menu.addAction(text).triggered.connect(lambda _c=False, call=call: call())
        menu.exec(pos)
        menu.deleteLater()

    def _fill_pairs(self) -> None:
        """The most confused pairs (decisions and corrections, then close calls). They are ranked in a
        worker (it reads every image's top two): the menu says so, and fills in when they are in."""
        self.pairs_menu.clear()
        p = self.ctx.project
        if p is None:
            self.pairs_menu.addAction("open a project first").setEnabled(False)
            return
        if self.confused is None:
            self.pairs_menu.addAction("finding the confused pairs…").setEnabled(False)
            self.find_confused_pairs()
            return
        for pair in self.confused:
            count = pair.a_as_b + pair.b_as_a
            how = f"{count} decided" if count else f"{pair.close} close calls"
            act = self.pairs_menu.addAction(f"{pair.a_name} vs {pair.b_name}  ({how})")
            act.triggered.connect(lambda _c=False, a=pair.a, b=pair.b: self.refine_pair(a, b))
        if not self.confused:
            self.pairs_menu.addAction("no confused pairs yet: review some images first").setEnabled(False)

    def find_confused_pairs(self) -> Any:
        """Rank the confused pairs in a worker (`workflows.refine.confused_pairs`); returns it, or the
        one already running."""
        from desktop.learn import service

        p = self.ctx.project
        if p is None:
            return None
        if self._pairs_worker is not None:
            return self._pairs_worker

        def factory(_cancel: Any) -> Any:
            yield Progress(0, None, "ranking the confused pairs", stage="pairs")
            return service.confused_pairs(p)

        worker = self.ctx.run_task("Confused pairs", factory, self._pairs_found,
                                   on_error=lambda err: self.ctx.show_error("Confused pairs", err))
        worker.done.connect(self._pairs_ended)
        self._pairs_worker = worker
        return worker

    def _forget_pairs(self, *_args: Any) -> None:
        """Another project: its pairs are not these (a running ranking's result is dropped)."""
        self.confused = None
        self._pairs_worker = None

    def _pairs_found(self, pairs: Any) -> None:
        if self.sender() is self._pairs_worker:
            self.confused = list(pairs)
            if self.pairs_menu.isVisible():
                self._fill_pairs()

    def _pairs_ended(self) -> None:
        if self.sender() is self._pairs_worker:
            self._pairs_worker = None

    def _show_confusion(self) -> None:
        if self.stats is None:
            return
        attr, row_title, col_title = CONFUSIONS[self.confusion_box.currentText()]
        conf = getattr(self.stats, attr, None) or self.extra_confusions.get(attr)
        self.confusion.row_title, self.confusion.col_title = row_title, col_title
        self.confusion.title = f"{row_title.capitalize()} label vs {col_title} label"
        if conf is None:
            self.confusion.empty_text = f"No {row_title} labels in this project."
            self.confusion.set_data([], [])
        else:
            self.confusion.empty_text = "Nothing to compare yet: review some images first."
            self.confusion.set_data(conf.labels, conf.matrix, conf.class_ids)
