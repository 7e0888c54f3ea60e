"""The browser's query: which images the grid shows and in what order. No Qt, no project."""

from __future__ import annotations

from dataclasses import dataclass, replace

from db import ImageFilter
from desktop.browser.filters import IMPORTED_FILTERS, STATUS_FILTERS, build_filter
from desktop.models.events import EmitterGroup


@dataclass(frozen=True)
class Query:
    status: str = "all"
    class_id: int | None = None
    imported: str | int = "any"
    text: str = ""
    sort: str = "name"

    def to_filter(self) -> ImageFilter:
        return build_filter(self.status, self.class_id, self.imported, self.text)


class BrowserQuery:
    """The filter menus' state. Event `changed` (value: the new `Query`) on every real change."""

    def __init__(self) -> None:
        self.events = EmitterGroup(self, "changed")
        self.query = Query()

    def update(self, **changes: object) -> bool:
        """Change some fields (others stay); unknown status or imported keys are a ValueError.
        Returns whether anything changed (no event when nothing did)."""
        new = replace(self.query, **changes)  # type: ignore[arg-type]
        if new.status not in STATUS_FILTERS:
            raise ValueError(f"unknown status filter {new.status!r}")
        if not isinstance(new.imported, int) and new.imported not in IMPORTED_FILTERS:
            raise ValueError(f"unknown imported filter {new.imported!r}")
        if new == self.query:
            return False
        self.query = new
        self.events.changed.emit(new)
        return True

    def reset(self) -> None:
        if self.query != Query():
            self.query = Query()
            self.events.changed.emit(self.query)
