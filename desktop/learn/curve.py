"""The learning curve of a compositional (msci) training: held-out accuracy on the seen pairs per
epoch (solid, left axis 0-100 %) and the mean training loss (dashed, scaled to its own range), the
kept epoch ringed. API: `LearningCurve.set_curve(Sequence[EpochPoint], epochs=0)`; `hover_texts()`
says what the tooltips say. Plain QPainter, no plotting dependency (like desktop/insight/charts.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from desktop import style
from desktop.models.learn import EpochPoint

LOSS_COLOUR = "#9aa3b2"


class LearningCurve(QWidget):
    """See the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: list[EpochPoint] = []
        self.epochs = 0  # the planned epochs (x axis), 0: as many as points
        self.best: EpochPoint | None = None
        self.empty_text = "The held-out accuracy per epoch shows here while msci trains."
        self._hover: list[tuple[QRectF, str]] = []
        self.setMouseTracking(True)
        self.setMinimumSize(240, 110)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.small = QFont(self.font())
        self.small.setPointSizeF(max(7.5, self.font().pointSizeF() - 1.5))

    def set_curve(self, points: Sequence[EpochPoint], epochs: int = 0, best: EpochPoint | None = None) -> None:
        self.points, self.epochs, self.best = list(points), int(epochs), best
        self.update()

    def hover_texts(self) -> list[str]:
        return [t for _r, t in self._hover]

    def paintEvent(self, _e: QPaintEvent) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5)
        p.setPen(QPen(QColor(style.BORDER)))
        p.setBrush(QColor(style.BASE))
        p.drawRoundedRect(r, 6, 6)
        self._hover = []
        body = r.adjusted(10, 8, -12, -8)
        if not self.points:
            p.setPen(QColor(style.MUTED))
            p.drawText(body, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.empty_text)
            p.end()
            return
        p.setFont(self.small)
        fm = QFontMetrics(self.small)
        left = fm.horizontalAdvance("100%") + 8
        plot = body.adjusted(left, fm.height() + 4, 0, -(fm.height() + 6))
        n = max(self.epochs, len(self.points), 2)

        def x_of(epoch: int) -> float:
            return plot.left() + plot.width() * (epoch - 1) / max(1, n - 1)

        def y_of(v: float) -> float:
            return plot.bottom() - plot.height() * v

        for t in (0.0, 0.25, 0.5, 0.75, 1.0):  # y grid: held-out accuracy
            y = y_of(t)
            p.setPen(QPen(QColor("#eceef2")))
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            p.setPen(QColor(style.MUTED))
            p.drawText(QRectF(body.left(), y - fm.height() / 2, left - 6, fm.height()), Qt.AlignmentFlag.AlignRight,
                       f"{t:.0%}")
        for e in sorted({1, (n + 1) // 2, n}):  # x labels
            p.drawText(QRectF(x_of(e) - 30, plot.bottom() + 3, 60, fm.height()), Qt.AlignmentFlag.AlignHCenter,
                       f"epoch {e}" if e == n else str(e))
        # legend
        held_out = any(q.val_accuracy is not None for q in self.points)
        p.setPen(QColor(style.ACCENT if held_out else style.MUTED))
        p.drawText(QRectF(plot.left(), body.top(), plot.width(), fm.height()), Qt.AlignmentFlag.AlignLeft,
                   "— held-out accuracy, seen pairs" if held_out
                   else "no held-out accuracy: too few decided images to hold some out")
        p.setPen(QColor(LOSS_COLOUR))
        p.drawText(QRectF(plot.left(), body.top(), plot.width(), fm.height()), Qt.AlignmentFlag.AlignRight,
                   "- - training loss (own scale)")
        # loss: dashed, scaled to [min, max] of its own values
        losses = [q.loss for q in self.points]
        lo, hi = min(losses), max(losses)
        span = (hi - lo) or 1.0
        pen = QPen(QColor(LOSS_COLOUR), 1.5, Qt.PenStyle.DashLine)
        p.setPen(pen)
        pts = [QPointF(x_of(q.epoch), y_of(0.1 + 0.8 * (q.loss - lo) / span)) for q in self.points]
        for a, b in zip(pts, pts[1:]):
            p.drawLine(a, b)
        # held-out accuracy: solid with dots
        acc = [(q, QPointF(x_of(q.epoch), y_of(q.val_accuracy))) for q in self.points if q.val_accuracy is not None]
        p.setPen(QPen(QColor(style.ACCENT), 2))
        for (_qa, a), (_qb, b) in zip(acc, acc[1:]):
            p.drawLine(a, b)
        p.setBrush(QColor(style.ACCENT))
        for _q, pt in acc:
            p.drawEllipse(pt, 3, 3)
        if self.best is not None and self.best.val_accuracy is not None:
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setPen(QPen(QColor(style.TEXT), 1.5))
            p.drawEllipse(QPointF(x_of(self.best.epoch), y_of(self.best.val_accuracy)), 6, 6)
        w = plot.width() / max(1, n - 1)
        for q in self.points:
            text = f"epoch {q.epoch}: loss {q.loss:.3f}"
            if q.val_accuracy is not None:
                text += f", held-out seen pairs {q.val_accuracy:.1%}"
            if self.best is not None and q.epoch == self.best.epoch:
                text += " (kept)"
            self._hover.append((QRectF(x_of(q.epoch) - w / 2, plot.top(), w, plot.height()), text))
        p.end()

    def mouseMoveEvent(self, e: QMouseEvent) -> None:  # noqa: N802 - Qt override
        text = next((t for rect, t in self._hover if rect.contains(e.position())), "")
        if text:
            QToolTip.showText(e.globalPosition().toPoint(), text, self)
        else:
            QToolTip.hideText()
