"""Import labels for audit: read them with an importer plugin, match them to the project's images,
store them as imported labels (never as decisions), and report every path that matched nothing.

Paths are matched, in this order: the project path an export carried back (the importers read it
from lazlabel's own fields and file maps), the path relative to the image root (or absolute under
it, or relative to the label file), and last, for a file that exists (a tool's re-export with
copied images), by content: a project image with the same file name and the same bytes.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db.queries import ImageFilter
from plugins import registry
from plugins.importers.base import ImportFormatError
from workflows.errors import UserError
from workflows.imagefiles import hash_file
from workflows.scan import ensure_content_hash

MAX_CONTENT_MATCHES = 50_000  # unmatched files tried by content (one name lookup + one hash each)
_EXPORT_SUFFIX = re.compile(r"~\d+(-\d+)?$")  # what an export appends to keep same-named files apart


@dataclass
class ImportResult:
    """What an import did; `unmatched` lists every path that names no project image."""

    format: str
    path: Path
    source: str
    n_rows: int = 0
    n_matched: int = 0
    n_by_content: int = 0  # of n_matched: found by file name + content hash
    n_imported: int = 0
    n_no_label: int = 0
    replaced: int = 0
    duplicates: int = 0
    unknown_labels: int = 0
    created_classes: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def list_formats() -> dict[str, str]:
    """Import format name -> one-line description, from the installed plugins."""
    out = {}
    for name in registry.available(registry.IMPORTERS):
        try:
            out[name] = getattr(registry.load(registry.IMPORTERS, name), "description", "")
        except registry.PluginError as err:
            out[name] = f"(unavailable: {err})"
    return out


class PathMatcher:
    """Turns the paths a label file uses into candidate project paths (POSIX, relative to the root).

    Accepts paths relative to the image root (with or without `./`, with `\\` separators), absolute
    paths under the root (also through symlinks), and paths relative to the label file's folder.
    """

    def __init__(self, image_root: Path, label_dir: Path) -> None:
        self.roots = list(dict.fromkeys([os.path.abspath(image_root), os.path.realpath(image_root)]))
        self.label_dir = os.path.abspath(label_dir)

    def _under_root(self, abs_path: str, *, resolve: bool) -> list[str]:
        p = os.path.realpath(abs_path) if resolve else os.path.normpath(abs_path)
        out = []
        for root in self.roots:
            if p != root and os.path.commonpath([root, p]) == root:
                out.append(Path(os.path.relpath(p, root)).as_posix())
        return out

    @staticmethod
    def _clean(path: str) -> str:
        p = path.strip()
        return p.replace("\\", "/") if "\\" in p and "/" not in p else p

    def candidates(self, path: str) -> list[str]:
        """The cheap readings (no file-system calls): relative to the root, or absolute under it."""
        p = self._clean(path)
        if os.path.isabs(p):
            return self._under_root(p, resolve=False)
        norm = posixpath.normpath(p)
        return [norm] if norm not in (".", "..") and not norm.startswith("../") else []

    def fallbacks(self, path: str) -> list[str]:
        """Readings for paths the cheap ones missed: through symlinks, or relative to the label file."""
        p = self._clean(path)
        if os.path.isabs(p):
            return self._under_root(p, resolve=True)
        joined = os.path.join(self.label_dir, p)
        return list(
            dict.fromkeys(self._under_root(joined, resolve=False) + self._under_root(joined, resolve=True))
        )


def import_labels(
    project: Any,
    fmt: str,
    path: str | os.PathLike[str],
    *,
    create_classes: bool = True,
    source: str | None = None,
) -> ImportResult:
    """Read `path` with the `fmt` importer and store its labels as the imported labels of `source`
    (default: the format name), replacing an earlier import of the same source. Labels naming no
    class create one when `create_classes`. Nothing is written when the file is unreadable or when
    no path matches a project image."""
    fmt = registry.resolve(registry.IMPORTERS, fmt) or fmt  # "label-studio" is labelstudio
    try:
        importer = registry.load(registry.IMPORTERS, fmt)()
    except registry.PluginError as err:
        raise UserError(str(err)) from err
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist")
    source = source or fmt
    result = ImportResult(format=fmt, path=path, source=source)
    matcher = PathMatcher(project.image_root, path if path.is_dir() else path.parent)
    rows: list[tuple[str, list[str], str]] = []
    try:
        for row in importer.read(path):
            result.n_rows += 1
            if not row.label:
                result.n_no_label += 1
                continue
            rows.append((row.path, matcher.candidates(row.path), row.label))
    except ImportFormatError as err:
        raise UserError(str(err)) from err
    except OSError as err:
        raise UserError(f"cannot read {path}: {err}") from err
    except UnicodeDecodeError as err:  # a plugin that let it through: still the file's problem
        raise UserError(f"{path}: not UTF-8 text ({err.reason}); save it as UTF-8") from err
    except RecursionError as err:
        raise UserError(f"{path}: nested too deeply to read") from err
    if result.n_rows == 0:
        raise UserError(f"no labels found in {path} for format '{fmt}'")
    if not rows:
        raise UserError(f"the {result.n_rows} entries in {path} carry no label; nothing was imported")
    ids = project.image_ids_by_path([c for _, cands, _ in rows for c in cands])
    misses = [raw for raw, cands, _ in rows if not any(c in ids for c in cands)]
    if misses:  # second chance, with file-system calls, only for the paths the cheap readings missed
        more = {raw: matcher.fallbacks(raw) for raw in dict.fromkeys(misses)}
        ids.update(project.image_ids_by_path([c for cands in more.values() for c in cands]))
        rows = [(raw, cands + more.get(raw, []), label) for raw, cands, label in rows]
    matched: list[tuple[int, str]] = []
    left = [raw for raw, cands, _ in rows if not any(c in ids for c in cands)]
    by_content = _match_by_content(project, left, matcher.label_dir) if left else {}
    for raw, cands, label in rows:
        image_id = next((ids[c] for c in cands if c in ids), None)
        if image_id is None:
            image_id = by_content.get(raw)
            result.n_by_content += image_id is not None
        if image_id is None:
            result.unmatched.append(raw)
        else:
            matched.append((image_id, label))
    result.n_matched = len(matched)
    if not matched:
        raise UserError(
            f"none of the {len(rows)} labelled paths in {path} is an image of this project "
            f"(e.g. {result.unmatched[0]!r}); paths must be relative to the image root "
            f"{project.image_root} or absolute under it. Nothing was imported."
        )
    counts = project.add_imported_labels(matched, source, str(path), create_classes=create_classes)
    result.n_imported = counts.imported
    result.replaced = counts.replaced
    result.duplicates = counts.duplicates
    result.unknown_labels = counts.unknown_labels
    result.created_classes = list(counts.created_classes)
    return result


def _match_by_content(project: Any, raws: list[str], label_dir: str) -> dict[str, int]:
    """raw path -> image id for existing files whose name (less an export's `~id` suffix) is the
    name of a project image with the same bytes (the first such image)."""
    files: dict[str, tuple[str, str]] = {}  # raw -> (file, the name to look for)
    for raw in list(dict.fromkeys(raws))[:MAX_CONTENT_MATCHES]:
        p = raw.strip()
        file = p if os.path.isabs(p) else os.path.join(label_dir, p)
        if os.path.isfile(file):
            stem, ext = os.path.splitext(os.path.basename(file))
            files[raw] = (file, _EXPORT_SUFFIX.sub("", stem) + ext)
    if not files:
        return {}
    by_name = _images_by_name(project, {name for _, name in files.values()})
    wanted = sorted({i for _, name in files.values() for i in by_name.get(name, ())})
    if not wanted:
        return {}
    hashes = ensure_content_hash(project, wanted, workers=2)
    out: dict[str, int] = {}
    for raw, (file, name) in files.items():
        cands = by_name.get(name)
        if not cands:
            continue
        try:
            digest = hash_file(file)
        except OSError:
            continue
        same = [i for i in cands if hashes.get(i) == digest]
        if same:
            out[raw] = same[0]
    return out


def _images_by_name(project: Any, names: set[str]) -> dict[str, list[int]]:
    """file name -> ids of the project images with that name: one lookup per name for a few,
    one pass over all paths for many."""
    out: dict[str, list[int]] = {}
    if len(names) <= 50:
        rows = [r for n in names for r in project.images(project.image_ids(ImageFilter(text=n)))]
    else:
        rows = project.images(project.image_ids())
    for r in rows:
        name = posixpath.basename(r.rel_path)
        if name in names and r.id not in out.get(name, []):
            out.setdefault(name, []).append(r.id)
    return out
