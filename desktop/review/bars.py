"""Attribute lists with share bars: the overlay's legend and the columns of the comparison."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from desktop.review.evidence import Evidence
from desktop.widgets.palette import attribute_colour

BAR_ROLE = Qt.ItemDataRole.UserRole + 1  # fraction of the column's full bar
POS_ROLE = Qt.ItemDataRole.UserRole + 2  # attribute position in its class's list


@dataclass(frozen=True)
class BarRow:
    position: int
    text: str
    value: float  # what the bar's length shows
    label: str  # what is printed on the bar
    tooltip: str = ""


def swatch(colour: QColor, side: int = 12) -> QIcon:
    pix = QPixmap(side, side)
    pix.fill(colour)
    return QIcon(pix)


BAR_SIZE = QSize(90, 12)


def bar_icon(fraction: float, colour: QColor, size: QSize = BAR_SIZE) -> QIcon:
    """A horizontal bar `fraction` long on a faint track (drawn once per row, no delegate)."""
    pix = QPixmap(size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    track = QColor(colour)
    track.setAlpha(40)
    p.fillRect(0, 0, size.width(), size.height(), track)
    fill = QColor(colour)
    fill.setAlpha(220)
    p.fillRect(0, 0, int(round(size.width() * max(0.0, min(1.0, fraction)))), size.height(), fill)
    p.end()
    return QIcon(pix)


class ShareBars(QTreeWidget):
    """Rows of (colour swatch, attribute text, bar). Clicking a row toggles `attribute_clicked`."""

    attribute_clicked = Signal(object)  # position (int) or None when the highlight is cleared

    def __init__(self, parent: QWidget | None = None, *, bar_header: str = "share") -> None:
        super().__init__(parent)
        self.setColumnCount(2)
        self.setHeaderLabels(["attribute", bar_header])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setIconSize(BAR_SIZE)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Fixed)
        self.header().resizeSection(1, BAR_SIZE.width() + 100)
        self.header().setStretchLastSection(False)
        self.itemClicked.connect(self._clicked)
        self._selected: int | None = None

    def set_rows(self, rows: list[BarRow], full_scale: float | None = None) -> None:
        """Show rows; bars are `value / full_scale` long (default: the largest value)."""
        self.clear()
        self._selected = None
        scale = full_scale if full_scale and full_scale > 0 else max((r.value for r in rows), default=0.0)
        for row in rows:
            colour = attribute_colour(row.position)
            fraction = row.value / scale if scale > 0 else 0.0
            item = QTreeWidgetItem([row.text, row.label])
            item.setIcon(0, swatch(colour))
            item.setIcon(1, bar_icon(fraction, colour))
            item.setData(0, POS_ROLE, row.position)
            item.setData(1, BAR_ROLE, fraction)
            item.setToolTip(0, row.tooltip or row.text)
            item.setToolTip(1, row.tooltip or row.label)
            self.addTopLevelItem(item)

    def positions(self) -> list[int]:
        return [self.topLevelItem(i).data(0, POS_ROLE) for i in range(self.topLevelItemCount())]

    def texts(self) -> list[str]:
        return [self.topLevelItem(i).text(0) for i in range(self.topLevelItemCount())]

    def click_position(self, position: int | None) -> None:
        """Select (or with None clear) a row as a click would."""
        for i in range(self.topLevelItemCount()):
            item = self.topLevelItem(i)
            if item.data(0, POS_ROLE) == position:
                self._clicked(item)
                return
        self._selected = None
        self.clearSelection()
        self.attribute_clicked.emit(None)

    def _clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        pos = item.data(0, POS_ROLE)
        if pos == self._selected:  # a second click on the same attribute shows all again
            self._selected = None
            self.clearSelection()
        else:
            self._selected = pos
            self.setCurrentItem(item)
        self.attribute_clicked.emit(self._selected)


def share_rows(ev: Evidence) -> list[BarRow]:
    """Legend rows: every attribute in list order, bar = its share of the class score."""
    return [
        BarRow(
            position=pos,
            text=a.text or "(no attribute)",
            value=a.share,
            label=f"{a.share:.0%}",
            tooltip=f"{a.text}\nshare {a.share:.1%} · transported mass {a.mass:.3f} · "
            f"similarity {a.similarity:.3f} · {len(a.regions)} region(s)",
        )
        for pos, a in enumerate(ev.attributes)
    ]


def contribution_rows(ev: Evidence) -> list[BarRow]:
    """Comparison rows: attributes by contribution to the score (share × score), largest first."""
    rows = [
        BarRow(
            position=pos,
            text=a.text or "(no attribute)",
            value=a.share * ev.score,
            label=f"{a.share * ev.score:.3f} · {a.share:.0%}",
            tooltip=f"{a.text}\ncontributes {a.share * ev.score:.4f} of {ev.score:.4f}",
        )
        for pos, a in enumerate(ev.attributes)
    ]
    return sorted(rows, key=lambda r: -r.value)
