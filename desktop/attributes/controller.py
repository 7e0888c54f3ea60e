"""Classes & attributes editing logic: every edit is one store call, then a refresh.

Edits are logged by the store with the reviewer's name. After an edit that changes the attribute
set, the controller previews the instant re-score (features are cached, so it is quick) and says
how many labels it would change; `apply_rescore()` writes it. Opening a project (or showing the
screen) only offers the re-score when the labels are stale: it starts no worker by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.attributes import service
from desktop.models.attributes import AttributeEditorModel
from desktop.signals import listen
from workflows.errors import is_user_error

PREVIEW_DELAY_MS = 700  # wait for a burst of edits to settle before previewing the re-score


class AttributesController(QObject):
    """State of the editor: the class list, the current class's attributes, the version."""

    classes_loaded = Signal(list)  # [ClassRow]
    attributes_loaded = Signal(object, list)  # class id | None, [AttributeRow]
    version_changed = Signal(str, object)  # current version, version of the last run (or None)
    rescore_state = Signal(str, str)  # state (idle/stale/previewing/preview/applying/error), text
    notice = Signal(str)
    task_started = Signal(object, str)  # worker, title (the view shows an inline progress strip)
    weights_loaded = Signal(object, object)  # dicts: learned weight by attribute id, and the unhelpful ones (issue #17)

    def __init__(self, ctx: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = AttributeEditorModel()
        self.preview_result: Any = None
        self.weights: dict[int, float] = {}  # attribute id -> learned weight (learning run in use)
        self.unhelpful: dict[int, float] = {}  # of them, those near zero or negative
        self._preview_version: str | None = None  # attribute-set version the preview is about
        self._preview_worker: Any = None
        self._preview_timer = QTimer(self)
        self._preview_timer.setSingleShot(True)
        self._preview_timer.setInterval(PREVIEW_DELAY_MS)
        self._preview_timer.timeout.connect(self.preview_rescore)
        self.auto_preview = True
        listen(ctx.project_changed, self, self._project_changed)
        listen(ctx.labels_changed, self, self._labels_changed)

    # the editor's state lives in the Qt-free model (desktop/models/attributes.py)
    classes = property(lambda self: self.model.classes, lambda self, v: setattr(self.model, "classes", v))
    current = property(lambda self: self.model.current, lambda self, v: setattr(self.model, "current", v))
    attributes = property(lambda self: self.model.attributes, lambda self, v: setattr(self.model, "attributes", v))
    version = property(lambda self: self.model.version, lambda self, v: setattr(self.model, "version", v))
    run_version = property(lambda self: self.model.run_version, lambda self, v: setattr(self.model, "run_version", v))

    def _labels_changed(self, ids: list) -> None:
        """A run ended (labels_changed with no ids): the run status line follows at once."""
        if not ids and self.project is not None:
            self._load_version()

    @property
    def project(self) -> Any:
        return self.ctx.project

    @property
    def who(self) -> str:
        return self.ctx.reviewer

    # -- loading ---------------------------------------------------------------------------------
    def _project_changed(self) -> None:
        """A project opened or closed: forget the last one's pending preview, then reload."""
        self._preview_timer.stop()
        if self._preview_worker is not None:
            self._preview_worker.cancel()
            self._preview_worker = None
        self.preview_result = None
        self._preview_version = None
        self.refresh()

    def _refresh_after_edit(self) -> None:
        self.refresh(edited=True)

    def refresh(self, *, edited: bool = False) -> None:
        """Reload classes, the current class's attributes and the versions; `edited`: after an
        edit of this screen (only then is the re-score previewed by itself)."""
        if self.project is None:
            self.classes, self.attributes, self.current = [], [], None
            self.classes_loaded.emit([])
            self.attributes_loaded.emit(None, [])
            self.version_changed.emit("", None)
            return
        try:
            self.classes = list(self.project.list_classes())
        except Exception as err:  # noqa: BLE001
            self.ctx.show_error("Could not list the classes", err)
            return
        ids = [c.id for c in self.classes]
        if self.current not in ids:
            self.current = ids[0] if ids else None
        self.model.events.classes.emit(self.classes)
        self.classes_loaded.emit(self.classes)
        self._load_weights()
        self._load_attributes()
        self._load_version(edited=edited)

    def _load_weights(self) -> None:
        """The learned weights of the learning run the images show (none at zero-shot)."""
        try:
            self.weights, self.unhelpful = service.learned_weights(self.project)
        except Exception as err:  # noqa: BLE001 - the editor works without them
            self.weights, self.unhelpful = {}, {}
            self.notice.emit(f"learned weights unavailable: {err}")
        self.weights_loaded.emit(self.weights, self.unhelpful)

    def select_class(self, class_id: int | None) -> None:
        if class_id != self.current:
            self.current = class_id
            self._load_attributes()

    def _load_attributes(self) -> None:
        self.attributes = list(self.project.list_attributes(self.current)) if self.current is not None else []
        self.model.set_attributes(self.attributes)
        self.attributes_loaded.emit(self.current, self.attributes)

    def _load_version(self, *, edited: bool = False) -> None:
        try:
            self.version = self.project.attribute_set_version()
            self.run_version = service.last_run_version(self.project)
        except Exception as err:  # noqa: BLE001
            self.ctx.show_error("Could not read the attribute-set version", err)
            return
        self.model.set_version(self.version, self.run_version)
        self.version_changed.emit(self.version, self.run_version)
        if self.run_version is None:
            self.rescore_state.emit("idle", "no pre-label run yet: run one (Run ▸ Pre-label) to see labels")
        elif self.run_version == self.version:
            self.rescore_state.emit("idle", "labels are up to date with these attributes")
        elif self._preview_version == self.version and self._preview_worker is not None:
            self.rescore_state.emit("previewing", "re-scoring the cached features…")
        elif self._preview_version == self.version and self.preview_result is not None:
            self.rescore_state.emit("preview", service.describe_changes(self.project, self.preview_result))
        else:
            self.rescore_state.emit("stale", "attributes changed since the labels were computed")
            if edited and self.auto_preview:
                self._preview_timer.start()

    # -- edits -------------------------------------------------------------------------------------
    def _edit(self, what: str, call: Callable[[], Any], *, classes: bool = False) -> Any:
        """Run one store edit; on success refresh and tell the other screens."""
        try:
            out = call()
        except Exception as err:  # noqa: BLE001
            if is_user_error(err):
                self.notice.emit(f"{what}: {err}")
            else:
                self.ctx.show_error(what, err)
            # show the store's state again (an in-place edit left the rejected text on screen);
            # deferred: the edit may have come from inside the list's own itemChanged signal
            QTimer.singleShot(0, self.refresh)
            return None
        self.refresh(edited=True)
        if classes:
            self.ctx.classes_changed.emit()
        return True if out is None else out

    def add_class(self, name: str) -> int | None:
        """Add one class through `workflows.attributes.add_classes`; its warnings (a name that
        looks like another class, what normalisation changed) go to the notice line."""
        added = self._edit("Add class", lambda: service.add_classes(self.project, [name], who=self.who),
                           classes=True)
        if not added or not getattr(added, "ids", None):
            return None
        cid = int(added.ids[0])
        self.select_class(cid)
        self._warn(f"added class {added.names[0]!r}", added.warnings)
        return cid

    def rename_class(self, class_id: int, name: str) -> bool:
        warnings = self._edit("Rename class", lambda: service.rename_class(self.project, class_id, name, who=self.who),
                              classes=True)
        if warnings is None:
            return False
        if isinstance(warnings, list):
            self._warn(f"renamed to {name!r}", warnings)
        return True

    def _warn(self, done: str, warnings: Sequence[str]) -> None:
        """Say what was done, with the use case's warnings; the warnings also reach the status bar."""
        if warnings:
            text = f"{done}; warning: " + "; ".join(warnings)
            self.notice.emit(text)
            self.ctx.show_status(text, 15000)
        else:
            self.notice.emit(done)

    def merge_classes(self, src_ids: Sequence[int], dst_id: int) -> bool:
        src = [i for i in src_ids if i != dst_id]
        ok = self._edit("Merge classes", lambda: self.project.merge_classes(src, dst_id, who=self.who),
                        classes=True)
        if ok:
            self.select_class(dst_id)
            self.ctx.labels_changed.emit([])  # labels moved to the target class
        return bool(ok)

    def class_usage(self, class_id: int) -> dict[str, int]:
        """What deleting a class would touch (decisions, predictions, imported labels...)."""
        try:
            return dict(self.project.class_usage(class_id))
        except Exception:  # noqa: BLE001 - only used to word a confirmation
            return {}

    def delete_class(self, class_id: int, force: bool = False) -> bool:
        ok = self._edit("Delete class", lambda: self.project.delete_class(class_id, who=self.who, force=force),
                        classes=True)
        if ok:
            self.ctx.labels_changed.emit([])
        return bool(ok)

    def add_attribute(self, text: str, class_id: int | None = None) -> int | None:
        cid = class_id if class_id is not None else self.current
        if cid is None:
            self.notice.emit("add a class first")
            return None
        aid = self._edit("Add attribute", lambda: self.project.add_attribute(cid, text, "manual", who=self.who))
        return aid if isinstance(aid, int) and not isinstance(aid, bool) else None

    def edit_attribute(self, attr_id: int, text: str) -> bool:
        return bool(self._edit("Edit attribute", lambda: self.project.edit_attribute(attr_id, text, who=self.who)))

    def delete_attribute(self, attr_id: int) -> bool:
        return bool(self._edit("Delete attribute", lambda: self.project.delete_attribute(attr_id, who=self.who)))

    def set_active(self, attr_id: int, active: bool) -> bool:
        return bool(self._edit(
            "Enable attribute" if active else "Disable attribute",
            lambda: self.project.set_attribute_active(attr_id, active, who=self.who),
        ))

    def reorder(self, attr_ids: Sequence[int]) -> bool:
        if self.current is None:
            return False
        cid = self.current
        return bool(self._edit("Reorder attributes",
                               lambda: self.project.reorder_attributes(cid, list(attr_ids), who=self.who)))

    def move(self, attr_id: int, delta: int) -> bool:
        """Move one attribute up (-1) or down (+1) in its class's list."""
        ids = [a.id for a in self.attributes]
        if attr_id not in ids:
            return False
        i = ids.index(attr_id)
        j = max(0, min(len(ids) - 1, i + delta))
        if i == j:
            return False
        ids.insert(j, ids.pop(i))
        return self.reorder(ids)

    # -- LLM, files -----------------------------------------------------------------------------
    def propose(self, class_ids: Sequence[int], *, replace: bool = False) -> Any:
        """Ask the LLM for the attributes of these classes, as a cancellable task (`replace`: the
        proposals replace the classes' attributes instead of being added)."""
        ids = list(class_ids)
        if not ids:
            self.notice.emit("no class to propose attributes for")
            return None
        title = f"{'Re-propose' if replace else 'Propose'} attributes for {len(ids)} class(es)"
        worker = self.ctx.run_task(title, service.propose_task(self.project, ids, replace=replace), self._proposed)
        worker.done.connect(self._refresh_after_edit)  # also after an error or cancel: keep what was written
        self.task_started.emit(worker, title)
        return worker

    def _proposed(self, result: Any) -> None:
        saved = list(getattr(result, "saved", []))
        failures = list(getattr(result, "failures", []))
        parts = [f"{getattr(result, 'model', 'the LLM')} proposed attributes for {len(saved)} class(es)"]
        if getattr(result, "skipped", None):
            parts.append(f"{len(result.skipped)} skipped (already had attributes)")
        if failures:
            parts.append(f"{len(failures)} failed")
        self.notice.emit("; ".join(parts))
        if failures:
            self.ctx.show_error(
                "Some classes got no attributes", "\n".join(f"{name}: {reason}" for name, reason in failures)
            )
        self.ctx.classes_changed.emit()

    def import_file(self, path: str | Path) -> bool:
        out = self._edit("Import attributes", lambda: service.import_attributes(self.project, path), classes=True)
        if out:
            self.notice.emit(_import_summary(Path(path), out))
        return bool(out)

    def export_file(self, path: str | Path) -> bool:
        try:
            out = service.export_attributes(self.project, path)
        except Exception as err:  # noqa: BLE001
            self.ctx.show_error("Export attributes", err)
            return False
        self.notice.emit(
            f"wrote {getattr(out, 'classes', '?')} class(es), {getattr(out, 'attributes', '?')} attribute(s) to {path}"
        )
        return True

    # -- re-score ------------------------------------------------------------------------------------
    def preview_rescore(self) -> None:
        """Count how many labels the edited attributes would change (writes nothing)."""
        if self.project is None or self.run_version is None or self.run_version == self.version:
            return
        if self._preview_worker is not None:
            self._preview_worker.cancel()
        self.preview_result = None
        self._preview_version = self.version
        self.rescore_state.emit("previewing", "re-scoring the cached features…")
        worker = self.ctx.run_task(
            "Re-score preview", service.rescore_task(self.project, preview=True), self._previewed,
            on_error=self._preview_failed,
        )
        self._preview_worker = worker
        worker.done.connect(self._preview_ended)

    def _preview_failed(self, err: BaseException) -> None:
        if self.sender() is not self._preview_worker:
            return
        self.rescore_state.emit("error", f"no preview: {err}")

    def _apply_failed(self, err: BaseException) -> None:
        self.rescore_state.emit("error", f"re-score failed: {err}")

    def _preview_ended(self) -> None:
        if self._preview_worker is self.sender():
            self._preview_worker = None

    def _previewed(self, result: Any) -> None:
        if self.sender() is not self._preview_worker:
            return  # a superseded preview (cancelled, or about an older attribute set)
        self.preview_result = result
        self.rescore_state.emit("preview", service.describe_changes(self.project, result))

    def apply_rescore(self) -> Any:
        """Write the re-score as a new run (the grid and review then show its labels)."""
        if self.project is None:
            return None
        self._preview_timer.stop()
        self.rescore_state.emit("applying", "re-scoring…")
        worker = self.ctx.run_task(
            "Re-score", service.rescore_task(self.project, preview=False), self._applied,
            on_error=self._apply_failed,
        )
        self.task_started.emit(worker, "Re-score")
        return worker

    def _applied(self, result: Any) -> None:
        self.notice.emit("re-score: " + service.describe_changes(self.project, result))
        self.ctx.labels_changed.emit(list(getattr(result, "changed_ids", []) or []))
        self._load_version()


def _import_summary(path: Path, result: Any) -> str:
    """One line out of an `ImportResult`: what was added, and any warnings."""
    text = (
        f"imported {path.name}: {getattr(result, 'attributes_added', 0)} attribute(s) added, "
        f"{len(getattr(result, 'classes_added', []) or [])} new class(es)"
    )
    removed = getattr(result, "attributes_removed", 0)
    if removed:
        text += f", {removed} replaced"
    warnings = list(getattr(result, "warnings", []) or [])
    if warnings:
        text += " — " + "; ".join(warnings[:3])
    return text
