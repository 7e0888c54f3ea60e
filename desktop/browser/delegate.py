"""Paints one grid tile: thumbnail (or placeholder), status badge, class + score, file name."""

from __future__ import annotations

import collections

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from db import ImageRow
from desktop import style
from desktop.browser.model import ClassNameRole, RowRole, ThumbErrorRole, ThumbRole, Tile

PAD = 6
TEXT_H = 38
TILE_CACHE = 400  # rendered tiles kept (~400 × 172×214×4 B ≈ 60 MB at most)


def _tile_from_roles(index: QModelIndex | QPersistentModelIndex) -> Tile:
    """For models other than ImageGridModel: the same facts through item roles."""
    return Tile(index.data(RowRole), index.data(ThumbRole), index.data(ThumbErrorRole), index.data(ClassNameRole))

# badge text per state (decided states use the review status name)
BADGE_TEXT: dict[str, str] = {
    "unreviewed": "new",
    "predicted": "predicted",
    "accepted": "accepted",
    "corrected": "corrected",
    "rejected": "rejected",
    "uncertain": "uncertain",
    "confirmed_negative": "negative",
    "error": "unreadable",
    "missing": "missing",
}


def tile_state(row: ImageRow) -> str:
    """What the badge says: file problem > human decision > prediction > nothing yet."""
    if row.status != "ok":
        return row.status if row.status in BADGE_TEXT else "error"
    if row.review_status != "unreviewed":
        return row.review_status
    return "predicted" if row.pred_class_id is not None else "unreviewed"


class TileDelegate(QStyledItemDelegate):
    def __init__(self, px: int = 160, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.px = px
        self._small = QFont()
        self._small.setPointSizeF(8.0)
        self._bold = QFont()
        self._bold.setBold(True)
        self._cache: collections.OrderedDict[tuple, QPixmap] = collections.OrderedDict()

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:  # noqa: N802
        return QSize(self.px + 2 * PAD, self.px + 2 * PAD + TEXT_H)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        """Tiles are rendered once into a pixmap and reused while nothing about them changes, so a
        scroll step repaints only the newly exposed row in Python; the rest is one blit each."""
        model = index.model()
        tile = model.tile(index.row()) if hasattr(model, "tile") else _tile_from_roles(index)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        size = option.rect.size()
        if tile.row is None:
            p.save()
            self._draw(p, QRect(0, 0, size.width(), size.height()).translated(option.rect.topLeft()), tile, selected)
            p.restore()
            return
        key = (tile.row, tile.thumb is not None, tile.error, tile.class_name, selected, size.width(), size.height())
        pm = self._cache.get(key)
        if pm is None:
            dpr = p.device().devicePixelRatioF() if p.device() is not None else 1.0
            pm = QPixmap(int(size.width() * dpr), int(size.height() * dpr))
            pm.setDevicePixelRatio(dpr)
            pm.fill(Qt.GlobalColor.transparent)
            q = QPainter(pm)
            self._draw(q, QRect(0, 0, size.width(), size.height()), tile, selected)
            q.end()
            self._cache[key] = pm
            while len(self._cache) > TILE_CACHE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        p.drawPixmap(option.rect.topLeft(), pm)

    def _draw(self, p: QPainter, rect: QRect, tile: Tile, selected: bool) -> None:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        r = QRectF(rect).adjusted(2, 2, -2, -2)
        p.setPen(QPen(QColor(style.ACCENT if selected else style.BORDER), 2 if selected else 1))
        p.setBrush(QColor("#e9f0fd" if selected else style.BASE))
        p.drawRoundedRect(r, 6, 6)

        row = tile.row
        thumb_rect = QRect(rect.x() + PAD, rect.y() + PAD, self.px, self.px)
        if row is None:
            p.fillRect(thumb_rect, QColor("#eef0f4"))
            return
        pm = tile.thumb
        if pm is not None:
            x = thumb_rect.x() + (self.px - pm.width()) // 2
            y = thumb_rect.y() + (self.px - pm.height()) // 2
            p.drawPixmap(x, y, pm)
        else:
            err = tile.error
            p.fillRect(thumb_rect, QColor("#fdecec" if err else "#eef0f4"))
            p.setPen(QColor(style.STATUS_COLORS["error"] if err else style.MUTED))
            p.setFont(self._small)
            text = f"⚠ {err}" if err else "…"
            p.drawText(thumb_rect.adjusted(6, 6, -6, -6), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, text)

        self._badge(p, thumb_rect, tile_state(row))
        if row.imported_class_id is not None and row.current_class_id not in (None, row.imported_class_id):
            self._disagree_mark(p, thumb_rect)

        # line 1: class (decided or predicted) and score; line 2: file name
        text_x = rect.x() + PAD
        text_w = self.px
        y1 = thumb_rect.bottom() + 4
        cls = tile.class_name
        p.setFont(self._bold)
        fm = QFontMetrics(self._bold)
        score = f"{row.pred_score:.2f}" if row.pred_score is not None and row.review_status == "unreviewed" else ""
        score_w = QFontMetrics(self._small).horizontalAdvance(score) + 4 if score else 0
        rejected = row.review_status in ("rejected", "confirmed_negative") and row.label_class_id is None
        p.setPen(QColor(style.STATUS_COLORS["rejected"] if rejected else (style.TEXT if cls else style.MUTED)))
        line1 = f"not {cls}" if rejected and cls else (cls or ("no prediction" if row.status == "ok" else ""))
        p.drawText(
            QRect(text_x, y1, text_w - score_w, fm.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            fm.elidedText(line1, Qt.TextElideMode.ElideRight, text_w - score_w),
        )
        if score:
            p.setFont(self._small)
            p.setPen(QColor(style.MUTED))
            p.drawText(QRect(text_x, y1, text_w, fm.height()), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, score)
        p.setFont(self._small)
        sfm = QFontMetrics(self._small)
        p.setPen(QColor(style.MUTED))
        name = row.rel_path.rsplit("/", 1)[-1]
        p.drawText(
            QRect(text_x, y1 + fm.height() + 1, text_w, sfm.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            sfm.elidedText(name, Qt.TextElideMode.ElideMiddle, text_w),
        )

    def _badge(self, p: QPainter, thumb: QRect, state: str) -> None:
        text = BADGE_TEXT.get(state, state)
        p.setFont(self._small)
        fm = QFontMetrics(self._small)
        w = fm.horizontalAdvance(text) + 10
        h = fm.height() + 2
        rect = QRectF(thumb.x() + 4, thumb.y() + 4, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(style.STATUS_COLORS.get(state, style.MUTED)))
        p.drawRoundedRect(rect, h / 2, h / 2)
        p.setPen(QColor("white"))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _disagree_mark(self, p: QPainter, thumb: QRect) -> None:
        """An orange '≠' where the imported label differs from the current one."""
        p.setFont(self._bold)
        rect = QRectF(thumb.right() - 22, thumb.y() + 4, 18, 18)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(style.STATUS_COLORS["corrected"]))
        p.drawEllipse(rect)
        p.setPen(QColor("white"))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, "≠")
