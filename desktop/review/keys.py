"""The review screen's keyboard map: key sequence -> action name, bound as QShortcuts.

One table, so the help overlay, the tests and the bindings agree. Shortcuts use the
widget-with-children context: they work anywhere on the review screen, and a focused text box
(the class search) still receives plain letters because line edits claim them first.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QApplication, QWidget

from desktop.models.effort import EffortCounter

# key -> (action, help text)
KEYMAP: dict[str, tuple[str, str]] = {
    "Return": ("accept", "accept the predicted class (always, whichever class's evidence is shown)"),
    "Enter": ("accept", ""),
    "A": ("accept", ""),
    **{str(k): (f"pick_{k}", "") for k in range(1, 10)},
    "R": ("reject", "reject: none of these classes"),
    "U": ("uncertain", "mark uncertain"),
    "N": ("confirm_negative", "confirm the image is NOT the predicted class"),
    "Ctrl+Z": ("undo", "undo the last decision"),
    "Right": ("next", "next image in the queue"),
    "J": ("next", ""),
    "Left": ("previous", "previous image in the queue"),
    "K": ("previous", ""),
    "Space": ("toggle_overlay", "show / hide the explanation overlay"),
    "/": ("search", "type a class name to correct to it"),
    "C": ("search", ""),
    "H": ("toggle_heatmap", "contours / heat map"),
    "F": ("fit", "fit the image to the view"),
    "Ctrl+Shift+A": ("bulk_accept", "accept the prediction of every selected image"),
}


def help_lines() -> list[tuple[str, str]]:
    """(keys, what they do), one line per action, for the shortcut help panel."""
    by_action: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    for key, (action, text) in KEYMAP.items():
        group = "pick" if action.startswith("pick_") else action
        by_action.setdefault(group, []).append(key)
        if text:
            texts[group] = text
    texts["pick"] = "correct to the n-th class of the top-k"
    by_action["pick"] = ["1–9"]
    return [(" / ".join(keys), texts.get(action, action)) for action, keys in by_action.items()]


class KeyRouter(QObject):
    """Owns the shortcuts of one widget and routes each to its handler by action name.

    One bound slot for all shortcuts (the action is the shortcut's object name), so no Qt
    connection holds a Python closure over the screen: such a closure, freed while the screen's
    C++ side is being destroyed, can drop the screen's last reference and delete it twice.
    """

    def __init__(self, widget: QWidget, handlers: dict[str, Callable[[], None]]) -> None:
        super().__init__(widget)
        self.handlers = dict(handlers)
        self.shortcuts: list[QShortcut] = []
        for key, (action, _text) in KEYMAP.items():
            if action not in self.handlers:
                continue
            sc = QShortcut(QKeySequence(key), widget)
            sc.setObjectName(action)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.setAutoRepeat(action in ("next", "previous"))
            sc.activated.connect(self._fire)
            self.shortcuts.append(sc)

    def _fire(self) -> None:
        sender = self.sender()
        handler = self.handlers.get(sender.objectName()) if sender is not None else None
        if handler is not None:
            handler()


def bind_keys(widget: QWidget, handlers: dict[str, Callable[[], None]]) -> KeyRouter:
    """Bind every KEYMAP entry whose action has a handler, on `widget` and its children."""
    return KeyRouter(widget, handlers)


_MODIFIERS = {Qt.Key.Key_Shift, Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_Meta, Qt.Key.Key_AltGr}


class EffortFilter(QObject):
    """Counts the keys pressed and mouse buttons clicked inside one widget (work accounting).

    An application-wide filter, because a key bound to a shortcut never arrives as a key press:
    Qt first sends the focus widget a ShortcutOverride, once per physical key press, whether a
    shortcut or the widget then takes it. So a key is counted on its ShortcutOverride (modifiers
    alone and auto-repeats are not), a click on its mouse press, each only inside `root` (or a
    popup it opened, e.g. the class search's completion list).
    """

    def __init__(self, root: QWidget, counter: EffortCounter) -> None:
        super().__init__(root)
        self.root = root
        self.counter = counter
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def _inside(self, obj: QObject) -> bool:
        if not isinstance(obj, QWidget):
            return False
        if obj is self.root or self.root.isAncestorOf(obj):
            return True
        parent = obj.parentWidget()
        while parent is not None:  # popups are top-level windows owned by a widget of root
            if parent is self.root or self.root.isAncestorOf(parent):
                return True
            parent = parent.parentWidget()
        return False

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        t = event.type()
        if t == QEvent.Type.ShortcutOverride:
            if not event.isAutoRepeat() and event.key() not in _MODIFIERS and self._inside(obj):  # type: ignore[attr-defined]
                self.counter.key()
        elif t == QEvent.Type.MouseButtonPress and self._inside(obj):
            self.counter.click()
        return False

    def remove(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)


def count_effort(root: QWidget, counter: EffortCounter) -> EffortFilter:
    """Count keys and clicks inside `root` into `counter` until `root` is destroyed (the filter is
    its child: Qt drops a destroyed object from the application's event filters by itself)."""
    return EffortFilter(root, counter)
