"""Browser logic: keeps the grid model in step with the project, the filter bar and the context."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QObject, QTimer, Signal

from desktop.browser.model import ImageGridModel
from desktop.context import AppContext
from desktop.models.browser import BrowserQuery
from desktop.signals import listen
from desktop.thumbnails import ThumbnailService

FULL_RELOAD_AT = 500  # a labels_changed with more ids than this reloads (e.g. after a pre-label)


class BrowserController(QObject):
    """Owns the model and the thumbnail service; the view only renders and forwards input."""

    counts_changed = Signal(int, int, int)  # shown, total in project, selected

    def __init__(self, ctx: AppContext, thumb_px: int = 160, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.thumb_px = thumb_px
        self.thumbnails: ThumbnailService | None = None
        self.model = ImageGridModel(None, self)
        self.selection_model = QItemSelectionModel(self.model, self)
        self.selection_model.selectionChanged.connect(lambda *_: self._sel_timer.start())
        self.query = BrowserQuery()
        self.query.events.changed.connect(self._query_changed)
        self.total = 0
        self.dirty = False  # labels changed while hidden or beyond FULL_RELOAD_AT: reload on show
        self.visible = True
        self._sel_timer = QTimer(self, singleShot=True, interval=80)
        self._sel_timer.timeout.connect(self._publish_selection)
        listen(ctx.project_changed, self, self._project_changed)
        listen(ctx.images_changed, self, self.reload)
        listen(ctx.labels_changed, self, self._labels_changed)
        listen(ctx.classes_changed, self, self._classes_changed)

    # -- project ---------------------------------------------------------------------------------
    def _project_changed(self) -> None:
        if self.thumbnails is not None:
            self.thumbnails.shutdown(2000)
            self.thumbnails.deleteLater()
            self.thumbnails = None
        p = self.ctx.project
        if p is not None:
            self.thumbnails = ThumbnailService(p.cache_dir, self.thumb_px, self)
            self.thumbnails.ready.connect(self.model._thumbnail_ready)
        self.model.thumbnails = self.thumbnails
        self.query.events.changed.blocked = True
        self.query.reset()
        self.query.events.changed.blocked = False
        self.model.filter = self.query.query.to_filter()
        self.model.sort = self.query.query.sort
        self.model.set_project(p)
        self._after_reload()

    def reload(self) -> None:
        """Re-run the query keeping the selection where those images are still shown."""
        if self.ctx.project is None:
            return
        keep = set(self.selected_ids())
        self.model.reload()
        self.dirty = False
        if keep:
            self.select_ids(keep)
        self._after_reload()

    def _after_reload(self) -> None:
        p = self.ctx.project
        self.total = p.count_images() if p is not None else 0
        self._emit_counts()

    def _labels_changed(self, ids: list[Any]) -> None:
        if not ids or len(ids) > FULL_RELOAD_AT:
            if self.visible:
                self.reload()
            else:
                self.dirty = True
            return
        self.model.refresh_rows([int(i) for i in ids])

    def _classes_changed(self) -> None:
        self.model.reload_classes()

    # -- filters -----------------------------------------------------------------------------------
    def set_filters(
        self,
        status: str | None = None,
        class_id: int | None | str = "keep",
        imported: str | int | None = None,
        text: str | None = None,
        sort: str | None = None,
    ) -> None:
        """Change any of the filter menus (others stay) and re-query."""
        changes: dict[str, object] = {}
        if status is not None:
            changes["status"] = status
        if class_id != "keep":
            changes["class_id"] = class_id
        if imported is not None:
            changes["imported"] = imported
        if text is not None:
            changes["text"] = text
        if sort is not None:
            changes["sort"] = sort
        if not self.query.update(**changes):
            self.reload()

    def _query_changed(self, event) -> None:
        self.model.filter = event.value.to_filter()
        self.model.sort = event.value.sort
        self.reload()

    # the menus' state, read through the controller
    status = property(lambda self: self.query.query.status)
    class_id = property(lambda self: self.query.query.class_id)
    imported = property(lambda self: self.query.query.imported)
    text = property(lambda self: self.query.query.text)

    # -- selection ---------------------------------------------------------------------------------
    def selected_rows(self) -> list[int]:
        rows: list[int] = []
        for rng in self.selection_model.selection():
            rows.extend(range(rng.top(), rng.bottom() + 1))
        return sorted(set(rows))

    def selected_ids(self) -> list[int]:
        ranges = [(r.top(), r.bottom()) for r in self.selection_model.selection()]
        if len(ranges) == 1:  # one block (select all, shift-click): a slice of the id array
            return self.model.id_slice(ranges[0][0], ranges[0][1] + 1)
        return self.model.ids(self.selected_rows())

    def selected_count(self) -> int:
        ranges = [(r.top(), r.bottom()) for r in self.selection_model.selection()]
        if len(ranges) == 1:
            return ranges[0][1] - ranges[0][0] + 1
        return len(self.selected_rows())

    def select_ids(self, ids: set[int] | list[int]) -> None:
        wanted = set(ids)
        sel = QItemSelection()
        for row, image_id in enumerate(self.model.ids()):
            if image_id in wanted:
                ix = self.model.index(row)
                sel.select(ix, ix)
        self.selection_model.select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def select_all(self) -> None:
        n = self.model.rowCount()
        if n:
            sel = QItemSelection(self.model.index(0), self.model.index(n - 1))
            self.selection_model.select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _publish_selection(self) -> None:
        ids = self.selected_ids()
        self.ctx.set_selection(ids)
        self._emit_counts()

    def _emit_counts(self) -> None:
        self.counts_changed.emit(self.model.rowCount(), self.total, self.selected_count())

    def open_row(self, row: int, screen: str = "review") -> None:
        if 0 <= row < self.model.rowCount():
            self.ctx.open_image(self.model.image_id(row), screen)
