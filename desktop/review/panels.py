"""The review screen's side panels: top-k classes, decision trail, class search (the evidence
panels are in desktop/widgets)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCompleter,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.review.service import ClassRef, ReviewState
from desktop.widgets.fit import wrapping

CLASS_ROLE = Qt.ItemDataRole.UserRole + 10
_OWN_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)


class TopKList(QListWidget):
    """The top-k classes with scores; row n answers key n. Clicking shows that class's evidence."""

    class_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.itemClicked.connect(self._clicked)

    def set_topk(self, topk: list[tuple[int, str, float]], label_id: int | None, shown: int | None) -> None:
        self.clear()
        for n, (cid, name, score) in enumerate(topk, start=1):
            mark = "  ✔" if cid == label_id else ""
            item = QListWidgetItem(f"{n}   {name}   {score:.4f}{mark}" if n <= 9 else f"    {name}   {score:.4f}")
            item.setData(CLASS_ROLE, cid)
            item.setToolTip(f"press {n} to label as {name}" if n <= 9 else name)
            self.addItem(item)
            if cid == shown:
                self.setCurrentItem(item)
        rows = max(1, min(self.count(), 9))
        self.setFixedHeight(self.sizeHintForRow(0) * rows + 2 * self.frameWidth() + 4 if self.count() else 40)

    def _clicked(self, item: QListWidgetItem) -> None:
        self.class_clicked.emit(int(item.data(CLASS_ROLE)))

    def class_ids(self) -> list[int]:
        return [int(self.item(i).data(CLASS_ROLE)) for i in range(self.count())]


