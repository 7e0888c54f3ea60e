"""The image with where each attribute is drawn on it, readable at a glance.

Reusable (Review and Audit). API:

* `set_image(QImage | None, original_size)`, `set_message(text)`;
* `set_evidence(ev: ClassEvidence | None)`: all attributes that are present (found or weak), each
  as one contour (cells at or above half its map's peak) and a numbered peak marker;
* `show_attribute(attr: AttributeEvidence | None)`: one attribute alone, with its map as a heat
  layer, its contour and peak (None: back to all);
* `set_mode("contours" | "heatmap")`: in heat-map mode all present attributes are blended (each
  cell takes the colour of the attribute strongest there);
* `set_overlay_visible(bool)` / `toggle_overlay()`, `fit()`; wheel zooms, double-click fits.

Maps (`AttributeMap.values`, rows x cols over the whole image, row 0 at the top) are scaled to the
image's pixels. Explanations of old runs have no map: their strongest region boxes are drawn
instead (at most three per attribute, never the 90 crops).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBitmap,
    QBrush,
    QColor,
    QImage,
    QImageReader,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QRegion,
    QTransform,
)
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from desktop.widgets.palette import attribute_colour
from engine.evidence import AttributeEvidence, ClassEvidence

MAX_DISPLAY_SIDE = 2048  # big photos are decoded at most this large (maps are scaled to it)
MAP_SIDE = 64  # maps are upsampled (bilinear) to about this many cells on the long side
CONTOUR_LEVEL = 0.7  # the contour encloses cells at or above this fraction of the map's peak (0.5 drew half the image)
HEAT_FLOOR = 0.3  # heat-layer cells below this fraction of the peak stay clear
FALLBACK_BOXES = 3  # old runs without maps: strongest region boxes drawn per attribute
MODES = ("contours", "heatmap")


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


def upsample(values: np.ndarray, side: int = MAP_SIDE) -> np.ndarray:
    """Bilinear resize of a small map so its long side has about `side` cells (cell centres kept)."""
    v = np.asarray(values, dtype=np.float32)
    rows, cols = v.shape
    if rows == 0 or cols == 0:
        return np.zeros((1, 1), np.float32)
    scale = max(1.0, side / max(rows, cols))
    out_r, out_c = max(1, round(rows * scale)), max(1, round(cols * scale))
    ry = np.clip((np.arange(out_r) + 0.5) / scale - 0.5, 0, rows - 1)
    rx = np.clip((np.arange(out_c) + 0.5) / scale - 0.5, 0, cols - 1)
    tmp = np.stack([np.interp(rx, np.arange(cols), v[r]) for r in range(rows)])  # [rows, out_c]
    return np.stack([np.interp(ry, np.arange(rows), tmp[:, c]) for c in range(out_c)], axis=1).astype(np.float32)


def contour_path(values: np.ndarray, size: tuple[int, int], level: float = CONTOUR_LEVEL) -> QPainterPath:
    """Outline of the cells at or above `level` x the map's peak, in image pixels (W, H = size)."""
    up = upsample(values)
    peak = float(up.max()) if up.size else 0.0
    path = QPainterPath()
    if peak <= 0:
        return path
    mask = up >= level * peak
    rows, cols = mask.shape
    # QBitmap: 1-bits (black) are inside the region
    grey = np.ascontiguousarray(np.where(mask, 0, 255).astype(np.uint8))
    image = QImage(grey.data, cols, rows, cols, QImage.Format.Format_Grayscale8).copy()
    path.addRegion(QRegion(QBitmap.fromImage(image)))
    path = path.simplified()
    return QTransform.fromScale(size[0] / cols, size[1] / rows).map(path)


def heat_layer(maps: list[tuple[np.ndarray, QColor]], max_alpha: int = 150) -> QImage | None:
    """One RGBA image from (values, colour) pairs: each cell takes the colour of the strongest map
    there, with alpha from its value. All maps are brought to the first one's upsampled shape."""
    if not maps:
        return None
    base = upsample(maps[0][0])
    rows, cols = base.shape
    stack = [base] + [_resize_nearest(upsample(v), rows, cols) for v, _ in maps[1:]]
    arr = np.stack(stack)  # [A, rows, cols]
    peaks = arr.reshape(len(stack), -1).max(axis=1)
    arr = arr / np.where(peaks > 0, peaks, 1.0)[:, None, None]  # each map relative to its own peak
    top = arr.argmax(axis=0)
    val = arr.max(axis=0)
    colours = np.asarray([[c.red(), c.green(), c.blue()] for _, c in maps], dtype=np.uint8)
    rgba = np.zeros((rows, cols, 4), np.uint8)
    rgba[..., :3] = colours[top]
    # the faint floor of a map is not evidence: only the part above HEAT_FLOOR x its peak tints
    rgba[..., 3] = np.clip((val - HEAT_FLOOR) / (1.0 - HEAT_FLOOR) * max_alpha, 0, 255).astype(np.uint8)
    rgba = np.ascontiguousarray(rgba)
    return QImage(rgba.data, cols, rows, cols * 4, QImage.Format.Format_RGBA8888).copy()


