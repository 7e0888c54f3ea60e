"""Audit logic: run the audit as a task, load the ranked report, explain and resolve one row.

Resolving a row is a review decision: keeping the given (imported) label or taking the model's
(or any other class) records who decided what, with a note saying it came from the audit.

The selected row's evidence (the model's class, the given class and why the one and not the other)
comes from `workflows.evidence` through the review service, loaded off the GUI thread by an
`EvidenceLoader` exactly as in Review (it may read the feature cache or load the model).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.audit.model import AuditItem
from desktop.review import service as review_service
from desktop.review.evidence_loader import EvidenceLoader, evidence_failure
from desktop.signals import listen
from workflows.errors import UserError
from workflows.progress import CancelToken, Progress

REPORT_LIMIT = 5000  # rows listed (flagged first); the CLI report has them all


#: the dataset checks shown in their own tabs (workflows.audit_findings.STORED)
FINDING_CHECKS = ("duplicates", "outliers", "overlap", "health", "decisions")


class AuditController(QObject):
    items_loaded = Signal(list)  # [AuditItem]
    findings_loaded = Signal(dict)  # check -> report document (None: the check never ran)
    item_changed = Signal(object)  # AuditItem (after a decision)
    selected = Signal(object)  # AuditItem | None
    # workflows.evidence.ImageEvidence of the selected row (shown: the model's class, other: the
    # given class, contrast: why the model's and not the given), or None with why there is none
    evidence_changed = Signal(object, str)
    notice = Signal(str)
    task_started = Signal(object, str)

    def __init__(self, ctx: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.items: list[AuditItem] = []
        self.current: AuditItem | None = None
        self.flagged_only = False
        self.findings: dict[str, Any] = {}
        self.evidence: Any = None  # ImageEvidence of the selected row, once loaded
        self.loader = EvidenceLoader()
        self.loader.loaded.connect(self._evidence_loaded)
        self.loader.failed.connect(self._evidence_failed)
        self._emitting = False
        listen(ctx.project_changed, self, self._project_changed)
        listen(ctx.labels_changed, self, self._labels_changed)
        listen(ctx.task_ended, self, self._task_ended)

    @property
    def project(self) -> Any:
        return self.ctx.project

    def _project_changed(self) -> None:
        self.loader.clear()
        self.load()

    def _task_ended(self, _worker: Any) -> None:
        """A pre-label, rescore or audit may have changed what the evidence says: forget it."""
        self.loader.clear()

    # -- running and loading -------------------------------------------------------------------
    def run_audit(self) -> Any:
        """Score every image with an imported label and rank likely label errors (a task)."""
        if self.project is None:
            return None
        project = self.project

        def factory(cancel: CancelToken) -> Generator[Progress, None, Any]:
            from workflows.audit import run_audit

            return (yield from run_audit(project, cancel=cancel))

        worker = self.ctx.run_task("Audit labels", factory, self._audited)
        self.task_started.emit(worker, "Audit labels")
        return worker

    def _audited(self, result: Any) -> None:
        n = getattr(result, "n_flagged", None)
        msg = getattr(result, "message", "") or (f"{n} likely label error(s) flagged" if n is not None else "audit done")
        missing = getattr(result, "missing_features", None)
        if missing:
            msg += f" ({len(missing)} image(s) skipped: no cached features, run pre-label)"
        self.notice.emit(msg)
        self.loader.clear()
        self.load()
        self.ctx.labels_changed.emit([])  # issue scores changed (the browser's disagreement sort)

    def load(self) -> None:
        """Read the newest audit's ranked rows and where each image stands now.

        Straight from the store (`workflows.audit` imports torch: seconds on the GUI thread each
        time a project opens, for a report that is one SQL query).
        """
        if self.project is None:
            self.items = []
            self.findings = {}
            self.items_loaded.emit([])
            self.findings_loaded.emit({})
            self.select(None)
            return
        try:
            rows = self.project.label_issues(limit=REPORT_LIMIT, flagged_only=self.flagged_only)
            self.items = self._items(rows)
        except Exception as err:  # noqa: BLE001
            self.ctx.show_error("Could not load the audit", err)
            self.items = []
        self.items_loaded.emit(self.items)
        self.load_findings()
        if not self.items and not any(self.findings.values()):
            self.notice.emit("no audit yet: import labels, pre-label, then run the audit")

    def load_findings(self) -> None:
        """The dataset checks' newest findings (stored JSON; no torch, no cleanlab)."""
        from workflows.audit_findings import report

        out: dict[str, Any] = {}
        for check in FINDING_CHECKS:
            try:
                out[check] = report(self.project, check, limit=REPORT_LIMIT, everything=True)
            except Exception as err:  # noqa: BLE001 - one unreadable check must not hide the others
                self.notice.emit(f"could not read the {check} findings: {err}")
                out[check] = None
        self.findings = out
        self.findings_loaded.emit(out)

    # -- images of a finding ------------------------------------------------------------------------
    def images_of_pair(self, row: dict[str, Any]) -> list[int]:
        """Audited images whose given and suggested labels are the two overlapping classes."""
        pair = {row.get("class_a"), row.get("class_b")}
        return [it.row.image_id for it in self.items
                if {it.row.given_class_id, it.row.suggested_class_id} == pair]

    def images_of_class(self, row: dict[str, Any]) -> list[int]:
        """Flagged images labelled with this class (the health summary's label issues)."""
        cid = row.get("class_id")
        return [it.row.image_id for it in self.items if it.row.flagged and it.row.given_class_id == cid]

    def open_in_review(self, image_ids: list[int]) -> None:
        """Show these images in Review: several become its queue, the first is shown."""
        ids = [int(i) for i in image_ids]
        if not ids or self.project is None:
            return
        self.ctx.set_selection(ids)
        self.ctx.open_image(ids[0], "review")

    def _items(self, rows: list[Any]) -> list[AuditItem]:
        ids = [r.image_id for r in rows]
        images = {im.id: im for im in self.project.images(ids)}
        paths = self.project.image_paths(ids)
        names = self.project.class_names_by_id()
        from desktop.thumbnails import cache_key

        out = []
        for r in rows:
            im = images.get(r.image_id)
            out.append(AuditItem(
                row=r,
                path=paths.get(r.image_id),
                thumb_key=cache_key(r.image_id, im.content_hash if im else None, im.size if im else 0),
                review_status=im.review_status if im else "unreviewed",
                label_name=names.get(im.label_class_id) if im and im.label_class_id is not None else None,
                size=(int(im.width), int(im.height)) if im and im.width and im.height else None,
            ))
        return out

    def set_flagged_only(self, on: bool) -> None:
        self.flagged_only = on
        self.load()

    # -- one row ----------------------------------------------------------------------------------
    def select(self, item: AuditItem | None) -> None:
        self.current = item
        self.selected.emit(item)
        self._request_evidence()

    @staticmethod
    def classes_of(item: AuditItem) -> tuple[int | None, int | None]:
        """(class whose evidence is shown, class it is contrasted with): the model's class against
        the given one; when the model agrees, the given class against the runner-up (None)."""
        r = item.row
        shown = r.suggested_class_id if r.suggested_class_id is not None else r.given_class_id
        versus = r.given_class_id if r.given_class_id != shown else None
        return shown, versus

    def _evidence_key(self) -> tuple[Any, ...] | None:
        it = self.current
        if it is None or self.project is None:
            return None
        # the project is part of the key: an answer for the last project's image #n is not this one's
        return (id(self.project), it.row.image_id, *self.classes_of(it))

    def _request_evidence(self) -> None:
        """Ask the background loader for the selected row's evidence (never on the GUI thread)."""
        key = self._evidence_key()
        self.evidence = None
        if key is None:
            self.evidence_changed.emit(None, "")
            return
        project, (_p, image_id, shown, versus) = self.project, key
        if not self.loader.request(key, lambda: review_service.image_evidence(project, image_id, shown, versus)):
            self.evidence_changed.emit(None, "loading the evidence…")

    def _evidence_loaded(self, key: Any, result: Any) -> None:
        if self.project is None or key[0] != id(self.project):
            return  # about a project closed since (never cached: its id may be reused)
        self.loader.remember(key, result)
        if key != self._evidence_key():
            return  # an answer for a row no longer selected
        self.evidence = result
        self.evidence_changed.emit(result, "")

    def _evidence_failed(self, key: Any, err: BaseException) -> None:
        if key != self._evidence_key():
            return
        message, is_bug = evidence_failure(err)
        self.evidence_changed.emit(None, message)
        if is_bug:
            self.ctx.show_error("Could not compute the evidence", err)

    # -- decisions ------------------------------------------------------------------------------------
    def keep_given(self) -> bool:
        """The imported label was right: record it as the decided label."""
        it = self.current
        if it is None or it.row.given_class_id is None:
            return False
        return self._decide(it, it.row.given_class_id, "audit: kept the given label")

    def use_suggested(self) -> bool:
        """The model was right: correct the label to the model's class."""
        it = self.current
        if it is None or it.row.suggested_class_id is None:
            return False
        return self._decide(it, it.row.suggested_class_id, "audit: corrected to the model's label")

    def correct_to(self, class_id: int) -> bool:
        it = self.current
        if it is None:
            return False
        return self._decide(it, class_id, "audit: corrected by hand")

    def _decide(self, it: AuditItem, class_id: int, note: str) -> bool:
        image_id = it.row.image_id
        pred = self.project.image(image_id).pred_class_id
        action = "accepted" if class_id == pred else "corrected"
        try:
            review_service.decide(self.project, [image_id], action,
                                  class_id=None if action == "accepted" else class_id,
                                  reviewer=self.ctx.reviewer, note=note)
        except Exception as err:  # noqa: BLE001
            if isinstance(err, (UserError, ValueError, LookupError)):
                self.notice.emit(str(err))
            else:
                self.ctx.show_error("Decision not saved", err)
            return False
        self._refresh_item(image_id)
        self._emitting = True
        try:
            self.ctx.labels_changed.emit([image_id])
        finally:
            self._emitting = False
        name = self.project.class_names_by_id().get(class_id, f"#{class_id}")
        self.notice.emit(f"{it.row.rel_path}: labelled {name}")
        return True

    def _refresh_item(self, image_id: int) -> None:
        for i, it in enumerate(self.items):
            if it.row.image_id == image_id:
                fresh = self._items([it.row])[0]
                self.items[i] = fresh
                if self.current is not None and self.current.row.image_id == image_id:
                    self.current = fresh
                self.item_changed.emit(fresh)
                return

    def _labels_changed(self, ids: list) -> None:
        if self.project is None or self._emitting:
            return
        for image_id in ids or []:
            if any(it.row.image_id == image_id for it in self.items):
                self._refresh_item(image_id)
