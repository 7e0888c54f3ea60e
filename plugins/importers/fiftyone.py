"""Labels from a FiftyOne image-classification dataset (`labels.json` beside a `data/` folder)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from plugins.importers.base import ImportedRow, ImportFormatError, find_export_maps


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


class FiftyOneImporter:
    """`FiftyOneImageClassificationDataset`: `{"classes": [...], "labels": {uuid: target}}` where a
    target is a class index, a name or `{"label": ..., "confidence": ...}`; images are `data/<uuid>.*`.

    PATH may be the labels.json file, its folder, or an export root whose split folders each hold one.
    """

    name = "fiftyone"
    description = "FiftyOne image classification labels.json (+ data/ images)"

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
        try:
            doc = json.loads(lf.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as err:
            raise ImportFormatError(f"{lf}: not a readable JSON file ({err})") from err
        if not isinstance(doc, Mapping) or not isinstance(doc.get("labels"), Mapping):
            raise ImportFormatError(f'{lf}: expected {{"classes": [...], "labels": {{...}}}}')
        classes = [str(c) for c in doc.get("classes") or []]
        data = lf.parent / "data"
        by_stem = {}
        if data.is_dir():
            by_stem = {os.path.splitext(n)[0]: n for n in sorted(os.listdir(data), reverse=True)}
        maps = find_export_maps(lf.parent, levels=1)
        for uuid, target in doc["labels"].items():
            fname = by_stem.get(uuid, uuid)
            yield ImportedRow(maps.source_of(data / fname), _label_of(target, classes, f"{lf}, {uuid}"))