def _resize_nearest(v: np.ndarray, rows: int, cols: int) -> np.ndarray:
    if v.shape == (rows, cols):
        return v
    ri = np.minimum((np.arange(rows) * v.shape[0] / rows).astype(int), v.shape[0] - 1)
    ci = np.minimum((np.arange(cols) * v.shape[1] / cols).astype(int), v.shape[1] - 1)
    return v[np.ix_(ri, ci)]


def shown_attributes(ev: ClassEvidence) -> list[AttributeEvidence]:
    """What "all together" draws: the attributes judged present (found or weak), support first."""
    return [a for a in ev.attributes if a.presence is None or a.presence.label != "not found"]


class EvidenceOverlay(QGraphicsView):
    """Zoomable image view with the localised evidence on top (see the module docstring)."""

    overlay_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QBrush(QColor("#202124")))
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # keys belong to the screen
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
        self._message.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.scene().addItem(self._message)
        self._note = QGraphicsSimpleTextItem()  # "nothing found" under the evidence
        self._note.setBrush(QBrush(QColor("#fdd663")))
        self._note.setZValue(10)
        self._note.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.scene().addItem(self._note)
        self._items: list[QGraphicsItem] = []
        self._evidence: ClassEvidence | None = None
        self._attribute: AttributeEvidence | None = None
        self._colours: dict[int, QColor] = {}
        self._size = (0, 0)
        self._mode = "contours"
        self._visible = True
        self._fit = True

    # -- state -----------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self._mode

    @property
    def evidence(self) -> ClassEvidence | None:
        return self._evidence

    @property
    def attribute(self) -> AttributeEvidence | None:
        return self._attribute

    @property
    def overlay_visible(self) -> bool:
        return self._visible

    def overlay_items(self) -> list[QGraphicsItem]:
        """Contours, peak markers and fallback boxes now drawn (tests, inspection)."""
        return list(self._items)

    def heat_image(self) -> QImage:
        return self._heat.pixmap().toImage()

    # -- API -------------------------------------------------------------------------------------
    def set_image(self, image: QImage | None, original_size: tuple[int, int] | None = None) -> None:
        """Show `image`; `original_size` (W, H) is the pixel space of maps and boxes."""
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
        self._message.setText(text)
        self._message.setPos(8, 8)

    def set_evidence(self, ev: ClassEvidence | None) -> None:
        self._evidence = ev
        self._colours = {a.index: attribute_colour(pos) for pos, a in enumerate(ev.attributes)} if ev else {}
        if ev is not None and self._size == (0, 0) and ev.image_size[0] > 0:
            self._size = ev.image_size
            self._refresh_scene_rect()
        if self._attribute is not None and (ev is None or all(a.index != self._attribute.index for a in ev.attributes)):
            self._attribute = None
        elif self._attribute is not None and ev is not None:
            self._attribute = next(a for a in ev.attributes if a.index == self._attribute.index)
        self._redraw()

    def show_attribute(self, attr: AttributeEvidence | None, colour: QColor | None = None) -> None:
        """One attribute alone (None: all); `colour` for attributes of another class (contrast)."""
        self._attribute = attr
        if attr is not None and colour is not None:
            self._colours = dict(self._colours)
            self._colours.setdefault(attr.index, colour)
        self._redraw()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown overlay mode {mode!r}; known: {', '.join(MODES)}")
        self._mode = mode
        self._redraw()

    def set_overlay_visible(self, visible: bool) -> None:
        self._visible = visible
        self._redraw()
        self.overlay_toggled.emit(visible)

    def toggle_overlay(self) -> None:
        self.set_overlay_visible(not self._visible)

    # -- drawing ---------------------------------------------------------------------------------
    def _clear(self) -> None:
        for item in self._items:
            self.scene().removeItem(item)
        self._items = []
        self._heat.setPixmap(QPixmap())

    def note(self) -> str:
        return self._note.text()

    def _redraw(self) -> None:
        self._clear()
        self._note.setText("")
        ev = self._evidence
        if not self._visible or (ev is None and self._attribute is None):
            return
        w, h = self._size if self._size[0] else (ev.image_size if ev else (0, 0))
        if w <= 0 or h <= 0:
            return
        sx, sy = self._box_scale(ev)
        if self._attribute is not None:
            attrs = [self._attribute]
        else:
            attrs = shown_attributes(ev) if ev is not None else []
            if ev is not None and not attrs:
                self._note.setText(f"none of the attributes of {ev.class_name} was found in this image")
                self._note.setPos(8, max(h, 1) - 8)
        with_map = [a for a in attrs if a.map is not None]
        if self._attribute is not None or self._mode == "heatmap":
            layer = heat_layer([(a.map.values, self._colour(a)) for a in with_map])  # type: ignore[union-attr]
            if layer is not None:
                self._heat.setPixmap(QPixmap.fromImage(layer))
                self._heat.setTransform(QTransform.fromScale(w / layer.width(), h / layer.height()))
        for rank, a in enumerate(attrs, start=1):
            colour = self._colour(a)
            if a.map is not None:
                if self._mode == "contours" or self._attribute is not None:
                    self._add_contour(a, colour, (w, h))
                self._add_peak(QPointF(a.map.peak[0] * sx, a.map.peak[1] * sy), colour, rank, a)
            else:
                self._add_boxes(a, colour, sx, sy, rank)

    def _colour(self, a: AttributeEvidence) -> QColor:
        return self._colours.get(a.index, attribute_colour(a.index))

    def _add_contour(self, a: AttributeEvidence, colour: QColor, size: tuple[int, int]) -> None:
        assert a.map is not None
        path = contour_path(a.map.values, size)
        if path.isEmpty():
            return
        item = QGraphicsPathItem(path)
        pen = QPen(colour, 2.5)
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setZValue(3)
        item.setToolTip(a.text)
        self.scene().addItem(item)
        self._items.append(item)

    def _add_peak(self, at: QPointF, colour: QColor, rank: int, a: AttributeEvidence) -> None:
        r = max(self._size) / 45 if self._size[0] else 6
        ring = QGraphicsEllipseItem(QRectF(at.x() - r, at.y() - r, 2 * r, 2 * r))
        pen = QPen(QColor("#ffffff"), 2.0)
        pen.setCosmetic(True)
        ring.setPen(pen)
        ring.setBrush(QBrush(colour))
        ring.setZValue(5)
        ring.setToolTip(a.text)
        label = QGraphicsSimpleTextItem(str(rank), ring)
        label.setBrush(QBrush(QColor("#000000")))
        label.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        label.setPos(at.x() - r * 0.35, at.y() - r * 0.8)
        self.scene().addItem(ring)
        self._items.append(ring)

    def _add_boxes(self, a: AttributeEvidence, colour: QColor, sx: float, sy: float, rank: int) -> None:
        strongest = sorted(a.regions, key=lambda reg: -reg.mass)[:FALLBACK_BOXES]
        for k, reg in enumerate(strongest):
            x0, y0, x1, y1 = reg.box
            item = QGraphicsRectItem(QRectF(x0 * sx, y0 * sy, (x1 - x0) * sx, (y1 - y0) * sy))
            pen = QPen(colour, 2.5 if k == 0 else 1.2)
            pen.setCosmetic(True)
            item.setPen(pen)
            item.setZValue(2)
            item.setToolTip(f"{a.text}\n(no localisation map in this run: strongest regions)")
            self.scene().addItem(item)
            self._items.append(item)
        if strongest:
            x0, y0, x1, y1 = strongest[0].box
            self._add_peak(QPointF((x0 + x1) / 2 * sx, (y0 + y1) / 2 * sy), colour, rank, a)

    def _box_scale(self, ev: ClassEvidence | None) -> tuple[float, float]:
        """Peaks and boxes are in the explanation's pixel space; the scene is the displayed original's."""
        if ev is None:
            return 1.0, 1.0
        ew, eh = ev.image_size
        w, h = self._size
        if ew <= 0 or eh <= 0 or w <= 0 or h <= 0:
            return 1.0, 1.0
        return w / ew, h / eh

    # -- zoom ------------------------------------------------------------------------------------
    def _refresh_scene_rect(self) -> None:
        w, h = self._size
        self.scene().setSceneRect(QRectF(0, 0, max(w, 1), max(h, 1)))

    def fit(self) -> None:
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
