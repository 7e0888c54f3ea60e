"""The image with its evidence drawn on top: region boxes or a heat map, coloured per attribute.

Scene coordinates are the original image's pixels, the space the engine's boxes live in, so a
pixmap loaded smaller (or EXIF-rotated) is scaled into that space rather than the boxes moved.
Reused by the review and audit screens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QImageReader, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from desktop.review.evidence import Evidence, heat_maps, heat_rgba
from desktop.widgets.palette import attribute_colour, colour_array

MAX_DISPLAY_SIDE = 2048  # big photos are decoded at most this large (the boxes are rescaled)
HEAT_SIDE = 256  # heat maps are accumulated at this resolution and smoothed by scaling
# boxes drawn per attribute, strongest first: past a dozen overlapping squares the picture stops
# saying anything (and 90 crops x 6 attributes cost ~0.5 s to paint); the heat map shows them all
MAX_BOXES_PER_ATTRIBUTE = 12
REGION_ROLE = 0  # QGraphicsItem.data key holding the attribute position of a region box


def load_image(path: str, max_side: int = MAX_DISPLAY_SIDE) -> QImage:
    """Decode with EXIF orientation applied, downscaled while decoding when huge."""
    reader = QImageReader(path)
    reader.setAutoTransform(True)
    size = reader.size()
    if size.isValid() and max(size.width(), size.height()) > max_side:
        size.scale(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio)
        reader.setScaledSize(size)
    image = reader.read()
    if image.isNull():
        raise OSError(f"cannot read image {path}: {reader.errorString()}")
    return image


class ExplanationOverlay(QGraphicsView):
    """Zoomable image view with a per-attribute evidence overlay.

    Wheel zooms around the cursor, double-click fits; `highlight(pos)` shows only one
    attribute's regions; `set_overlay_visible(False)` shows the bare photo.
    """

    overlay_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QBrush(QColor("#202124")))
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the review controller
        self._photo = QGraphicsPixmapItem()
        self._photo.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._photo)
        self._heat = QGraphicsPixmapItem()
        self._heat.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._heat.setZValue(1)
        self.scene().addItem(self._heat)
        self._message = QGraphicsSimpleTextItem()
        self._message.setBrush(QBrush(QColor("#e8eaed")))
        self._message.setZValue(10)
        self.scene().addItem(self._message)
        self._regions: list[QGraphicsRectItem] = []
        self._evidence: Evidence | None = None
        self._size = (0, 0)
        self._mode = "boxes"
        self._highlight: int | None = None
        self._visible = True
        self._fit = True
        self._renderers: dict[str, Callable[[], None]] = {"boxes": self._draw_boxes, "heatmap": self._draw_heat}

    # -- content -----------------------------------------------------------------------------
    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(self._renderers)

    @property
    def mode(self) -> str:
        return self._mode

    @property
    def evidence(self) -> Evidence | None:
        return self._evidence

    @property
    def highlighted(self) -> int | None:
        return self._highlight

    @property
    def overlay_visible(self) -> bool:
        return self._visible

    def set_image(self, image: QImage | None, original_size: tuple[int, int] | None = None) -> None:
        """Show `image`; `original_size` (W, H) is the pixel space of the boxes (default: image's)."""
        if image is None or image.isNull():
            self._photo.setPixmap(QPixmap())
            self._size = original_size or (0, 0)
        else:
            pix = QPixmap.fromImage(image)
            w, h = original_size or (pix.width(), pix.height())
            self._photo.setPixmap(pix)
            self._photo.setScale(w / pix.width() if pix.width() else 1.0)
            self._size = (w, h)
        self._message.setText("")
        self._refresh_scene_rect()
        self._redraw()
        self.fit()

    def set_message(self, text: str) -> None:
        """A line of text over the view (missing image, no explanation stored...)."""
        self._message.setText(text)
        self._message.setPos(8, 8)
        self._message.setScale(max(1.0, max(self._size) / 600) if self._size[0] else 1.0)

    def set_evidence(self, evidence: Evidence | None) -> None:
        """Draw this class's evidence (or clear it); keeps the highlight if still valid."""
        self._evidence = evidence
        if evidence is not None and evidence.image_size[0] > 0 and self._photo.pixmap().isNull():
            self._size = evidence.image_size
            self._refresh_scene_rect()
        if self._highlight is not None and (evidence is None or self._highlight >= len(evidence.attributes)):
            self._highlight = None
        self._redraw()

    def set_mode(self, mode: str) -> None:
        if mode not in self._renderers:
            raise ValueError(f"unknown overlay mode {mode!r}; known: {', '.join(self._renderers)}")
        self._mode = mode
        self._redraw()

    def highlight(self, position: int | None) -> None:
        """Show only the regions of the attribute at `position` (None: all attributes)."""
        self._highlight = position
        self._redraw()

    def set_overlay_visible(self, visible: bool) -> None:
        self._visible = visible
        self._redraw()
        self.overlay_toggled.emit(visible)

    def toggle_overlay(self) -> None:
        self.set_overlay_visible(not self._visible)

    # -- inspection (tests, status bar) ------------------------------------------------------
    def region_items(self) -> list[QGraphicsRectItem]:
        return list(self._regions)

    def visible_region_items(self) -> list[QGraphicsRectItem]:
        return [r for r in self._regions if r.isVisible()]

    def heat_image(self) -> QImage:
        return self._heat.pixmap().toImage()

    # -- drawing -----------------------------------------------------------------------------
    def _clear_overlay(self) -> None:
        for item in self._regions:
            self.scene().removeItem(item)
        self._regions = []
        self._heat.setPixmap(QPixmap())

    def _redraw(self) -> None:
        self._clear_overlay()
        if self._evidence is None or not self._visible:
            return
        self._renderers[self._mode]()

    def _draw_boxes(self) -> None:
        ev = self._evidence
        assert ev is not None
        peak = ev.max_region_mass or 1.0
        sx, sy = self._box_scale(ev)
        for pos, attr in enumerate(ev.attributes):
            colour = attribute_colour(pos)
            strongest = sorted(attr.regions, key=lambda r: -r.mass)[:MAX_BOXES_PER_ATTRIBUTE]
            for reg in strongest:
                rel = max(0.0, min(1.0, reg.mass / peak))
                x0, y0, x1, y1 = reg.box
                item = QGraphicsRectItem(QRectF(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy))
                pen_colour = QColor(colour)
                pen_colour.setAlpha(int(70 + 185 * rel))
                pen = QPen(pen_colour, 1.0 + 3.0 * rel)
                pen.setCosmetic(True)
                item.setPen(pen)
                if self._highlight == pos:
                    fill = QColor(colour)
                    fill.setAlpha(int(25 + 60 * rel))
                    item.setBrush(QBrush(fill))
                item.setZValue(2 + rel)
                item.setData(REGION_ROLE, pos)
                item.setToolTip(f"{attr.text}\nmass {reg.mass:.3f} · similarity {reg.similarity:.3f}")
                item.setVisible(self._highlight is None or self._highlight == pos)
                self.scene().addItem(item)
                self._regions.append(item)

    def _draw_heat(self) -> None:
        ev = self._evidence
        assert ev is not None
        w, h = self._size if self._size[0] else ev.image_size
        if w <= 0 or h <= 0 or not ev.attributes:
            return
        scale = HEAT_SIDE / max(w, h)
        out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
        valid = ev.image_size[0] > 0 and ev.image_size[1] > 0
        sized = _rescaled(ev, (w, h)) if valid and ev.image_size != (w, h) else ev
        heat = heat_maps(sized, out_w, out_h, only=self._highlight)
        rgba = np.ascontiguousarray(heat_rgba(heat, colour_array(len(ev.attributes))))
        image = QImage(rgba.data, out_w, out_h, out_w * 4, QImage.Format.Format_RGBA8888).copy()
        self._heat.setPixmap(QPixmap.fromImage(image))
        self._heat.setScale(w / out_w)

    def _box_scale(self, ev: Evidence) -> tuple[float, float]:
        """Boxes are in the explanation's pixel space; the scene is the displayed original's."""
        ew, eh = ev.image_size
        w, h = self._size
        if ew <= 0 or eh <= 0 or w <= 0 or h <= 0:
            return 1.0, 1.0
        return w / ew, h / eh

    # -- zoom ----------------------------------------------------------------------------------
    def _refresh_scene_rect(self) -> None:
        w, h = self._size
        self.scene().setSceneRect(QRectF(0, 0, max(w, 1), max(h, 1)))

    def fit(self) -> None:
        """Fit the whole image in the view (and keep fitting on resize until the user zooms)."""
        self._fit = True
        self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)

    def zoom_by(self, factor: float) -> None:
        self._fit = False
        self.scale(factor, factor)

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.zoom_by(1.25 if event.angleDelta().y() > 0 else 0.8)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.fit()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self._fit:
            self.fit()


def _rescaled(ev: Evidence, size: tuple[int, int]) -> Evidence:
    """The same evidence with boxes mapped into another pixel space of the same picture."""
    sx, sy = size[0] / ev.image_size[0], size[1] / ev.image_size[1]
    attrs = tuple(
        replace(a, regions=tuple(
            replace(r, box=(r.box[0] * sx, r.box[1] * sy, r.box[2] * sx, r.box[3] * sy)) for r in a.regions
        ))
        for a in ev.attributes
    )
    return replace(ev, image_size=size, attributes=attrs)
