"""Connections from long-lived signals to short-lived widgets, cut when the widget dies.

Why: a Qt connection to a *lambda* or to a plain function has no receiver object, so Qt cannot
drop it when the widget the lambda reads is destroyed. A dialog that connected
`ctx.selection_changed` to `lambda ids: self.refresh()` kept being called after it closed, and
every later selection in Browse raised "QLabel already deleted" (issue #14, item 1).

The rule (docs/desktop.md, "Signals"): a widget that can be destroyed before the `AppContext`
(dialogs, panels, anything built on demand) connects to context signals only through `listen`,
which ties the connection's lifetime to the widget. Bound methods of the widget are safe too, but
`listen` is safe for every kind of callable, so it is the one way taught.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, SignalInstance


def listen(signal: SignalInstance, owner: QObject, slot: Callable[..., Any]) -> None:
    """Connect `signal` to `slot` for as long as `owner` lives.

    The connection is removed when `owner` is destroyed (closed dialog, deleted panel), so the
    slot never runs against deleted widgets. The cleanup closure holds only the signal and the
    connection handle, never `owner`, so it keeps nothing alive.
    """
    conn = signal.connect(slot)

    def _cut(*_args: Any, _conn: Any = conn) -> None:
        # False (no warning) when the sender went first and took the connection with it
        QObject.disconnect(_conn)

    owner.destroyed.connect(_cut)
