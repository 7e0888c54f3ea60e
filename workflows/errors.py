"""User-facing errors, and the one rule that tells them from bugs (shared by the CLI and the GUI).

A user error is something the person at the keyboard can fix: its `str()` is a complete one-line
message. The CLI prints it and exits 1; the GUI shows it as a hint. Anything else is a bug: the CLI
prints "internal error" with `--debug` advice, the GUI opens its bug dialog with the details. A
bare `ValueError` or `LookupError` is a bug like any other; a layer that means "the user asked for
something impossible" raises one of the typed errors below (or `UserError`).
"""

from __future__ import annotations

import sys


class UserError(Exception):
    """Something the user can fix; `str(err)` is a complete one-line message."""


#: The typed user errors of the other layers, as (module, class name). They are looked up in
#: `sys.modules` instead of imported: an instance of a class means its module is loaded, and
#: importing them here would pull torch into every CLI start.
TYPED_USER_ERRORS: tuple[tuple[str, str], ...] = (
    ("db.engine_setup", "ProjectError"),  # includes AttributeEditError (db/store_attributes.py)
    ("db.store_review", "ReviewError"),  # a decision the store refuses (unknown class, bad action)
    ("engine.models", "ModelLoadError"),  # a model spec or weights file that cannot be loaded
    ("plugins.registry", "PluginError"),  # unknown format / source name, a plugin that fails to load
    ("plugins.exporters.base", "ExportError"),  # an export that cannot be written as asked
    ("plugins.importers.base", "ImportFormatError"),  # a label file in the wrong shape
    ("plugins.attribute_sources.errors", "AttributeSourceError"),  # Ollama down, bad reply, bad file
)


def user_error_types() -> tuple[type[BaseException], ...]:
    """The user-error classes loaded so far (UserError always)."""
    found: list[type[BaseException]] = [UserError]
    for module, name in TYPED_USER_ERRORS:
        mod = sys.modules.get(module)
        cls = getattr(mod, name, None) if mod is not None else None
        if isinstance(cls, type) and issubclass(cls, BaseException):
            found.append(cls)
    return tuple(found)


def is_user_error(exc: BaseException) -> bool:
    """True when `exc` is the user's to fix (show its message), False when it is a bug."""
    return isinstance(exc, user_error_types())
