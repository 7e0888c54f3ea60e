"""Labels from a Label Studio JSON export (or lazlabel's own tasks.json): the newest annotation's
choice per task. Predictions are not labels and are ignored; cancelled annotations too."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from plugins.importers.base import ImportedRow, ImportFormatError, find_export_maps

LOCAL_FILES = "/data/local-files/"


def _image_ref(data: Mapping[str, Any]) -> str:
    """The task's image path: lazlabel's own source path, else the image URL made into a path."""
    if data.get("lazlabel_path"):
        return str(data["lazlabel_path"])
    ref = data.get("image")
    if ref is None:
        ref = next((v for v in data.values() if isinstance(v, str)), "")
    ref = str(ref)
    u = urlparse(ref)
    if u.path.startswith(LOCAL_FILES) and "d" in parse_qs(u.query):
        return parse_qs(u.query)["d"][0]
    if u.scheme in ("file",):
        return unquote(u.path)
    return unquote(u.path) if u.scheme in ("http", "https") or ref.startswith("/data/") else ref


def _choice(annotation: Mapping[str, Any]) -> str | None:
    for r in annotation.get("result") or []:
        if isinstance(r, Mapping) and r.get("type") in ("choices", "taxonomy"):
            choices = (r.get("value") or {}).get(r.get("type")) or []
            if choices:
                c = choices[0]
                return str(c[-1] if isinstance(c, list) else c)
    return None


def _newest_label(task: Mapping[str, Any]) -> str:
    anns = [a for a in task.get("annotations") or [] if isinstance(a, Mapping) and not a.get("was_cancelled")]
    anns.sort(key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), a.get("id") or 0))
    for a in reversed(anns):
        c = _choice(a)
        if c is not None:
            return c.strip()
    return ""


class LabelStudioImporter:
    name = "labelstudio"
    description = "Label Studio JSON export / tasks.json: the newest annotation's choice per task"

    def read(self, path: Path) -> Iterator[ImportedRow]:
        path = Path(path)
        if path.is_dir():
            path = path / "tasks.json"
        try:
            tasks = json.loads(path.read_text(encoding="utf-8-sig"))
        except (OSError, ValueError) as err:
            raise ImportFormatError(f"{path}: not a readable JSON file ({err})") from err
        if isinstance(tasks, Mapping):
            tasks = [tasks]
        if not isinstance(tasks, list):
            raise ImportFormatError(f"{path}: expected a list of tasks")
        maps = find_export_maps(path.parent, levels=0)
        for n, task in enumerate(tasks):
            if not isinstance(task, Mapping) or not isinstance(task.get("data"), Mapping):
                raise ImportFormatError(f"{path}: task #{n} has no 'data' object")
            ref = _image_ref(task["data"])
            if not task["data"].get("lazlabel_path") and maps.root is not None:
                ref = maps.source_of(maps.root / ref)
            yield ImportedRow(ref, _newest_label(task))
