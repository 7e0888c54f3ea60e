"""Import labels for audit: read them with an importer plugin, match them to the project's images,
store them as imported labels (never as decisions), and report every path that matched nothing."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plugins import registry
from plugins.importers.base import ImportFormatError
from workflows.errors import UserError


@dataclass
class ImportResult:
    """What an import did; `unmatched` lists every path that names no project image."""

    format: str
    path: Path
    source: str
    n_rows: int = 0
    n_matched: int = 0
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
    for raw, cands, label in rows:
        image_id = next((ids[c] for c in cands if c in ids), None)
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
