"""The review screen's keyboard map: key sequence -> action name, bound as QShortcuts.

One table, so the help overlay, the tests and the bindings agree. Shortcuts use the
widget-with-children context: they work anywhere on the review screen, and a focused text box
(the class search) still receives plain letters because line edits claim them first.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QWidget

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
