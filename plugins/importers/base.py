"""The importer protocol and helpers shared by label importers (pure: no SQL, no Qt).

An importer reads a label file or folder and yields `ImportedRow(path, label)`; the use case
(`workflows.import_labels`) matches paths to the project's images and stores the labels for audit.
Exports written by lazlabel carry a file map (exported file -> source path) and a class-folder map,
which the importers use so that an export imports back onto the same images with the same labels.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from plugins.csv_cells import restore
from plugins.exporters.base import FILE_MAP_NAME, MANIFEST_NAME

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".jfif"}
)


@dataclass(frozen=True)
class ImportedRow:
    """One label as read: `path` is absolute, or relative to the image root; `label` '' = none."""

    path: str
    label: str


class ImportFormatError(ValueError):
    """The file is not what the importer reads (missing column, bad JSON...); message for the user."""


def read_json(path: Path) -> Any:
    """A whole JSON file, or ImportFormatError naming the file and the problem (unreadable, not
    UTF-8, not JSON, nested too deeply) — bad input is the user's problem, never an internal error."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ImportFormatError(f"cannot read {path}: {err.strerror or err}") from err
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ImportFormatError(
            f"{path}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})"
        ) from err
    return loads(text, path)


def loads(text: str, where: Any) -> Any:
    """`json.loads` with its failures (syntax, nesting too deep for Python) as ImportFormatError."""
    try:
        return json.loads(text)
    except RecursionError as err:
        raise ImportFormatError(f"{where}: JSON nested too deeply to read") from err
    except ValueError as err:
        raise ImportFormatError(f"{where}: not a readable JSON file ({err})") from err


@runtime_checkable
class Importer(Protocol):
    name: ClassVar[str]
    description: ClassVar[str]

    def read(self, path: Path) -> Iterator[ImportedRow]: ...


@dataclass
class ExportMaps:
    """What a lazlabel export says about itself: file -> source path, class folder -> class name."""

    root: Path | None = None
    files: dict[str, str] | None = None
    folders: dict[str, str] | None = None

    def source_of(self, file: Path) -> str:
        """The project path a file of this export came from, else the file's own absolute path."""
        if self.root is not None and self.files:
            try:
                rel = file.relative_to(self.root).as_posix()
            except ValueError:
                rel = None
            if rel is not None and rel in self.files:
                return self.files[rel]
        return str(file)

    def class_of(self, folder: str) -> str:
        return (self.folders or {}).get(folder, folder)


def find_export_maps(start: Path, levels: int = 2) -> ExportMaps:
    """Look in `start` and up to `levels` parents for a lazlabel export's manifest / file map."""
    d = start if start.is_dir() else start.parent
    for _ in range(levels + 1):
        if (d / MANIFEST_NAME).is_file() or (d / FILE_MAP_NAME).is_file():
            return load_export_maps(d)
        if d.parent == d:
            break
        d = d.parent
    return ExportMaps()


def load_export_maps(root: Path) -> ExportMaps:
    maps = ExportMaps(root=root)
    fm = root / FILE_MAP_NAME
    if fm.is_file():
        try:
            with open(fm, encoding="utf-8", newline="") as f:
                maps.files = {
                    restore(r["file"] or ""): restore(r["source_path"] or "") for r in csv.DictReader(f)
                }
        except (OSError, UnicodeDecodeError, csv.Error, KeyError) as err:
            raise ImportFormatError(f"{fm}: unreadable export file map ({err})") from err
    mf = root / MANIFEST_NAME
    if mf.is_file():
        manifest = read_json(mf)
        try:
            maps.folders = {c["folder"]: c["name"] for c in manifest.get("classes", []) if c.get("folder")}
        except (ValueError, TypeError, KeyError, AttributeError) as err:
            raise ImportFormatError(f"{mf}: unreadable export manifest ({err})") from err
    return maps


def is_image_file(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES
