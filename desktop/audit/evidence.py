"""The Audit screen's evidence of one audited image, with Review's widgets (desktop/widgets).

Two `EvidenceList`s side by side, the model's (suggested) class and the given (imported) class, so
the curator sees what each label rests on; a `ContrastPanel` says why the model's class and not
the given one (the given class's attributes not found in the image, and what separates them); the
`EvidenceOverlay` draws the attributes of one of the two classes (the model's by default; clicking
an attribute of either class draws it alone).

Fed with `workflows.evidence.ImageEvidence` (shown: the model's class, other: the given class),
which the controller loads off the GUI thread.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.widgets.contrast import ContrastPanel
from desktop.widgets.evidence_list import EvidenceList
from desktop.widgets.evidence_overlay import EvidenceOverlay, load_image
from desktop.widgets.fit import ElidedLabel
from desktop.widgets.palette import attribute_colour
from engine.evidence import SHARE_RULE, AttributeEvidence, ClassEvidence

SUGGESTED, GIVEN = "suggested", "given"


def _of_class(found: Any, class_id: int | None) -> ClassEvidence | None:
    """The evidence of `class_id` among what was loaded (the shown class and the compared one)."""
    if found is None or class_id is None:
        return None
    return next((e for e in (found.shown, found.other) if e is not None and e.class_id == class_id), None)


class AuditEvidence(QWidget):
    """Image with the drawn evidence above; the two classes' evidence and the contrast in tabs."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.item: Any = None  # desktop.audit.model.AuditItem
        self.found: Any = None  # workflows.evidence.ImageEvidence
        self._path: Any = None

        self.overlay = EvidenceOverlay()
        self.drawn = QComboBox()
        self.drawn.addItem("model's class", SUGGESTED)
        self.drawn.addItem("given class", GIVEN)
        self.drawn.setToolTip("whose attributes are drawn on the image")
        self.drawn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.drawn.activated.connect(lambda _i: self.draw(self.drawn.currentData()))
        self.mode = QComboBox()
        self.mode.addItem("contours", "contours")
        self.mode.addItem("heat map", "heatmap")
        self.mode.setToolTip("a contour and peak per attribute, or a heat map (H)")
        self.mode.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.mode.currentIndexChanged.connect(lambda _i: self.overlay.set_mode(self.mode.currentData()))
        self.show_overlay = QCheckBox("overlay")
        self.show_overlay.setToolTip("show / hide the evidence on the image (Space)")
        self.show_overlay.setChecked(True)
        self.show_overlay.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.show_overlay.toggled.connect(self.overlay.set_overlay_visible)
        self.overlay.overlay_toggled.connect(self._sync_overlay_box)
        self.evidence_title = ElidedLabel()
        self.evidence_title.setTextFormat(Qt.TextFormat.RichText)
        bar = QHBoxLayout()
        bar.addWidget(self.evidence_title, 1)
        bar.addWidget(QLabel("draw"))
        bar.addWidget(self.drawn)
        bar.addWidget(self.mode)
        bar.addWidget(self.show_overlay)

        self.suggested = EvidenceList(caption=False)
        self.given = EvidenceList(caption=False)
        self.suggested.attribute_selected.connect(lambda a: self._list_attribute(SUGGESTED, a))
        self.given.attribute_selected.connect(lambda a: self._list_attribute(GIVEN, a))
        self.suggested_head = ElidedLabel("the model's class")
        self.given_head = ElidedLabel("the given label")
        self.caption = ElidedLabel(SHARE_RULE)
        self.caption.setObjectName("muted")
        self.caption.setToolTip(SHARE_RULE)
        pair = QWidget()
        grid = QHBoxLayout(pair)
        grid.setContentsMargins(4, 4, 4, 0)
        for head, lst in ((self.suggested_head, self.suggested), (self.given_head, self.given)):
            col = QVBoxLayout()
            head.setObjectName("muted")
            col.addWidget(head)
            col.addWidget(lst, 1)
            grid.addLayout(col, 1)
        both = QWidget()
        bl = QVBoxLayout(both)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(pair, 1)
        bl.addWidget(self.caption)
        self.compare = ContrastPanel(picker=False)
        self.compare.attribute_selected.connect(self._contrast_attribute)
        self.tabs = QTabWidget()
        self.tabs.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.tabs.addTab(both, "Evidence of both classes")
        self.tabs.addTab(self.compare, "Why not the given label")

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addLayout(bar)
        tl.addWidget(self.overlay, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([400, 360])  # the lists need room for several rows, the image less
        split.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.set_item(None)

    # -- API ---------------------------------------------------------------------------------------
    def set_item(self, item: Any) -> None:
        """A row was selected: its image now, its evidence when `set_evidence` brings it."""
        self.item = item
        self.found = None
        if item is None:
            self._path = None
            self.overlay.set_image(None)
            self.overlay.set_message("Select a row to see why the model disagrees with the given label.")
            self._show(None, "")
            return
        self._show_image(item)

    def set_evidence(self, found: Any, why: str = "") -> None:
        """The selected row's `ImageEvidence` (None while loading or when there is none: `why`)."""
        self.found = found
        self._show(found, why)

    def class_evidence(self, which: str) -> ClassEvidence | None:
        """The loaded evidence of the model's (SUGGESTED) or the given (GIVEN) class."""
        if self.item is None:
            return None
        r = self.item.row
        return _of_class(self.found, r.suggested_class_id if which == SUGGESTED else r.given_class_id)

    def draw(self, which: str) -> None:
        """Draw the attributes of the model's or the given class on the image."""
        i = self.drawn.findData(which)
        if i >= 0:
            self.drawn.setCurrentIndex(i)
        ev = self.class_evidence(which)
        self.overlay.show_attribute(None)  # an attribute of the other class must not stay drawn
        self.overlay.set_evidence(ev)
        self._title(which, ev)

    def toggle_mode(self) -> None:
        self.mode.setCurrentIndex((self.mode.currentIndex() + 1) % self.mode.count())

    # -- internals ---------------------------------------------------------------------------------
    def _show(self, found: Any, why: str) -> None:
        r = self.item.row if self.item is not None else None
        sug, giv = self.class_evidence(SUGGESTED), self.class_evidence(GIVEN)
        if r is None:
            none_sug = none_giv = why
        else:
            none_sug = why or ("the model suggests no class" if r.suggested_class_id is None
                               else "no evidence for the model's class")
            none_giv = why or ("no given label" if r.given_class_id is None
                               else "the given class could not be explained (no cached features)")
        self.suggested.set_evidence(sug, message=none_sug)
        self.given.set_evidence(giv, message=none_giv)
        contrast = found.contrast if found is not None else None
        self.compare.set_contrast(contrast, message=why or "no second class to compare with")
        uncal = any(a.presence is not None and not a.presence.calibrated
                    for ev in (sug, giv) if ev is not None for a in ev.attributes)
        self.caption.setText(("~ = presence judged within this image (no project calibration yet). " if uncal else "")
                             + SHARE_RULE)
        self.draw(self.drawn.currentData() if self.class_evidence(self.drawn.currentData()) is not None else SUGGESTED)
        if found is None and why:
            self.evidence_title.setText(why)

    def _title(self, which: str, ev: ClassEvidence | None) -> None:
        if ev is None:
            self.evidence_title.setText("")
            return
        whose = "the model's class" if which == SUGGESTED else "the given class"
        self.evidence_title.setText(f"where the attributes of <b>{ev.class_name}</b> ({whose}) are")

    def _show_image(self, item: Any) -> None:
        if item.path == self._path:
            return
        self._path = item.path
        try:
            image = load_image(str(item.path)) if item.path else None
        except OSError as err:
            self.overlay.set_image(None)
            self.overlay.set_message(str(err))
            return
        self.overlay.set_image(image, item.size)
        if image is None:
            self.overlay.set_message("image file unknown")

    def _list_attribute(self, which: str, attr: AttributeEvidence | None) -> None:
        """An attribute clicked in either list: draw that class, the attribute alone."""
        other = self.given if which == SUGGESTED else self.suggested
        other.select(None, emit=False)
        if attr is not None and self.drawn.currentData() != which:
            self.draw(which)
        self.overlay.show_attribute(attr)

    def _contrast_attribute(self, attr: AttributeEvidence | None) -> None:
        """An attribute in "Why not": draw it alone, in its own class's colour."""
        self.suggested.select(None, emit=False)
        self.given.select(None, emit=False)
        if attr is None:
            self.overlay.show_attribute(None)
            return
        for which in (SUGGESTED, GIVEN):
            ev = self.class_evidence(which)
            pos = next((i for i, a in enumerate(ev.attributes) if a is attr), None) if ev is not None else None
            if pos is not None:
                if self.drawn.currentData() != which:
                    self.draw(which)
                self.overlay.show_attribute(attr, attribute_colour(pos))
                return
        self.overlay.show_attribute(attr)

    def _sync_overlay_box(self, on: bool) -> None:
        self.show_overlay.blockSignals(True)
        self.show_overlay.setChecked(on)
        self.show_overlay.blockSignals(False)
