"""What every file-based attribute source reads and writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class ClassAttributes:
    """One class and its attribute texts as found in a file (line: where the class starts)."""

    name: str
    attributes: tuple[str, ...]
    line: int | None = None


@dataclass
class FileContents:
    classes: list[ClassAttributes]
    warnings: list[str] = field(default_factory=list)


class FileAttributeSource(Protocol):
    """A file format registered under the `lazlabel.attribute_sources` entry-point group."""

    name: str
    suffixes: tuple[str, ...]
    description: str

    def read(self, path: Path) -> FileContents: ...

    def write(self, path: Path, classes: list[ClassAttributes]) -> None: ...
