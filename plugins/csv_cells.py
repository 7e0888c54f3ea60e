"""CSV formula-injection guard shared by every CSV lazlabel writes and reads back.

Spreadsheets run a cell that begins with `=`, `+`, `-`, `@`, tab or carriage return as a formula
(OWASP "CSV injection"). Class names can arrive from imported files without anyone typing them,
so every text cell lazlabel writes to a CSV goes through `neutralise`: such a value gets a leading
`'`, which spreadsheets show as text and do not evaluate. A value that already begins with `'`
followed by one of those characters (or by another `'`) gets one more `'`, so `restore` — which
every lazlabel CSV reader applies — gives back exactly the original value. Other values,
including a hand-written `'tis`, pass through both unchanged. Numbers are not text cells and are
never touched (so `-0.5` stays a number).
"""

from __future__ import annotations

from typing import Any

TRIGGERS = frozenset("=+-@\t\r")
QUOTE = "'"


def neutralise(value: Any) -> Any:
    """The cell to write for `value`: text that a spreadsheet would evaluate gets a leading `'`."""
    if not isinstance(value, str) or not value:
        return value
    head = value[0]
    if head in TRIGGERS or (head == QUOTE and len(value) > 1 and (value[1] in TRIGGERS or value[1] == QUOTE)):
        return QUOTE + value
    return value


def restore(value: str) -> str:
    """The inverse of `neutralise` for a cell read back from a CSV."""
    if len(value) > 1 and value[0] == QUOTE and (value[1] in TRIGGERS or value[1] == QUOTE):
        return value[1:]
    return value


def neutralise_row(row: list[Any] | tuple[Any, ...]) -> list[Any]:
    return [neutralise(v) for v in row]
