"""Reading exports back: the manifest and file map every lazlabel export carries."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from plugins.exporters.base import FILE_MAP_NAME, MANIFEST_NAME
from workflows.export import export
from workflows.progress import drive


def run_export(project, fmt, out, **kw):
    return drive(export(project, fmt, out, **kw))


def manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))


def folder_names(out: Path) -> dict[str, str]:
    """class folder -> class name, from the manifest."""
    return {c["folder"]: c["name"] for c in manifest(out)["classes"]}


def file_map(out: Path) -> dict[str, str]:
    """exported file (POSIX, relative to out) -> source path (relative to the image root)."""
    with open(out / FILE_MAP_NAME, encoding="utf-8", newline="") as f:
        return {r["file"]: r["source_path"] for r in csv.DictReader(f)}