class InfoPanel(QWidget):
    """Path, current decision, imported label, and the decision trail of the image."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = wrapping(QLabel())
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status = wrapping(QLabel())
        self.status.setTextFormat(Qt.TextFormat.RichText)
        self.history = QTreeWidget()
        self.history.setHeaderLabels(["when", "action", "label", "who"])
        self.history.setRootIsDecorated(False)
        self.history.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.title)
        lay.addWidget(self.status)
        lay.addWidget(QLabel("history"))
        lay.addWidget(self.history, 1)

    def set_state(self, state: ReviewState | None, position: str = "") -> None:
        self.history.clear()
        if state is None:
            self.title.setText("No image. Pre-label a project, or pick images in the browser.")
            self.status.setText("")
            return
        self.title.setText(f"<b>{state.rel_path}</b> {position}")
        parts = [f"status: <b>{state.review_status.replace('_', ' ')}</b>"]
        if state.label_name:
            parts.append(f"label: <b>{state.label_name}</b>")
        if state.topk:
            parts.append(f"predicted: {state.topk[0][1]} ({state.score:.4f}, margin {state.margin:.4f})")
        else:
            parts.append("no prediction yet")
        if state.imported_name:
            parts.append(f"imported label: <b>{state.imported_name}</b>")
        if state.error:
            parts.append(f"<span style='color:#d93025'>error: {state.error}</span>")
        self.status.setText("<br>".join(parts))
        for d in reversed(state.history):
            self.history.addTopLevelItem(QTreeWidgetItem(_history_cells(d)))


def _history_cells(d: Any) -> list[str]:
    at = d.at.strftime("%Y-%m-%d %H:%M:%S") if hasattr(d.at, "strftime") else str(d.at)
    label = d.class_name or ("—" if d.class_id is None else f"#{d.class_id}")
    action = d.action.replace("_", " ")
    if d.action == "undo":
        action = f"undo → {d.result_status.replace('_', ' ')}"
    return [at, action, label, d.reviewer or ""]


class ClassSearch(QLineEdit):
    """Type part of a class name, Enter corrects to it (completion over every class).

    Enter does one thing: label with the class the text means. An exact name (any case) or the
    only name containing the text wins; when several match, the popup opens with them and the
    box says so (nothing is recorded until one is picked); when none matches, it says that.
    """

    class_chosen = Signal(int)
    escaped = Signal()
    notice = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("correct to… (/ or C, type a class, Enter)")
        self.setClearButtonEnabled(True)
        self._ids: dict[str, int] = {}
        self._busy = False  # the popup's Enter and the line edit's Enter must choose once
        self._model = QStringListModel(self)
        comp = QCompleter(self._model, self)
        comp.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        comp.setFilterMode(Qt.MatchFlag.MatchContains)
        comp.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        comp.activated.connect(self._choose)
        self.setCompleter(comp)
        comp.popup().installEventFilter(self)  # Enter in the open popup with no row picked
        self.returnPressed.connect(self._return_pressed)

    def set_classes(self, classes: list[ClassRef]) -> None:
        self._ids = {c.name: c.id for c in classes}
        self._model.setStringList([c.name for c in classes])

    def set_pairs(self, pairs: Any) -> None:
        """A compositional project's `PairResolver` (desktop/review/compose_input.py): "dot" Tab "tri"
        Enter corrects to the pair (dotted, triangle). None for a flat project."""
        self._pairs = pairs

    def matches(self, text: str) -> list[str]:
        """Class names containing the text (any case)."""
        t = text.strip().lower()
        return [name for name in self._ids if t in name.lower()] if t else []

    def match(self, text: str) -> int | None:
        """The class a typed text means: exact name (any case), else the only name containing it."""
        t = text.strip().lower()
        if not t:
            return None
        exact = [cid for name, cid in self._ids.items() if name.lower() == t]
        if exact:
            return exact[0]
        hits = self.matches(text)
        if len(hits) == 1:
            return self._ids[hits[0]]
        pairs = getattr(self, "_pairs", None)
        return pairs.resolve(text) if pairs is not None else None

    def _return_pressed(self) -> None:
        if self._busy:  # the popup's Enter already chose
            return
        text = self.text()
        if self.match(text) is not None:
            self._choose(text)
            return
        hits = self.matches(text)
        pairs = getattr(self, "_pairs", None)
        if not hits and pairs is not None and text.strip():
            self.notice.emit(pairs.explain(text))
            return
        if not hits:
            self.notice.emit(f"no class matches '{text.strip()}'" if text.strip() else "type part of a class name")
            return
        self.notice.emit(f"{len(hits)} classes match '{text.strip()}': {', '.join(hits[:6])}"
                         + ("…" if len(hits) > 6 else "") + " — pick one (↓, Enter)")
        comp = self.completer()
        comp.setCompletionPrefix(text.strip())
        comp.complete()

    def _not_busy(self) -> None:
        self._busy = False

    def _choose(self, text: str) -> None:
        cid = self.match(text)
        if cid is None or self._busy:
            return
        self._busy = True
        QTimer.singleShot(0, self._not_busy)
        self.clear()
        self.class_chosen.emit(cid)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        """Enter in the popup with no row highlighted means the typed text: same rule as the box."""
        if (event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                and not watched.currentIndex().isValid()):
            watched.hide()
            self._return_pressed()
            return True
        return super().eventFilter(watched, event)

    def event(self, event: QEvent) -> bool:
        # Enter/Escape typed here belong to the search, not to the screen's accept shortcut
        if event.type() == QEvent.Type.ShortcutOverride and event.key() in _OWN_KEYS:
            event.accept()
            return True
        return super().event(event)

    def focusNextPrevChild(self, next_: bool) -> bool:  # noqa: N802 - Qt override
        """Compositional projects: Tab after a state fragment completes the state and stays here
        for the object (desktop/review/compose_input.py); otherwise Tab moves focus as usual."""
        pairs = getattr(self, "_pairs", None)
        if pairs is None or not next_ or not self.text().strip() or " " in self.text().strip():
            return super().focusNextPrevChild(next_)
        self.completer().popup().hide()
        state = pairs.complete_state(self.text())
        if state is None:
            self.notice.emit(f"no single state matches '{self.text().strip()}'")
        else:
            self.setText(state + " ")
            self.notice.emit(f"state {state}: now type the object, Enter")
        return True

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.key() not in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._busy = False  # typing again: a new choice
        if event.key() == Qt.Key.Key_Escape:
            self.clear()
            self.escaped.emit()
            return
        super().keyPressEvent(event)
