"""The grid's item model: 100,000 images without loading 100,000 rows.

On (re)load the model asks the store for the ordered *ids* that match the filter (one indexed
query, 8 bytes per image in an `array`), so the row count, the scroll bar and "select all" are
exact from the start. Row data is fetched in pages of `PAGE` ids by primary key when a view asks
for it (only visible tiles are asked for) and kept in a small LRU of pages; thumbnails come from
`ThumbnailService` and arrive later.
"""

from __future__ import annotations

import collections
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QPixmap

from db import ImageFilter, ImageRow
from desktop.thumbnails import ThumbnailService, cache_key

PAGE = 256
MAX_PAGES = 64  # ≈16k rows in memory at most

IdRole = Qt.ItemDataRole.UserRole + 1
RowRole = Qt.ItemDataRole.UserRole + 2  # ImageRow
ThumbRole = Qt.ItemDataRole.UserRole + 3  # QPixmap | None (None: not ready or unreadable)
ThumbErrorRole = Qt.ItemDataRole.UserRole + 4  # str | None
ClassNameRole = Qt.ItemDataRole.UserRole + 5  # current (decided, else predicted) class name


@dataclass(frozen=True, slots=True)
class Tile:
    """What one grid tile shows (hashable: the delegate caches rendered tiles by it)."""

    row: ImageRow | None
    thumb: QPixmap | None = None
    error: str | None = None
    class_name: str | None = None


