"""The evidence list: per attribute a presence marker, its full text and its share of the score.

Reusable (Review and Audit). API:

* `EvidenceList.set_evidence(ev: engine.evidence.ClassEvidence | None)`: show a class's evidence.
  Attributes that count for the class come first (largest share first, with a share bar); those
  not found are listed apart under "Against" with their signed contribution; the
  one-line `SHARE_RULE` is the caption.
* signal `attribute_selected(object)`: the `AttributeEvidence` clicked (None: show all again).
* `select(index: int | None)`: select the row of the attribute with this `index`.

When the evidence comes from a learning run (issue #17), each attribute carries its learned
`weight` (absent: zero-shot, i.e. 1); the row then shows it beside the share as "×1.40" (red when
the weight is negative: the attribute then counts against the class when found), and the title says
the scores use learned weights.

Presence is shown by shape *and* word *and* colour (✔ found, ◐ weak, ✕ not found), never by
colour alone. Texts wrap, so nothing is cut off; the tooltip repeats the numbers.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from desktop.widgets.fit import ElidedLabel, wrapping
from desktop.widgets.palette import attribute_colour
from engine.evidence import SHARE_RULE, AttributeEvidence, ClassEvidence

# presence label -> (marker, colour); the word is always shown beside the marker
PRESENCE_STYLE: dict[str, tuple[str, str]] = {
    "found": ("✔", "#188038"),
    "weak": ("◐", "#b06000"),
    "not found": ("✕", "#9aa0a6"),
}
UNKNOWN_PRESENCE = ("?", "#9aa0a6")


def presence_text(attr: AttributeEvidence) -> str:
    """'✔ found' / '◐ weak' / '✕ not found' (with '~' when not calibrated on the project)."""
    if attr.presence is None:
        return f"{UNKNOWN_PRESENCE[0]} unknown"
    marker = PRESENCE_STYLE.get(attr.presence.label, UNKNOWN_PRESENCE)[0]
    return f"{marker} {attr.presence.label}" + ("" if attr.presence.calibrated else " ~")


def attribute_tooltip(attr: AttributeEvidence) -> str:
    parts = [attr.text]
    if attr.presence is not None:
        cal = "" if attr.presence.calibrated else " (within this image: no project calibration yet)"
        parts.append(f"presence {attr.presence.label}: {attr.presence.score:+.2f} spreads above usual{cal}")
    parts.append(f"share {attr.share:.0%} · contribution {attr.contribution:+.4f} · transport mass {attr.mass:.3f}")
    w = learned_weight(attr)
    if w is not None:
        parts.append(f"learned weight {w:.2f} (zero-shot 1): the contribution is the weight times the "
                     "zero-shot one" + ("; a negative weight turns a found attribute against the class" if w < 0 else ""))
    if attr.map is not None:
        parts.append(f"peak at ({attr.map.peak[0]:.0f}, {attr.map.peak[1]:.0f}) px")
    return "\n".join(parts)


def learned_weight(attr: AttributeEvidence) -> float | None:
    """The attribute's learned weight, or None for zero-shot evidence."""
    w = getattr(attr, "weight", None)
    return None if w is None else float(w)


def weight_text(w: float) -> str:
    return f"×{w:.2f}"


class ShareBar(QWidget):
    """A small horizontal bar for a share in [0, 1], with the percentage written beside it."""

    def __init__(self, share: float, colour: QColor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.share = max(0.0, min(1.0, share))
        self.colour = colour
        self.setFixedSize(86, 16)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(86, 16)

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        bar_w = 46
        p.fillRect(QRectF(0, 4, bar_w, 8), QColor("#e8eaed"))
        p.fillRect(QRectF(0, 4, bar_w * self.share, 8), self.colour)
        p.setPen(self.palette().text().color())
        p.drawText(QRectF(bar_w + 4, 0, 40, 16), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   f"{self.share:.0%}")
        p.end()


class AttributeRow(QFrame):
    """One attribute: marker + word, colour swatch, wrapped text, share bar or signed contribution."""

    clicked = Signal(object)

    def __init__(self, attr: AttributeEvidence, colour: QColor, against: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.attr = attr
        self.setObjectName("evidenceRow")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(attribute_tooltip(attr))
        marker_colour = PRESENCE_STYLE.get(attr.presence.label if attr.presence else "", UNKNOWN_PRESENCE)[1]
        self.marker = QLabel(presence_text(attr))
        self.marker.setStyleSheet(f"color: {marker_colour}; font-weight: 600;")
        swatch = QLabel()
        swatch.setFixedSize(10, 10)
        swatch.setStyleSheet(f"background: {colour.name()}; border-radius: 5px;")
        self.text = QLabel(attr.text)  # a line of its own: wraps at any panel width, never cut
        self.text.setWordWrap(True)
        self.text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(6)
        top.addWidget(swatch)
        top.addWidget(self.marker)
        top.addStretch(1)
        if against:
            value = QLabel(f"{attr.contribution:+.3f}")
            value.setToolTip("signed contribution: below this attribute's usual level in the project's images")
            value.setStyleSheet("color: #d93025;")
            top.addWidget(value)
        else:
            top.addWidget(ShareBar(attr.share, colour))
        w = learned_weight(attr)
        self.weight: QLabel | None = None
        if w is not None:
            self.weight = QLabel(weight_text(w))
            self.weight.setObjectName("learnedWeight")
            self.weight.setToolTip(f"learned weight {w:.2f} (zero-shot: 1)")
            self.weight.setStyleSheet("color: %s; font-weight: 600;" % ("#d93025" if w < 0 else "#1a73e8"))
            top.addWidget(self.weight)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 3)
        lay.setSpacing(0)
        lay.addLayout(top)
        lay.addWidget(self.text)
        self.set_selected(False)

    def set_selected(self, on: bool) -> None:
        self.selected = on
        self.setStyleSheet("#evidenceRow { background: %s; border-radius: 4px; }" % ("#d2e3fc" if on else "transparent"))

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.attr)
        super().mousePressEvent(event)


