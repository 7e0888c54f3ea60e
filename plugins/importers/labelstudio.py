"""Labels from a Label Studio export (or lazlabel's own tasks.json): the newest annotation's choice
per task. Reads the full JSON export and the flat JSON-MIN one. Predictions are not labels and are
ignored; cancelled annotations too."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from plugins.importers.base import IMAGE_SUFFIXES, ImportedRow, ImportFormatError, find_export_maps, read_json

LOCAL_FILES = "/data/local-files/"
CARRIED = "lazlabel_"  # task data fields lazlabel writes (lazlabel_path: the image's project path)


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


#: JSON-MIN keys that are annotation bookkeeping, never the image or the label.
MIN_META = frozenset({"id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "agreement",
                      "annotations", "predictions", "drafts", "total_annotations", "cancelled_annotations"})
#: Control names tried first when a JSON-MIN row has several candidate label fields.
LABEL_KEYS = ("choice", "choices", "label", "labels", "class", "category", "taxonomy")


def _looks_like_image(v: Any) -> bool:
    if not isinstance(v, str) or not v:
        return False
    return v.startswith(("/data/", "http://", "https://", "s3://", "gs://", "file:")) or \
        Path(urlparse(v).path).suffix.lower() in IMAGE_SUFFIXES


def _min_value(v: Any) -> str | None:
    """A JSON-MIN label value: "cat", ["cat"], {"choices": ["cat"]} or a taxonomy path → "cat"."""
    if isinstance(v, Mapping):
        v = v.get("choices", v.get("taxonomy"))
    if isinstance(v, list):
        if not v:
            return None
        v = v[0]
        if isinstance(v, list):  # taxonomy: the path's leaf
            v = v[-1] if v else None
    return str(v).strip() if isinstance(v, (str, int, float)) else None


def _read_min(rows: list[Any], path: Path) -> Iterator[tuple[str, str, tuple]]:
    """(image ref, label, recency) per JSON-MIN row: flat objects holding the task's data fields, the
    label under its control tag's name, and who/when. Rows of one task repeat its id."""
    if not rows:
        return
    image_key = None
    for key in ("image", "img", "url", "image_url"):
        if any(isinstance(r, Mapping) and _looks_like_image(r.get(key)) for r in rows):
            image_key = key
            break
    if image_key is None:
        keys = {k for r in rows if isinstance(r, Mapping) for k, v in r.items()
                if _looks_like_image(v) and not str(k).startswith(CARRIED)}
        if len(keys) != 1:
            raise ImportFormatError(f"{path}: JSON-MIN rows have no single image field (found {sorted(keys) or 'none'})")
        image_key = keys.pop()
    candidates: set[str] = set()
    for r in rows:
        if isinstance(r, Mapping):
            candidates |= {k for k, v in r.items()
                           if k not in MIN_META and not str(k).startswith(CARRIED) and k != image_key
                           and not _looks_like_image(v) and _min_value(v) is not None}
    label_key = next((k for k in LABEL_KEYS if k in candidates), None)
    if label_key is None and len(candidates) > 1:
        raise ImportFormatError(f"{path}: JSON-MIN rows have several possible label fields "
                                f"({', '.join(sorted(candidates))}); keep one of them")
    label_key = label_key or (candidates.pop() if candidates else None)
    for n, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise ImportFormatError(f"{path}: row #{n} is not an object")
        label = _min_value(r.get(label_key)) if label_key else None
        ann = r.get("annotation_id")
        recency = (str(r.get("updated_at") or r.get("created_at") or ""), int(str(ann)) if str(ann).isdigit() else 0)
        ref = {"lazlabel_path": r.get("lazlabel_path"), "image": r.get(image_key) or ""}
        yield _image_ref(ref), label or "", recency


class LabelStudioImporter:
    name = "labelstudio"
    description = "Label Studio JSON / JSON-MIN export, tasks.json: the newest annotation's choice per task"

    def read(self, path: Path) -> Iterator[ImportedRow]:
        path = Path(path)
        if path.is_dir():
            path = path / "tasks.json"
        tasks = read_json(path)
        if isinstance(tasks, Mapping):
            tasks = [tasks]
        if not isinstance(tasks, list):
            raise ImportFormatError(f"{path}: expected a list of tasks")
        maps = find_export_maps(path.parent, levels=0)
        if tasks and all(isinstance(t, Mapping) and "data" not in t for t in tasks):  # JSON-MIN
            newest: dict[str, tuple[str, tuple]] = {}
            carried = {str(t.get("lazlabel_path")) for t in tasks if t.get("lazlabel_path")}
            for ref, label, recency in _read_min(tasks, path):
                if maps.root is not None and ref not in carried:
                    ref = maps.source_of(maps.root / ref)
                old = newest.get(ref)
                if old is None or (label and (not old[0] or recency >= old[1])):
                    newest[ref] = (label, recency)
            for ref, (label, _) in newest.items():
                yield ImportedRow(ref, label)
            return
        for n, task in enumerate(tasks):
            if not isinstance(task, Mapping) or not isinstance(task.get("data"), Mapping):
                raise ImportFormatError(f"{path}: task #{n} has no 'data' object")
            ref = _image_ref(task["data"])
            if not task["data"].get("lazlabel_path") and maps.root is not None:
                ref = maps.source_of(maps.root / ref)
            yield ImportedRow(ref, _newest_label(task))
