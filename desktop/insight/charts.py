"""Small QPainter charts (no plotting dependency): histogram, grouped horizontal bars, heat map.

Each chart takes plain numbers (`set_data`), paints itself at any size, and explains a hovered
element in a tooltip. They draw an "empty" message instead of an empty frame when there is no data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from desktop import style


def nice_ticks(vmax: float, n: int = 4) -> list[float]:
    """0 and up to n round steps covering vmax (1, 2, 5 × 10^k)."""
    if vmax <= 0:
        return [0.0, 1.0]
    mag = 10 ** math.floor(math.log10(vmax / n))
    step = next(m * mag for m in (1, 2, 5, 10, 20) if math.ceil(vmax / (m * mag) - 1e-9) <= n + 1)
    return [i * step for i in range(int(math.ceil(vmax / step - 1e-9)) + 1)]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 10 or float(v).is_integer() else f"{v:.2g}"


class _Chart(QWidget):
    """Common frame: title, empty message, fonts, hover regions -> tooltip text."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.empty_text = "No data yet."
        self.setMouseTracking(True)
        self.setMinimumSize(260, 200)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._hover: list[tuple[QRectF, str]] = []
        self.small = QFont(self.font())
        self.small.setPointSizeF(max(7.5, self.font().pointSizeF() - 1.5))
        self.bold = QFont(self.font())
        self.bold.setBold(True)

    def has_data(self) -> bool:
        return False

    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QPen(QColor(style.BORDER)))
        p.setBrush(QColor(style.BASE))
        p.drawRoundedRect(r, 6, 6)
        p.setFont(self.bold)
        p.setPen(QColor(style.TEXT))
        p.drawText(r.adjusted(12, 8, -12, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, self.title)
        body = r.adjusted(12, 14 + QFontMetrics(self.bold).height(), -14, -10)
        self._hover = []
        if not self.has_data():
            p.setFont(self.font())
            p.setPen(QColor(style.MUTED))
            p.drawText(body, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
        else:
            self.draw(p, body)
        p.end()

    def draw(self, p: QPainter, body: QRectF) -> None:
        raise NotImplementedError

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        pos = e.position()
        text = next((t for rect, t in self._hover if rect.contains(pos)), "")
        if text:
            QToolTip.showText(e.globalPosition().toPoint(), text, self)
        else:
            QToolTip.hideText()

    def hover_texts(self) -> list[str]:
        """What the tooltips say (tests, accessibility)."""
        return [t for _r, t in self._hover]


class HistogramChart(_Chart):
    """Counts per bin over `edges` (len(counts) + 1 edges)."""

    def __init__(self, title: str, x_label: str = "", parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self.x_label = x_label
        self.edges: list[float] = []
        self.counts: list[int] = []

    def set_data(self, edges: Sequence[float], counts: Sequence[int]) -> None:
        self.edges, self.counts = list(edges), list(counts)
        self.update()

    def has_data(self) -> bool:
        return bool(self.counts) and sum(self.counts) > 0

    def draw(self, p: QPainter, body: QRectF) -> None:
        fm = QFontMetrics(self.small)
        ticks = nice_ticks(max(self.counts))
        left = max(fm.horizontalAdvance(_fmt(t)) for t in ticks) + 8
        plot = body.adjusted(left, 4, 0, -(2 * fm.height() + 6))
        p.setFont(self.small)
        top = ticks[-1]
        for t in ticks:  # y grid
            y = plot.bottom() - plot.height() * t / top
            p.setPen(QPen(QColor("#eceef2")))
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.setPen(QColor(style.MUTED))
            p.drawText(QRectF(body.left(), y - fm.height() / 2, left - 6, fm.height()), Qt.AlignmentFlag.AlignRight, _fmt(t))
        n = len(self.counts)
        w = plot.width() / n
        p.setPen(Qt.PenStyle.NoPen)
        for i, c in enumerate(self.counts):
            h = plot.height() * c / top
            bar = QRectF(plot.left() + i * w + 1, plot.bottom() - h, max(1.0, w - 2), h)
            p.setBrush(QColor(style.ACCENT))
            p.drawRect(bar)
            lo, hi = self.edges[i], self.edges[i + 1]
            self._hover.append((QRectF(bar.left(), plot.top(), bar.width(), plot.height()), f"{lo:.3f} – {hi:.3f}: {c:,} images"))
        p.setPen(QColor(style.MUTED))
        for i in sorted({0, n // 2, n}):  # x labels at both ends and the middle
            x = plot.left() + i * w
            p.drawText(QRectF(x - 40, plot.bottom() + 3, 80, fm.height()), Qt.AlignmentFlag.AlignHCenter, f"{self.edges[i]:.2f}")
        p.drawText(QRectF(plot.left(), plot.bottom() + fm.height() + 4, plot.width(), fm.height()), Qt.AlignmentFlag.AlignHCenter, self.x_label)


class GroupedBarChart(_Chart):
    """Horizontal bars: one row per category, one bar per series (colours from `style.SERIES`)."""

    def __init__(self, title: str, parent: QWidget | None = None, max_rows: int = 24) -> None:
        super().__init__(title, parent)
        self.categories: list[str] = []
        self.series: list[tuple[str, list[int]]] = []
        self.max_rows = max_rows
        self.hidden_rows = 0

    def set_data(self, categories: Sequence[str], series: Sequence[tuple[str, Sequence[int]]]) -> None:
        """Rows are kept in the order given; beyond `max_rows` the smallest totals are left out."""
        cats = list(categories)
        ser = [(name, list(vals)) for name, vals in series]
        if len(cats) > self.max_rows:
            totals = [sum(vals[i] for _n, vals in ser) for i in range(len(cats))]
            keep = sorted(sorted(range(len(cats)), key=lambda i: -totals[i])[: self.max_rows])
            self.hidden_rows = len(cats) - len(keep)
            cats = [cats[i] for i in keep]
            ser = [(name, [vals[i] for i in keep]) for name, vals in ser]
        else:
            self.hidden_rows = 0
        self.categories, self.series = cats, ser
        self.update()

    def has_data(self) -> bool:
        return any(any(v) for _n, v in self.series)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(420, 80 + 22 * max(4, len(self.categories)))

    def draw(self, p: QPainter, body: QRectF) -> None:
        fm = QFontMetrics(self.small)
        p.setFont(self.small)
        legend_h = fm.height() + 6
        x = body.left()
        for k, (name, _v) in enumerate(self.series):  # legend
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(style.series_color(k))
            p.drawRoundedRect(QRectF(x, body.top() + 3, 10, 10), 2, 2)
            p.setPen(QColor(style.TEXT))
            p.drawText(QPointF(x + 14, body.top() + fm.ascent() + 1), name)
            x += fm.horizontalAdvance(name) + 30
        if self.hidden_rows:
            p.setPen(QColor(style.MUTED))
            p.drawText(QRectF(body.left(), body.top(), body.width(), fm.height()), Qt.AlignmentFlag.AlignRight, f"(+{self.hidden_rows} smaller classes)")
        label_w = min(body.width() * 0.35, max(fm.horizontalAdvance(c) for c in self.categories) + 10)
        plot = body.adjusted(label_w, legend_h, -40, 0)
        vmax = max(max(v) for _n, v in self.series) or 1
        row_h = min(plot.height() / len(self.categories), 44.0)
        bar_h = max(2.0, min(10.0, (row_h - 4) / len(self.series)))
        for i, cat in enumerate(self.categories):
            y0 = plot.top() + i * row_h
            p.setPen(QColor(style.TEXT))
            p.drawText(
                QRectF(body.left(), y0, label_w - 8, row_h),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                fm.elidedText(cat, Qt.TextElideMode.ElideMiddle, int(label_w - 8)),
            )
            group_h = bar_h * len(self.series)
            yb = y0 + (row_h - group_h) / 2
            parts = []
            for k, (name, vals) in enumerate(self.series):
                v = vals[i]
                w = plot.width() * v / vmax
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(style.series_color(k))
                p.drawRect(QRectF(plot.left(), yb + k * bar_h, max(w, 0.5 if v else 0), bar_h - 1))
                if v and row_h >= 14:
                    p.setPen(QColor(style.MUTED))
                    p.drawText(QPointF(plot.left() + w + 3, yb + k * bar_h + bar_h - 1), _fmt(v))
                parts.append(f"{name}: {v:,}")
            self._hover.append((QRectF(body.left(), y0, body.width(), row_h), f"<b>{cat}</b><br>" + "<br>".join(parts)))


class HeatmapChart(_Chart):
    """A count matrix (rows: source label, columns: decided label); the diagonal is agreement.
    Clicking a non-empty cell emits `cell_clicked(row_key, col_key)` (the keys given to set_data);
    a right-click on any cell emits `cell_menu(row_key, col_key, global_pos)` for a context menu."""

    cell_clicked = Signal(object, object)
    cell_menu = Signal(object, object, object)

    def __init__(self, title: str, row_title: str, col_title: str, parent: QWidget | None = None, max_labels: int = 16) -> None:
        super().__init__(title, parent)
        self.row_title, self.col_title = row_title, col_title
        self.labels: list[str] = []
        self.keys: list[Any] = []
        self.matrix: list[list[int]] = []
        self._cells: list[tuple[QRectF, int, int]] = []
        self.max_labels = max_labels
        self.empty_text = "Nothing to compare yet: review some images first."

    def set_data(self, labels: Sequence[str], matrix: Sequence[Sequence[int]], keys: Sequence[Any] | None = None) -> None:
        """Square matrix over `labels` (`keys`: what a click reports per label, default the label);
        the busiest `max_labels` are kept (the last, '(none)', stays)."""
        labels, m = list(labels), [list(r) for r in matrix]
        keys = list(keys) if keys is not None else list(labels)
        n = len(labels)
        if n > self.max_labels:
            weight = [sum(m[i]) + sum(m[j][i] for j in range(n)) for i in range(n)]
            keep = sorted(sorted(range(n - 1), key=lambda i: -weight[i])[: self.max_labels - 1]) + [n - 1]
            labels = [labels[i] for i in keep]
            keys = [keys[i] for i in keep]
            m = [[m[i][j] for j in keep] for i in keep]
        self.labels, self.matrix, self.keys = labels, m, keys
        self.update()

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        """(row, column) of the painted cell under `pos`, if any."""
        return next(((i, j) for rect, i, j in self._cells if rect.contains(pos)), None)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        hit = self.cell_at(event.position())
        if hit is not None and self.matrix[hit[0]][hit[1]]:
            self.cell_clicked.emit(self.keys[hit[0]], self.keys[hit[1]])
        super().mousePressEvent(event)

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - Qt override
        hit = self.cell_at(QPointF(event.pos()))
        if hit is not None:
            self.cell_menu.emit(self.keys[hit[0]], self.keys[hit[1]], event.globalPos())
            event.accept()
            return
        super().contextMenuEvent(event)

    def has_data(self) -> bool:
        return any(any(r) for r in self.matrix)

    def draw(self, p: QPainter, body: QRectF) -> None:
        fm = QFontMetrics(self.small)
        p.setFont(self.small)
        self._cells = []
        n = len(self.labels)
        label_w = min(body.width() * 0.3, max(fm.horizontalAdvance(s) for s in self.labels) + 10)
        head_w = min(90.0, max(fm.horizontalAdvance(s) for s in self.labels) + 6)
        top_h = fm.height() + 6 + head_w  # the legend line, then column heads written upwards
        side = min(body.width() - label_w, body.height() - top_h)
        cell = side / n
        origin = QPointF(body.left() + label_w, body.top() + top_h)
        vmax = max(max(r) for r in self.matrix) or 1
        accent = QColor(style.ACCENT)
        p.setPen(QColor(style.MUTED))
        p.drawText(
            QRectF(body.left(), body.top(), body.width(), fm.height()),
            Qt.AlignmentFlag.AlignLeft,
            f"rows: {self.row_title} label  ·  columns: {self.col_title} label  ·  blue = agree, red = disagree",
        )
        p.setPen(QColor(style.TEXT))
        for j, lab in enumerate(self.labels):  # column heads, rotated to fit narrow cells
            p.save()
            p.translate(origin.x() + j * cell + cell / 2 + fm.ascent() / 2 - 1, origin.y() - 4)
            p.rotate(-90)
            p.drawText(QPointF(0, 0), fm.elidedText(lab, Qt.TextElideMode.ElideRight, int(head_w)))
            p.restore()
        for i, row_label in enumerate(self.labels):
            y = origin.y() + i * cell
            p.setPen(QColor(style.TEXT))
            p.drawText(
                QRectF(body.left(), y, label_w - 6, cell),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                fm.elidedText(row_label, Qt.TextElideMode.ElideMiddle, int(label_w - 6)),
            )
            for j, v in enumerate(self.matrix[i]):
                rect = QRectF(origin.x() + j * cell, y, cell - 1, cell - 1)
                t = math.sqrt(v / vmax) if v else 0.0
                c = QColor(accent) if i == j else QColor(style.STATUS_COLORS["rejected"])
                c.setAlphaF(0.08 + 0.85 * t if v else 0.03)
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(c)
                p.drawRect(rect)
                if v and cell >= 18:
                    p.setPen(QColor("white") if t > 0.6 else QColor(style.TEXT))
                    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, _fmt(v))
                verdict = "agree" if i == j else "disagree"
                self._cells.append((rect, i, j))
                more = "<br>click to review these images" if v else ""
                self._hover.append((rect, f"{self.row_title} <b>{row_label}</b>, {self.col_title} <b>{self.labels[j]}</b>: {v:,} ({verdict}){more}"))