def row_area() -> tuple[QScrollArea, QWidget, QVBoxLayout]:
    """A frameless, vertically scrolling column of rows: (the scroll area, its body, the body's layout)."""
    body = QWidget()
    lay = QVBoxLayout(body)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(1)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(body)
    return scroll, body, lay


def _heading(text: str) -> QLabel:
    label = wrapping(QLabel(text))  # a long class name wraps, never widens the window
    label.setObjectName("muted")
    return label


class EvidenceList(QWidget):
    """A class's evidence as rows (see the module docstring for the API)."""

    attribute_selected = Signal(object)  # AttributeEvidence | None

    def __init__(self, parent: QWidget | None = None, *, caption: bool = True) -> None:
        super().__init__(parent)
        self.evidence: ClassEvidence | None = None
        self.rows: list[AttributeRow] = []
        self.selected: AttributeEvidence | None = None
        self.title = wrapping(QLabel())
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.caption = ElidedLabel(SHARE_RULE)  # one line; the whole rule in its tooltip
        self.caption.setObjectName("muted")
        self.caption.setToolTip(SHARE_RULE)
        self.caption.setVisible(caption)
        scroll, self._body, self._body_lay = row_area()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(self.caption)
        lay.addWidget(scroll, 1)

    # -- API -------------------------------------------------------------------------------------
    def set_evidence(self, ev: ClassEvidence | None, *, message: str = "") -> None:
        """Show `ev` (None: an empty list with `message`); the selection is kept when the same
        attribute is still there."""
        self.evidence = ev
        keep = self.selected.index if self.selected is not None else None
        self.selected = None
        self._clear()
        if ev is None:
            self.title.setText(message or "no evidence")
            self._body_lay.addStretch(1)
            return
        uncal = any(a.presence is not None and not a.presence.calibrated for a in ev.attributes)
        note = ("~ = presence judged within this image (no project calibration yet). " if uncal else "")
        self.caption.setText(note + SHARE_RULE)
        main = ev.main_reason
        reason = f"main reason: <b>{main.text}</b>" if main is not None else "no attribute was found in this image"
        learned = any(learned_weight(a) is not None for a in ev.attributes)
        self.title.setText(f"<b>{ev.class_name}</b> · score {ev.score:.4f}"
                           + (" · <span style='color:#1a73e8'>learned weights (×w)</span>" if learned else "")
                           + f"<br>{reason}")
        colours = {a.index: attribute_colour(pos) for pos, a in enumerate(ev.attributes)}
        support = ev.support
        if support:
            self._body_lay.addWidget(_heading(f"Supports {ev.class_name}"))
        for a in support:
            self._add(AttributeRow(a, colours[a.index]))
        against = ev.against
        if against:
            self._body_lay.addWidget(_heading("Against: not found in this image"))
        for a in against:
            self._add(AttributeRow(a, colours[a.index], against=True))
        rest = [a for a in ev.attributes if a.share <= 0 and not a.against]
        if rest:
            self._body_lay.addWidget(_heading("No contribution"))
        for a in rest:
            self._add(AttributeRow(a, colours[a.index], against=True))
        self._body_lay.addStretch(1)
        if keep is not None:
            self.select(keep, emit=False)

    def select(self, index: int | None, *, emit: bool = True) -> None:
        """Select the row of the attribute with this `index` (None: no row, i.e. all attributes)."""
        self.selected = None
        for row in self.rows:
            on = index is not None and row.attr.index == index
            row.set_selected(on)
            if on:
                self.selected = row.attr
        if emit:
            self.attribute_selected.emit(self.selected)

    def row_texts(self) -> list[str]:
        return [r.attr.text for r in self.rows]

    # -- internals -------------------------------------------------------------------------------
    def _add(self, row: AttributeRow) -> None:
        row.clicked.connect(self._clicked)
        self.rows.append(row)
        self._body_lay.addWidget(row)

    def _clicked(self, attr: AttributeEvidence) -> None:
        same = self.selected is not None and self.selected.index == attr.index
        self.select(None if same else attr.index)

    def _clear(self) -> None:
        self.rows = []
        while self._body_lay.count():
            item = self._body_lay.takeAt(0)
            w = item.widget()
            if w is not None:
                w.hide()
                w.deleteLater()
