"""Labels from a FiftyOne image-classification dataset (`labels.json` beside a `data/` folder),
as lazlabel writes it and as FiftyOne itself re-exports it (copied images, or `abs_paths=True`)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from plugins.importers.base import ExportMaps, ImportedRow, ImportFormatError, find_export_maps, read_json

CARRIED_PATH = "lazlabel_path"  # the project path lazlabel's export puts in each Classification


def _label_of(target: Any, classes: list[str], where: str) -> str:
    if isinstance(target, Mapping):
        target = target.get("label")
    if target is None:
        return ""
    if isinstance(target, bool):
        raise ImportFormatError(f"{where}: label {target!r} is neither a class name nor an index")
    if isinstance(target, int):
        if not 0 <= target < len(classes):
            raise ImportFormatError(f"{where}: class index {target} outside the {len(classes)} classes")
        return classes[target]
    return str(target).strip()


def _carried(target: Any) -> str | None:
    """The project path carried in the Classification's attributes (kept by FiftyOne's own
    re-export with `include_attributes=True`, and by lazlabel's export)."""
    if isinstance(target, Mapping):
        attrs = target.get("attributes")
        if isinstance(attrs, Mapping) and isinstance(attrs.get(CARRIED_PATH), str) and attrs[CARRIED_PATH]:
            return attrs[CARRIED_PATH]
    return None


class FiftyOneImporter:
    """`FiftyOneImageClassificationDataset`: `{"classes": [...], "labels": {uuid: target}}` where a
    target is a class index, a name or `{"label": ..., "confidence": ..., "attributes": ...}`;
    images are `data/<uuid>.*`, or the uuid is itself an absolute image path (`abs_paths=True`).

    PATH may be the labels.json file, its folder, or an export root whose split folders each hold
    one. Each row's path is, in this order: the project path the label carries, the source of the
    file in a lazlabel export's file map (for absolute paths into an earlier export too), else
    the image file's own path (matched by the use case by relative path, then by content).
    """

    name = "fiftyone"
    description = "FiftyOne image classification labels.json (+ data/ images; FiftyOne re-exports too)"

    def read(self, path: Path) -> Iterator[ImportedRow]:
        path = Path(path)
        if path.is_file():
            files = [path]
        elif (path / "labels.json").is_file():
            files = [path / "labels.json"]
        else:
            files = sorted(path.glob("*/labels.json"))
        if not files:
            raise ImportFormatError(f"no labels.json in {path} (nor in its sub-folders)")
        for lf in files:
            yield from self._read_one(lf)

    def _read_one(self, lf: Path) -> Iterator[ImportedRow]:
        doc = read_json(lf)
        if not isinstance(doc, Mapping) or not isinstance(doc.get("labels"), Mapping):
            raise ImportFormatError(f'{lf}: expected {{"classes": [...], "labels": {{...}}}}')
        classes = [str(c) for c in doc.get("classes") or []]
        data = lf.parent / "data"
        by_stem: dict[str, str] = {}
        if data.is_dir():
            for dirpath, _dirs, names in os.walk(data):  # FiftyOne keys nested files by relative stem
                rel = os.path.relpath(dirpath, data)
                for n in sorted(names, reverse=True):
                    stem = os.path.splitext(n)[0]
                    by_stem[stem if rel == "." else f"{Path(rel).as_posix()}/{stem}"] = os.path.join(dirpath, n)
        maps = find_export_maps(lf.parent, levels=1)
        elsewhere: dict[Path, ExportMaps] = {}
        for uuid, target in doc["labels"].items():
            label = _label_of(target, classes, f"{lf}, {uuid}")
            carried = _carried(target)
            if carried is not None:
                yield ImportedRow(carried, label)
                continue
            if os.path.isabs(uuid):  # abs_paths=True: the key is the image file itself
                file = Path(uuid)
                where = elsewhere.get(file.parent)
                if where is None:
                    where = elsewhere[file.parent] = find_export_maps(file.parent, levels=2)
                yield ImportedRow(where.source_of(file), label)
                continue
            file = Path(by_stem.get(uuid, data / uuid))
            yield ImportedRow(maps.source_of(file), label)
