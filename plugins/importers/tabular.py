"""Labels from CSV and JSON Lines files (lazlabel's own exports and most hand-made label lists)."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from plugins.csv_cells import restore
from plugins.importers.base import ImportedRow, ImportFormatError, loads

PATH_KEYS = ("path", "file", "filename", "file_name", "filepath", "image", "image_path", "img")
LABEL_KEYS = ("label", "class", "class_name", "category", "target", "annotation")


def _pick(keys: Sequence[str], wanted: Sequence[str], what: str, where: Path) -> str:
    folded = {k.strip().casefold(): k for k in keys if isinstance(k, str)}
    for w in wanted:
        if w in folded:
            return folded[w]
    raise ImportFormatError(
        f"{where}: no {what} column (looked for {', '.join(wanted)}; found {', '.join(map(str, keys)) or 'none'})"
    )


def _text(v: Any) -> str:
    return "" if v is None else str(v).strip()


def _cell(v: Any) -> str:
    """A CSV cell as text, with lazlabel's formula-injection guard undone (`plugins.csv_cells`)."""
    return restore(_text(v))


class CsvImporter:
    """A CSV with a header row naming a path column (path/file/filename/image...) and a label column
    (label/class/category...). Comma, semicolon or tab separated; UTF-8 with or without BOM.
    A leading `'` that lazlabel's CSV writers put before formula characters is removed again."""

    name = "csv"
    description = "CSV with a header: path and label columns (lazlabel's labels.csv reads back)"

    def read(self, path: Path) -> Iterator[ImportedRow]:
        path = Path(path)
        try:
            f = open(path, encoding="utf-8-sig", newline="")
        except OSError as err:
            raise ImportFormatError(f"cannot read {path}: {err.strerror or err}") from err
        with f:
            try:
                head = f.read(65536)
            except UnicodeDecodeError as err:
                raise ImportFormatError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8") from err
            f.seek(0)
            try:  # only the delimiter is guessed: quotes stay '"' (a neutralised '=x cell is no quote)
                delimiter = csv.Sniffer().sniff(head, delimiters=",;\t").delimiter
            except csv.Error:
                delimiter = ","
            reader = csv.DictReader(f, delimiter=delimiter)
            try:
                fields = reader.fieldnames or []
                pcol = _pick(fields, PATH_KEYS, "path", path)
                lcol = _pick(fields, LABEL_KEYS, "label", path)
                for row in reader:
                    p = _cell(row.get(pcol))
                    if p:
                        yield ImportedRow(p, _cell(row.get(lcol)))
            except UnicodeDecodeError as err:
                raise ImportFormatError(
                    f"{path}, after line {reader.line_num}: not UTF-8 text ({err.reason}); save it as UTF-8"
                ) from err
            except csv.Error as err:
                raise ImportFormatError(f"{path}, line {reader.line_num}: {err}") from err


class JsonlImporter:
    """JSON Lines: one object per line with a path key (path/file_name/image...) and a label key."""

    name = "jsonl"
    description = "JSON Lines: one object per line with path and label (lazlabel's labels.jsonl reads back)"

    def read(self, path: Path) -> Iterator[ImportedRow]:
        path = Path(path)
        try:
            f = open(path, encoding="utf-8-sig")
        except OSError as err:
            raise ImportFormatError(f"cannot read {path}: {err.strerror or err}") from err
        keys: tuple[str, str] | None = None
        with f:
            try:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    obj = loads(line, f"{path}, line {n}")
                    if not isinstance(obj, Mapping):
                        raise ImportFormatError(
                            f"{path}, line {n}: expected an object, got {type(obj).__name__}"
                        )
                    if keys is None:
                        keys = (
                            _pick(list(obj), PATH_KEYS, "path", path),
                            _pick(list(obj), LABEL_KEYS, "label", path),
                        )
                    p = _text(obj.get(keys[0]))
                    if p:
                        yield ImportedRow(p, _text(obj.get(keys[1])))
            except UnicodeDecodeError as err:
                raise ImportFormatError(f"{path}: not UTF-8 text ({err.reason})") from err
