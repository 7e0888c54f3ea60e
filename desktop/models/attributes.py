"""The attribute editor's state: classes, the current class, its attributes, the selected rows,
and whether the labels on screen are stale. No Qt, no project: `AttributesController` fills it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from desktop.models.events import EmitterGroup


class AttributeEditorModel:
    """Events: `classes` (list of class rows), `current` (class id | None), `attributes` (rows of
    the current class), `selection` (selected attribute ids), `version` ((current, of last run))."""

    def __init__(self) -> None:
        self.events = EmitterGroup(self, "classes", "current", "attributes", "selection", "version")
        self.classes: list[Any] = []
        self.current: int | None = None
        self.attributes: list[Any] = []
        self.selected: list[int] = []  # attribute ids
        self.version = ""
        self.run_version: str | None = None

    @property
    def stale(self) -> bool:
        """Attributes changed since the labels on screen were computed."""
        return self.run_version is not None and self.version != self.run_version

    def set_classes(self, classes: Sequence[Any]) -> None:
        self.classes = list(classes)
        self.events.classes.emit(self.classes)
        ids = [c.id for c in self.classes]
        if self.current not in ids:
            self.set_current(ids[0] if ids else None)

    def set_current(self, class_id: int | None) -> None:
        if class_id != self.current:
            self.current = class_id
            self.selected = []
            self.events.current.emit(class_id)

    def set_attributes(self, rows: Sequence[Any]) -> None:
        self.attributes = list(rows)
        keep = {a.id for a in self.attributes}
        self.selected = [i for i in self.selected if i in keep]
        self.events.attributes.emit(self.attributes)

    def select(self, attribute_ids: Sequence[int]) -> None:
        ids = [i for i in dict.fromkeys(attribute_ids) if any(a.id == i for a in self.attributes)]
        if ids != self.selected:
            self.selected = ids
            self.events.selection.emit(list(ids))

    def set_version(self, version: str, run_version: str | None) -> None:
        self.version, self.run_version = version, run_version
        self.events.version.emit((version, run_version))
