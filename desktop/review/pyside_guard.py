"""Work around PySide6 6.12 taking references from None/True/False (Python < 3.12).

PySide6 6.12's wheels return `None` from void methods (`setText`, `setToolTip`,
`QGraphicsItem.setData`...) and `True`/`False` from some others (`Signal.emit`) without adding
the reference the caller will drop — the 3.12+ `Py_RETURN_NONE`/`Py_RETURN_TRUE` idiom, correct
only where those objects are immortal. On 3.11 every such call takes one reference and the
process aborts ("none_dealloc: deallocating None", "bool_dealloc") after a few tens of thousands
of Qt calls: a few minutes of reviewing. Giving these singletons a huge reference count once, as
3.12 does by design, makes them immortal in practice. Idempotent; a no-op on 3.12+.
"""

from __future__ import annotations

import ctypes
import sys

_BOOST = 1 << 50  # references added once; a void call takes one each, so this never runs out
_done = False


def keep_none_alive() -> bool:
    """Make None, True, False (and the other 3.12-immortal singletons) effectively immortal on CPython < 3.12; returns True when it acted."""
    global _done
    if _done or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for singleton in (None, True, False, NotImplemented, Ellipsis):
        ctypes.c_ssize_t.from_address(id(singleton)).value += _BOOST
    _done = True
    return True