class ImageGridModel(QAbstractListModel):
    """A read-only list of images matching `filter` in `sort` order."""

    def __init__(self, thumbnails: ThumbnailService | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.project: Any = None
        self.filter = ImageFilter()
        self.sort = "name"
        self.seed = 0
        self.thumbnails = thumbnails
        self.class_names: dict[int, str] = {}
        self._ids = array("q")
        self._pages: collections.OrderedDict[int, list[ImageRow | None]] = collections.OrderedDict()
        self._paths: dict[int, Path] = {}
        self._row_of: dict[int, int] = {}  # image id -> row, for rows in cached pages
        self.page_fetches = 0  # instrumentation for tests/benchmarks
        if thumbnails is not None:
            thumbnails.ready.connect(self._thumbnail_ready)

    # -- query ---------------------------------------------------------------------------------
    def set_project(self, project: Any) -> None:
        self.project = project
        self.reload_classes()
        self.reload()

    def reload(self) -> None:
        """Re-run the id query (filter/sort changed, images added): a model reset."""
        self.beginResetModel()
        ids = self.project.image_ids(self.filter, self.sort, seed=self.seed) if self.project is not None else []
        self._ids = array("q", ids)
        self._clear_pages()
        self.endResetModel()

    def reload_classes(self) -> None:
        self.class_names = self.project.class_names_by_id() if self.project is not None else {}
        self.refresh_rows()

    def refresh_rows(self, image_ids: list[int] | None = None) -> None:
        """Labels changed: re-read row data in place (order and count stay until `reload`)."""
        if not self._ids:
            return
        if image_ids:
            rows = [self._row_of[i] for i in image_ids if i in self._row_of]
            for page in {r // PAGE for r in rows}:
                self._pages.pop(page, None)
            for r in rows:
                ix = self.index(r)
                self.dataChanged.emit(ix, ix)
            return
        self._clear_pages()
        self.dataChanged.emit(self.index(0), self.index(len(self._ids) - 1))

    def _clear_pages(self) -> None:
        self._pages.clear()
        self._paths.clear()
        self._row_of.clear()

    # -- access --------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self._ids)

    def image_id(self, row: int) -> int:
        return int(self._ids[row])

    def id_slice(self, start: int, stop: int) -> list[int]:
        """Ids of rows start..stop-1, straight from the id array."""
        return self._ids[start:stop].tolist()

    def ids(self, rows: list[int] | None = None) -> list[int]:
        """Ids of `rows` (all when None) without fetching row data."""
        return list(self._ids) if rows is None else [int(self._ids[r]) for r in rows]

    def row_data(self, row: int) -> ImageRow | None:
        page = row // PAGE
        rows = self._pages.get(page)
        if rows is None:
            rows = self._fetch(page)
        else:
            self._pages.move_to_end(page)
        return rows[row - page * PAGE]

    def _fetch(self, page: int) -> list[ImageRow | None]:
        start = page * PAGE
        ids = [int(i) for i in self._ids[start : start + PAGE]]
        found = {r.id: r for r in self.project.images(ids)}
        self._paths.update(self.project.image_paths(ids))
        rows = [found.get(i) for i in ids]
        self._pages[page] = rows
        self._row_of.update((i, start + k) for k, i in enumerate(ids))
        self.page_fetches += 1
        while len(self._pages) > MAX_PAGES:
            old, old_rows = self._pages.popitem(last=False)
            for r in old_rows:
                if r is not None:
                    self._row_of.pop(r.id, None)
                    self._paths.pop(r.id, None)
        return rows

    def class_name(self, class_id: int | None) -> str | None:
        return None if class_id is None else self.class_names.get(class_id, f"#{class_id}")

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        if role == IdRole:
            return int(self._ids[index.row()])
        handler = _ROLES.get(role)
        if handler is None:
            return None
        row = self.row_data(index.row())
        return None if row is None else handler(self, row)

    def tile(self, row: int) -> Tile:
        """Everything a grid tile shows, in one call (the delegate's fast path)."""
        r = self.row_data(row)
        if r is None:
            return Tile(None)
        return Tile(r, self.thumbnail(r), self.thumbnail_error(r), self.class_name(r.current_class_id))

    # -- thumbnails -----------------------------------------------------------------------------
    def _thumb_key(self, row: ImageRow) -> str:
        return cache_key(row.id, row.content_hash, row.size)

    def thumbnail(self, row: ImageRow) -> Any:
        if self.thumbnails is None or row.status != "ok":
            return None
        path = self._paths.get(row.id)
        if path is None:
            return None
        return self.thumbnails.get(row.id, path, self._thumb_key(row))

    def thumbnail_error(self, row: ImageRow) -> str | None:
        if row.status != "ok":
            return row.error or row.status
        return None if self.thumbnails is None else self.thumbnails.error(self._thumb_key(row))

    def _thumbnail_ready(self, image_id: int) -> None:
        r = self._row_of.get(image_id)
        if r is not None and r < len(self._ids):
            ix = self.index(r)
            self.dataChanged.emit(ix, ix, [ThumbRole, ThumbErrorRole])


def _tooltip(model: ImageGridModel, row: ImageRow) -> str:
    lines = [f"<b>{row.rel_path}</b>"]
    if row.width and row.height:
        lines.append(f"{row.width}×{row.height} {row.format or ''} · {row.size / 1024:,.0f} KB")
    if row.status != "ok":
        lines.append(f"<span style='color:#d64545'>{row.status}: {row.error or ''}</span>")
    if row.pred_class_id is not None:
        lines.append(
            f"predicted: {model.class_name(row.pred_class_id)} (score {row.pred_score:.3f}, "
            f"margin {row.pred_margin:.3f})"
        )
    if row.review_status != "unreviewed":
        lines.append(f"{row.review_status}: {model.class_name(row.label_class_id) or '—'}")
    if row.imported_class_id is not None:
        lines.append(f"imported label: {model.class_name(row.imported_class_id)}")
    return "<br>".join(lines)


_ROLES: dict[int, Any] = {
    Qt.ItemDataRole.DisplayRole: lambda m, r: r.rel_path.rsplit("/", 1)[-1],
    Qt.ItemDataRole.ToolTipRole: _tooltip,
    RowRole: lambda m, r: r,
    ThumbRole: ImageGridModel.thumbnail,
    ThumbErrorRole: ImageGridModel.thumbnail_error,
    ClassNameRole: lambda m, r: m.class_name(r.current_class_id),
}
