"""The Review screen: layout only. Logic lives in `ReviewController`, keys in `keys.KEYMAP`."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.models.review import QUEUE_ORDERS
from desktop.review import service
from desktop.review.compose_input import PairPartsLabel, PairResolver
from desktop.review.controller import ReviewController
from desktop.review.keys import bind_keys, count_effort, help_lines
from desktop.review.panels import ClassSearch, InfoPanel, TopKList
from desktop.review.service import ReviewState
from desktop.signals import listen
from desktop.widgets.contrast import ContrastPanel
from desktop.widgets.evidence_list import EvidenceList
from desktop.widgets.evidence_overlay import EvidenceOverlay, load_image
from desktop.widgets.fit import ElidedLabel, wrapping
from desktop.widgets.palette import attribute_colour

# button text -> controller action
SIDE_MIN_WIDTH = 300

_BUTTONS = (
    ("Accept (A)", "accept"),
    ("Reject (R)", "reject"),
    ("Uncertain (U)", "uncertain"),
    ("Not this (N)", "confirm_negative"),
    ("Undo", "undo"),
)


class ReviewView(QWidget):
    """Large image with the evidence overlay, top-k, attribute shares, why-not, history."""

    def __init__(self, ctx: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.controller = ReviewController(ctx, self)
        self._image_key: tuple[int, str] | None = None
        self._pending_state: ReviewState | None = None

        # -- centre: toolbar, overlay, buttons, status -------------------------------------------
        self.overlay = EvidenceOverlay()
        self.mode = QComboBox()
        self.mode.addItem("contours", "contours")
        self.mode.addItem("heat map", "heatmap")
        self.mode.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.mode.setToolTip("where each attribute is: a contour and peak per attribute, or a heat map (H). "
                             "Click an attribute in the Evidence tab to show it alone.")
        self.show_overlay = QCheckBox("overlay")
        self.show_overlay.setToolTip("show / hide the evidence on the image (Space)")
        self.show_overlay.setChecked(True)
        self.show_overlay.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.show_overlay.toggled.connect(self.overlay.set_overlay_visible)
        self.overlay.overlay_toggled.connect(self._sync_overlay_box)
        self.advance = QCheckBox("auto-advance")
        self.advance.setToolTip("go to the next image after each decision")
        self.advance.setChecked(True)
        self.advance.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.advance.toggled.connect(self._set_advance)
        self.order = QComboBox()
        for key, label in QUEUE_ORDERS.items():
            self.order.addItem(label, key)
        self.order.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.order.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.order.setMinimumContentsLength(8)
        self.order.setToolTip("order of the review queue when nothing is selected in the browser")
        self.order.currentIndexChanged.connect(lambda _i: self.controller.set_order(self.order.currentData()))
        self.queue_label = QLabel()
        self.evidence_title = ElidedLabel()
        self.evidence_title.setTextFormat(Qt.TextFormat.RichText)
        bar = QHBoxLayout()
        bar.addWidget(self.evidence_title, 1)
        bar.addWidget(self.mode)
        bar.addWidget(self.show_overlay)
        bar.addWidget(self.advance)
        bar.addWidget(self.order)
        bar.addWidget(self.queue_label)

        buttons = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for text, action in _BUTTONS:
            b = QPushButton(text)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setToolTip({"undo": "undo the last decision (Ctrl+Z)"}.get(action, ""))
            b.clicked.connect(self.controller.actions[action])
            buttons.addWidget(b)
            self.buttons[action] = b
        self.bulk = QPushButton("Accept sel.")
        self.bulk.setToolTip("accept the predicted label of the images selected in the browser (Ctrl+Shift+A)")
        self.bulk.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.bulk.clicked.connect(self.bulk_accept)
        buttons.addStretch(1)
        self.vouch_button = QPushButton("Guarantee…")  # bulk actions beside the notice: the row fits 1024 px
        self.vouch_button.setToolTip("bulk accept with a guarantee: audit a random sample, accept what it vouches for")
        self.vouch_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.vouch_button.clicked.connect(self._vouch)
        self.notice = wrapping(QLabel())
        self.notice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        notice_row = QHBoxLayout()
        notice_row.addWidget(self.notice, 1)
        notice_row.addWidget(self.vouch_button, 0, Qt.AlignmentFlag.AlignTop)
        notice_row.addWidget(self.bulk, 0, Qt.AlignmentFlag.AlignTop)

        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addLayout(bar)
        cl.addWidget(self.overlay, 1)
        cl.addLayout(buttons)
        cl.addLayout(notice_row)

        # -- side: info, top-k, search, legend, tabs ---------------------------------------------
        self.info = InfoPanel()
        self.topk = TopKList()
        self.topk.class_clicked.connect(self.controller.show_class)
        self.search = ClassSearch()
        self.search.class_chosen.connect(self._search_chosen)
        self.search.escaped.connect(self.setFocus)
        self.search.notice.connect(lambda text: self.notice.setText(text))
        self.parts = PairPartsLabel()  # compositional projects: the evidence of the state and the object
        self.legend = EvidenceList()
        self.legend.attribute_selected.connect(self.overlay.show_attribute)
        self.compare = ContrastPanel()
        self.compare.compare_requested.connect(self.controller.compare_with)
        self.compare.attribute_selected.connect(self._contrast_attribute)
        self.compare.refine_requested.connect(self._refine_pair)  # issue #17: distinguishing attributes
        keys = wrapping(QLabel("<br>".join(f"<b>{k}</b> — {t}" for k, t in help_lines())), 160)
        keys.setTextFormat(Qt.TextFormat.RichText)
        keys.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.tabs = QTabWidget()
        self.tabs.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.tabs.addTab(self.legend, "Evidence")
        self.tabs.addTab(self.compare, "Why not")
        self.tabs.addTab(self.info, "Decision")
        self.tabs.addTab(keys, "Keys")

        side = QWidget()
        side.setMinimumWidth(SIDE_MIN_WIDTH)  # the tabs and evidence rows stay whole at 1024 px
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        self.headline_path = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)
        self.headline_path.setTextFormat(Qt.TextFormat.RichText)
        self.headline = wrapping(QLabel())
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        sl.addWidget(self.headline_path)
        sl.addWidget(self.headline)
        sl.addWidget(wrapping(QLabel("top classes (press 1–9 to label)")))
        sl.addWidget(self.topk)
        sl.addWidget(self.search)
        sl.addWidget(self.parts)
        sl.addWidget(self.tabs, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(centre)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([900, 380])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)

        handlers = dict(self.controller.actions)
        handlers.update(
            toggle_overlay=self.overlay.toggle_overlay,
            search=self.focus_search,
            toggle_heatmap=self._toggle_mode,
            fit=self.overlay.fit,
            bulk_accept=self.bulk_accept,
        )
        self.keys = bind_keys(self, handlers)
        self.effort_filter = count_effort(self, self.controller.effort)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        c = self.controller
        c.state_changed.connect(self._show_state)
        c.evidence_changed.connect(self._show_evidence)
        c.queue_changed.connect(self._show_queue)
        c.notice.connect(self.notice.setText)
        listen(ctx.classes_changed, self, self._load_classes)
        listen(ctx.project_changed, self, self._load_classes)
        self._load_classes()

    # -- screen protocol ---------------------------------------------------------------------------
    def activate(self) -> None:
        """Shown: rebuild the queue (selection or review queue) and take the keyboard."""
        self._load_classes()
        self.controller.refresh_queue()
        self.setFocus()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._pending_state is not None:
            self._show_image(self._pending_state)

    # -- actions owned by the view (they need dialogs or focus) ----------------------------------
    def _vouch(self) -> None:
        from desktop.dialogs.vouch import VouchDialog

        if self.ctx.project is not None:
            dialog = VouchDialog(self.ctx, self)
            dialog.finished.connect(lambda _r: self.controller.refresh_queue())
            dialog.open()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def bulk_accept(self) -> None:
        """Accept the predictions of the images selected in the browser (confirmation with counts)."""
        from desktop.bulk import accept_predictions

        ids = list(self.ctx.selection or [])
        if not ids:
            self.notice.setText("select images in the browser first")
            return
        if accept_predictions(self.ctx, ids, self):
            self.controller.reload()

    def _search_chosen(self, class_id: int) -> None:
        self.controller.correct_to(class_id)
        self.setFocus()

    def _mode_changed(self, _index: int) -> None:
        self.overlay.set_mode(self.mode.currentData())

    def _set_advance(self, on: bool) -> None:
        self.controller.auto_advance = on

    def _toggle_mode(self) -> None:
        self.mode.setCurrentIndex((self.mode.currentIndex() + 1) % self.mode.count())

    def _sync_overlay_box(self, on: bool) -> None:
        self.show_overlay.blockSignals(True)
        self.show_overlay.setChecked(on)
        self.show_overlay.blockSignals(False)

    # -- rendering controller state --------------------------------------------------------------
    def _load_classes(self) -> None:
        try:
            classes = service.list_classes(self.ctx.project) if self.ctx.project is not None else []
        except Exception as err:  # noqa: BLE001
            self.ctx.show_error("Could not list the classes", err)
            classes = []
        self._classes = classes
        self.search.set_classes(classes)
        try:
            self.search.set_pairs(PairResolver.from_project(self.ctx.project) if self.ctx.project is not None else None)
        except Exception as err:  # noqa: BLE001
            self.ctx.show_error("Could not read the pairs", err)

    def _show_queue(self, pos: int, length: int) -> None:
        src = "selection" if self.controller.queue_source == "selection" else "queue"
        self.queue_label.setText(f"{pos + 1}/{length}" if length else "empty")
        self.queue_label.setToolTip(f"image {pos + 1} of {length} in the {src}" if length else "nothing to review")

    def _show_state(self, state: ReviewState | None) -> None:
        c = self.controller
        pos = f"({c.pos + 1}/{len(c.queue)})" if state is not None and c.queue else ""
        self.info.set_state(state, pos)
        if state is None:
            self.headline_path.setText("")
            self.headline.setText("Nothing to review.")
            self.topk.clear()
            self.overlay.set_image(None)
            self.overlay.set_message("Nothing to review: run a pre-label, or select images in the browser.")
            self._image_key = None
            return
        label = state.label_name or "—"
        self.headline_path.setText(f"<b>{state.rel_path}</b>")
        self.headline.setText(
            f"{state.review_status.replace('_', ' ')} · label <b>{label}</b>"
            + (f" · imported <b>{state.imported_name}</b>" if state.imported_name else "")
        )
        self.topk.set_topk(state.topk, state.label_id, c.shown_class)
        self.compare.set_classes([(k.id, k.name) for k in self._classes],
                                 c.compare_class if c.compare_class != state.runner_up_id else None)
        self._show_image(state)

    def _show_image(self, state: ReviewState) -> None:
        key = (state.image_id, str(state.path))
        if key == self._image_key:
            return
        if not self.isVisible():
            self._pending_state = state  # decode when shown
            return
        self._pending_state = None
        self._image_key = key
        image = None
        problem = ""
        if state.path is None:
            problem = "image file unknown"
        else:
            try:
                image = load_image(str(state.path))
            except OSError as err:
                problem = str(err)
        self.overlay.set_image(image, state.size)
        if problem:
            self.overlay.set_message(problem)

    def _show_evidence(self, found: Any, why: str) -> None:
        """Mirror the controller's evidence (workflows.evidence.ImageEvidence) in the panels."""
        shown = found.shown if found is not None else None
        self.overlay.set_evidence(shown)
        self.legend.set_evidence(shown, message=why)
        self.compare.set_contrast(found.contrast if found is not None else None, message=why)
        self.parts.show_evidence(self.ctx.project, shown, self.controller._shown_or_predicted())
        if shown is not None:
            self.evidence_title.setText(f"where the attributes of <b>{shown.class_name}</b> are")
        else:
            self.evidence_title.setText(why or "no evidence")
        state = self.controller.state
        if state is not None:
            self.topk.set_topk(state.topk, state.label_id, self.controller.shown_class)

    def _refine_pair(self, a: int, b: int) -> None:
        from desktop.learn.refine_dialog import open_refine

        open_refine(self.ctx, a, b, self)

    def _contrast_attribute(self, attr: Any) -> None:
        """An attribute of either class in "Why not": draw its map alone."""
        found = self.controller.evidence
        colour = None
        if attr is not None and found is not None and found.contrast is not None:
            for ev in (found.contrast.a, found.contrast.b):
                pos = next((i for i, a in enumerate(ev.attributes) if a is attr), None)
                if pos is not None:
                    colour = attribute_colour(pos)
        self.legend.select(None, emit=False)
        self.overlay.show_attribute(attr, colour)
