""""Why A and not B": the runner-up's attributes not found in the image, and the attributes that
separate the two classes (found for one, not an attribute of the other).

Reusable (Review and Audit). API:

* `ContrastPanel.set_contrast(c: engine.evidence.Contrast | None)`.
* signal `attribute_selected(object)`: an `AttributeEvidence` of either class was clicked (its
  map can then be drawn on the image); None when the selection is cleared.
* signal `compare_requested(object)`: a class id chosen in the "compare with" box (None: the
  runner-up); fill the box with `set_classes([(id, name)], current)`. `ContrastPanel(picker=False)`
  has no such box (Audit: the two classes are the row's).
* signal `refine_requested(int, int)`: "Ask the LLM what tells them apart…" was clicked, with the
  two classes' ids (shown only when the contrast carries both ids); the host opens
  `desktop.learn.refine_dialog.RefineDialog` (issue #17: distinguishing attributes from "Why not…").
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from desktop.widgets.evidence_list import AttributeRow, row_area
from desktop.widgets.fit import wrapping
from desktop.widgets.palette import attribute_colour
from engine.evidence import AttributeEvidence, ClassEvidence, Contrast


def _heading(text: str) -> QLabel:
    label = wrapping(QLabel(text))  # a long class name wraps, never widens the window
    label.setTextFormat(Qt.TextFormat.RichText)
    return label


class ContrastPanel(QWidget):
    """See the module docstring."""

    attribute_selected = Signal(object)  # AttributeEvidence | None
    compare_requested = Signal(object)  # class id | None (runner-up)
    refine_requested = Signal(int, int)  # class ids (a, b): ask the LLM for attributes telling them apart

    def __init__(self, parent: QWidget | None = None, *, picker: bool = True) -> None:
        super().__init__(parent)
        self.contrast: Contrast | None = None
        self.rows: list[AttributeRow] = []
        self.selected: AttributeEvidence | None = None
        self.picker = QComboBox(self)
        self.picker.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.picker.setMinimumContentsLength(10)  # long class names: the popup shows them whole
        self.picker.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.picker.activated.connect(lambda i: self.compare_requested.emit(self.picker.itemData(i)))
        top = QHBoxLayout()
        top.addWidget(QLabel("compare with", self))
        top.addWidget(self.picker, 1)
        self.summary = _heading("")
        self.refine_button = QPushButton("Ask the LLM what tells them apart…", self)
        self.refine_button.setObjectName("refineButton")
        self.refine_button.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.refine_button.setToolTip("propose new attributes that tell these two classes apart, with their "
                                      "effect on the decided images, to accept one by one")
        self.refine_button.clicked.connect(self._refine_clicked)
        self.refine_button.hide()
        scroll, self._body, self._lay = row_area()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        if not picker:
            for i in range(top.count()):
                top.itemAt(i).widget().hide()
        lay.addWidget(self.summary)
        lay.addWidget(self.refine_button)
        lay.addWidget(scroll, 1)

    def set_classes(self, classes: list[tuple[int, str]], current: int | None) -> None:
        self.picker.blockSignals(True)
        self.picker.clear()
        self.picker.addItem("runner-up", None)
        for cid, name in classes:
            self.picker.addItem(name, cid)
        i = self.picker.findData(current) if current is not None else 0
        self.picker.setCurrentIndex(max(0, i))
        self.picker.blockSignals(False)

    def set_contrast(self, c: Contrast | None, *, message: str = "") -> None:
        self.contrast = c
        self.selected = None
        self._clear()
        self.refine_button.setVisible(c is not None and self._pair(c) is not None)
        if c is None:
            self.summary.setText(message or "no second class to compare with")
            self._lay.addStretch(1)
            return
        a, b = c.a.class_name, c.b.class_name
        self.summary.setText(
            f"Why <b>{a}</b> ({c.a.score:.4f}) and not <b>{b}</b> ({c.b.score:.4f}): "
            f"{a} scores {abs(c.gap):.4f} {'above' if c.gap >= 0 else 'below'}."
            + (f" {len(c.shared)} attribute(s) are shared and do not separate them." if c.shared else "")
        )
        self._section(f"<b>{b}</b>: attributes not found in this image", c.b_missing, c.b,
                      f"every attribute of {b} is at least weakly present")
        self._section(f"Found for <b>{a}</b> only", c.for_a, c.a, "none")
        self._section(f"Found for <b>{b}</b> only", c.for_b, c.b, "none")
        self._lay.addStretch(1)

    def row_texts(self) -> list[str]:
        return [r.attr.text for r in self.rows]

    # -- internals -------------------------------------------------------------------------------
    @staticmethod
    def _pair(c: Contrast) -> tuple[int, int] | None:
        a, b = c.a.class_id, c.b.class_id
        return None if a is None or b is None or a == b else (int(a), int(b))

    def _refine_clicked(self) -> None:
        pair = self._pair(self.contrast) if self.contrast is not None else None
        if pair is not None:
            self.refine_requested.emit(*pair)

    def _section(self, title: str, attrs: tuple[AttributeEvidence, ...], ev: ClassEvidence, empty: str) -> None:
        self._lay.addWidget(_heading(title))
        if not attrs:
            none = QLabel(empty)
            none.setObjectName("muted")
            self._lay.addWidget(none)
            return
        pos = {x.index: i for i, x in enumerate(ev.attributes)}
        for x in attrs:
            row = AttributeRow(x, attribute_colour(pos.get(x.index, 0)), against=x.share <= 0)
            row.clicked.connect(self._clicked)
            self.rows.append(row)
            self._lay.addWidget(row)

    def _clicked(self, attr: AttributeEvidence) -> None:
        same = self.selected is attr
        self.selected = None if same else attr
        for r in self.rows:
            r.set_selected(r.attr is self.selected)
        self.attribute_selected.emit(self.selected)

    def _clear(self) -> None:
        self.rows = []
        while self._lay.count():
            item = self._lay.takeAt(0)
            w = item.widget()
            if w is not None:
                w.hide()
                w.deleteLater()
