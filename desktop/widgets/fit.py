"""Labels that never dictate a screen's minimum width (long paths and class names).

A QLabel asks for the width of its whole text (or, word-wrapped, of its longest word: a path has
no spaces), so one long file name could force the window wider than the screen. `ElidedLabel`
shows one line, elided with "…" when it does not fit (the full text in the tooltip);
`wrapping()` makes a word-wrapped label content with a small minimum width.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QTextDocument
from PySide6.QtWidgets import QLabel, QWidget

MIN_LABEL_PX = 60  # the least width a shrinkable label asks for


class ElidedLabel(QLabel):
    """A one-line label (plain or rich text) that elides instead of asking for its full width.

    `text()` stays the full text; when it does not fit, the plain text is drawn elided and the
    tooltip carries all of it.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None, *,
                 mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight, min_width: int = MIN_LABEL_PX) -> None:
        super().__init__(parent)
        self._mode = mode
        self._min_width = min_width
        self._plain = ""
        self._own_tip = ""
        self.setWordWrap(False)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        fmt = self.textFormat()
        if fmt == Qt.TextFormat.RichText or (fmt == Qt.TextFormat.AutoText and "<" in text):
            doc = QTextDocument()
            doc.setHtml(text)
            self._plain = doc.toPlainText().replace("\n", " ")
        else:
            self._plain = text
        self._update_tip()

    def is_elided(self) -> bool:
        return super().sizeHint().width() > self.width()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self._min_width), hint.height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._update_tip()

    def _update_tip(self) -> None:
        tip = self._plain if self._plain and self.is_elided() else ""
        if tip != self._own_tip:
            self._own_tip = tip
            self.setToolTip(tip)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        if not self.is_elided():
            super().paintEvent(event)
            return
        rect = self.contentsRect()
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        shown = self.fontMetrics().elidedText(self._plain, self._mode, rect.width())
        painter.drawText(rect, int(self.alignment() | Qt.AlignmentFlag.AlignVCenter), shown)
        painter.end()


def wrapping(label: QLabel, min_width: int = MIN_LABEL_PX) -> QLabel:
    """Word-wrap `label` and let it shrink to `min_width` (a word longer than that is clipped)."""
    label.setWordWrap(True)
    label.setMinimumWidth(min_width)
    return label


def fit_to_screen(widget: QWidget, width: int, height: int, margin: int = 40) -> None:
    """Resize a window to `width` x `height`, or less where its screen is smaller (a 1024 x 700
    laptop screen must show the whole dialog, its buttons included)."""
    from PySide6.QtGui import QGuiApplication

    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        widget.resize(width, height)
        return
    avail = screen.availableGeometry()
    widget.resize(min(width, avail.width() - margin), min(height, avail.height() - margin))
