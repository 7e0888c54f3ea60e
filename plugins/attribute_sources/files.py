"""File attribute sources: the DCLIP/LaZSL descriptor JSON and a two-column CSV.

Readers report malformed input with file:line:column and never guess silently: duplicate class
keys are an error (plain `json.load` would keep only the last one), and the file's class order is
returned in order for the caller to state that it used it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from plugins.attribute_sources.base import ClassAttributes, FileContents
from plugins.attribute_sources.errors import AttributeFileError
from plugins.csv_cells import neutralise_row, restore

_WS = re.compile(r"[ \t\n\r]*")


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise AttributeFileError(str(path), f"cannot read: {err.strerror or err}") from err
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        col = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise AttributeFileError(
            str(path), f"not UTF-8 text (byte 0x{data[err.start]:02x})", line, col
        ) from err


def _clean(s: str) -> str:
    return " ".join(s.split())


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _check_unique(path: Path, classes: list[ClassAttributes]) -> None:
    seen: dict[str, ClassAttributes] = {}
    for c in classes:
        key = c.name.casefold()
        if key in seen:
            first = seen[key]
            raise AttributeFileError(
                str(path),
                f"class {c.name!r} appears again (first at line {first.line}); class names must be unique "
                "(case-insensitive)",
                c.line,
            )
        seen[key] = c


class DescriptorJsonSource:
    """`{"class name": ["attribute", ...], ...}` as published with DCLIP and LaZSL."""

    name = "descriptor-json"
    suffixes = (".json",)
    description = 'descriptor JSON {"class": ["attribute", ...]} (DCLIP / LaZSL)'

    def read(self, path: Path) -> FileContents:
        path = Path(path)
        text = _decode(path)
        try:
            json.loads(text)
        except json.JSONDecodeError as err:
            raise AttributeFileError(str(path), f"invalid JSON: {err.msg}", err.lineno, err.colno) from err
        except RecursionError as err:
            raise AttributeFileError(str(path), "JSON nested too deeply to read") from err
        dec = json.JSONDecoder()
        pos = _WS.match(text, 0).end()
        if text[pos : pos + 1] != "{":
            line, col = _line_col(text, pos)
            raise AttributeFileError(
                str(path), 'expected an object {"class name": ["attribute", ...], ...}', line, col
            )
        pos = _WS.match(text, pos + 1).end()
        classes: list[ClassAttributes] = []
        warnings: list[str] = []
        line_at, line_no = 0, 1  # incremental line counting (one pass over the text)
        while text[pos] != "}":
            key_pos = pos
            key, pos = json.decoder.scanstring(text, pos + 1)
            pos = _WS.match(text, pos).end() + 1  # the ':'
            pos = _WS.match(text, pos).end()
            value, pos = dec.raw_decode(text, pos)
            line_no += text.count("\n", line_at, key_pos)
            line_at = key_pos
            line, col = line_no, key_pos - (text.rfind("\n", 0, key_pos) + 1) + 1
            name = _clean(key)
            if not name:
                raise AttributeFileError(str(path), "empty class name", line, col)
            if not isinstance(value, list):
                raise AttributeFileError(
                    str(path),
                    f"class {name!r}: expected a list of attribute texts, got {type(value).__name__}",
                    line,
                    col,
                )
            attrs = []
            for i, item in enumerate(value, 1):
                if not isinstance(item, str):
                    raise AttributeFileError(
                        str(path),
                        f"class {name!r}: item {i} is {type(item).__name__}, expected text",
                        line,
                        col,
                    )
                if _clean(item):
                    attrs.append(_clean(item))
                else:
                    warnings.append(f"line {line}: class {name!r}: empty item {i} skipped")
            classes.append(ClassAttributes(name, tuple(attrs), line))
            pos = _WS.match(text, pos).end()
            if text[pos] == ",":
                pos = _WS.match(text, pos + 1).end()
        _check_unique(path, classes)
        return FileContents(classes, warnings)

    def write(self, path: Path, classes: list[ClassAttributes]) -> None:
        data = {c.name: list(c.attributes) for c in classes}
        with open(path, "w", encoding="utf-8", newline="\n") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=4)
            fh.write("\n")


class CsvSource:
    """Two columns `class,attribute`, one attribute per row (header optional; a row with an
    empty attribute declares a class without attributes). UTF-8, Excel's BOM accepted. Cells
    that a spreadsheet would run as formulas are written with a leading `'`, which reading
    removes (`plugins.csv_cells`), so a round trip is exact."""

    name = "csv"
    suffixes = (".csv",)
    description = "CSV with columns class,attribute"

    HEADER = ("class", "attribute")

    def read(self, path: Path) -> FileContents:
        path = Path(path)
        text = _decode(path)
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        order: list[str] = []
        found: dict[str, tuple[str, list[str], int]] = {}
        warnings: list[str] = []
        try:
            for row in reader:
                line = reader.line_num
                cells = [restore(c.strip()) for c in row]
                if not any(cells):
                    continue
                if line == 1 and tuple(c.casefold() for c in cells[:2]) == self.HEADER:
                    continue
                if len(cells) > 2 and any(cells[2:]):
                    raise AttributeFileError(
                        str(path), f"expected 2 columns (class,attribute), found {len(cells)}", line
                    )
                name = _clean(cells[0])
                attr = _clean(cells[1]) if len(cells) > 1 else ""
                if not name:
                    raise AttributeFileError(str(path), "empty class name", line, 1)
                key = name.casefold()
                if key not in found:
                    found[key] = (name, [], line)
                    order.append(key)
                elif found[key][0] != name:
                    warnings.append(f"line {line}: {name!r} taken as class {found[key][0]!r}")
                if attr:
                    found[key][1].append(attr)
        except csv.Error as err:
            raise AttributeFileError(str(path), f"malformed CSV: {err}", reader.line_num) from err
        return FileContents(
            [ClassAttributes(found[k][0], tuple(found[k][1]), found[k][2]) for k in order], warnings
        )

    def write(self, path: Path, classes: list[ClassAttributes]) -> None:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(self.HEADER)
            for c in classes:
                if not c.attributes:
                    w.writerow(neutralise_row([c.name, ""]))
                for a in c.attributes:
                    w.writerow(neutralise_row([c.name, a]))


def read_class_list(path: Path) -> FileContents:
    """A plain text file of class names, one per line (`#` starts a comment)."""
    path = Path(path)
    text = _decode(path)
    classes = []
    for i, raw in enumerate(text.splitlines(), 1):
        name = _clean(raw.split("#", 1)[0]) if raw.lstrip().startswith("#") else _clean(raw)
        if name:
            classes.append(ClassAttributes(name, (), i))
    _check_unique(path, classes)
    return FileContents(classes)
