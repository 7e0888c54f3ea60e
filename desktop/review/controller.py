"""Review logic: the queue, the current image's state, decisions, undo, which evidence is shown.

The view only lays out widgets and forwards keys here; everything that touches the project goes
through `desktop.review.service`. Decisions are saved the moment they are made.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, Signal

from desktop.models.effort import EffortCounter
from desktop.models.review import ReviewModel
from desktop.review import service
from desktop.review.evidence_loader import EvidenceLoader, evidence_failure
from desktop.review.service import ReviewState
from desktop.signals import listen
from workflows.errors import is_user_error

# what each decision action says in the status line
_DONE_TEXT = {
    "accepted": "accepted as {cls}",
    "corrected": "corrected to {cls}",
    "rejected": "rejected",
    "uncertain": "marked uncertain",
    "confirmed_negative": "confirmed NOT {cls}",
}


class ReviewController(QObject):
    """State and actions of the review screen for one `AppContext`."""

    state_changed = Signal(object)  # ReviewState | None
    evidence_changed = Signal(object, str)  # (workflows.evidence.ImageEvidence | None, why none)
    queue_changed = Signal(int, int)  # position (0-based, -1 when empty), length
    notice = Signal(str)  # one line of feedback for the status strip

    def __init__(self, ctx: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = ReviewModel()
        self.effort = EffortCounter()  # keys and clicks since the last decision (the view feeds it)
        self.state: ReviewState | None = None
        self.evidence: Any = None  # workflows.evidence.ImageEvidence of the current image, when loaded
        self.loader = EvidenceLoader()
        self.loader.loaded.connect(self._evidence_loaded)
        self.loader.failed.connect(self._evidence_failed)
        self._emitting = False
        self.actions: dict[str, Callable[[], None]] = {
            "accept": self.accept,
            "reject": self.reject,
            "uncertain": self.uncertain,
            "confirm_negative": self.confirm_negative,
            "undo": self.undo,
            "next": self.next,
            "previous": self.previous,
            "bulk_accept": self.bulk_accept_selection,
            **{f"pick_{k}": partial(self.pick, k) for k in range(1, 10)},
        }
        listen(ctx.project_changed, self, self.reset)
        listen(ctx.labels_changed, self, self._labels_changed)
        listen(ctx.selection_changed, self, self._selection_changed)
        listen(ctx.current_image_changed, self, self._current_changed)

    # -- the model's state, read through the controller (views and tests) -------------------------
    queue = property(lambda self: self.model.queue)
    pos = property(lambda self: self.model.pos)
    queue_source = property(lambda self: self.model.source)
    decided = property(lambda self: self.model.decided)
    shown_class = property(lambda self: self.model.shown_class)
    compare_class = property(lambda self: self.model.compare_class)

    @property
    def auto_advance(self) -> bool:
        return self.model.auto_advance

    @auto_advance.setter
    def auto_advance(self, on: bool) -> None:
        self.model.auto_advance = on

    # -- queue ---------------------------------------------------------------------------------
    @property
    def project(self) -> Any:
        return self.ctx.project

    @property
    def current_id(self) -> int | None:
        return self.state.image_id if self.state is not None else None

    def reset(self) -> None:
        self.loader.clear()
        self.model.reset()
        self.state = None
        self.state_changed.emit(None)
        self.evidence_changed.emit(None, "")
        self.queue_changed.emit(-1, 0)

    def refresh_queue(self) -> None:
        """Rebuild the queue: the browser selection when it has several images, else the review queue."""
        if self.project is None:
            self.reset()
            return
        keep = self.current_id if self.current_id is not None else self.ctx.current_image
        selection = list(self.ctx.selection or [])
        if len(selection) > 1:
            ids, source = selection, "selection"
        else:
            source = "queue"
            try:
                ids = service.review_queue(self.project, self.model.order)
            except Exception as err:  # noqa: BLE001 - an empty queue with a message beats a crash
                ids = []
                self.ctx.show_error("Could not build the review queue", err)
        if keep is not None and keep not in ids and source == "selection":
            keep = None
        target = keep if keep is not None else (ids[0] if ids else None)
        if target is None:
            self.model.set_queue([], source)
            self.state = None
            self.state_changed.emit(None)
            self.evidence_changed.emit(None, "")
            self.queue_changed.emit(-1, 0)
            return
        self.model.set_queue(ids, source, keep=target)
        self.go_to(target)

    def set_order(self, order: str) -> None:
        """Review queue order (least or most confident first); rebuilds the queue."""
        self.model.order = order
        self.refresh_queue()

    def go_to(self, image_id: int) -> None:
        """Show one image (added to the queue at the current place when it is not in it)."""
        self.model.go_to(image_id)
        self._load(image_id)
        self.queue_changed.emit(self.pos, len(self.queue))
        if self.ctx.current_image != image_id:
            self._emitting = True
            try:
                self.ctx.set_current_image(image_id)
            finally:
                self._emitting = False

    def next(self) -> None:
        target = self.model.next_id()
        if target is not None:
            self.go_to(target)
        else:
            self.notice.emit("end of the queue" if self.queue else "nothing to review")

    def previous(self) -> None:
        target = self.model.previous_id()
        if target is not None:
            self.go_to(target)
        else:
            self.notice.emit("start of the queue" if self.queue else "nothing to review")

    def reload(self) -> None:
        if self.current_id is not None:
            self._load(self.current_id, keep_view=True)

    def _load(self, image_id: int, keep_view: bool = False) -> None:
        try:
            state = service.load_state(self.project, image_id)
        except Exception as err:  # noqa: BLE001
            self.ctx.show_error("Could not load the image's review state", err)
            return
        same = self.state is not None and self.state.image_id == image_id
        self.state = state
        if not (keep_view and same):
            self.model.show(state.predicted_id, state.runner_up_id)
        self.state_changed.emit(state)
        self._request_evidence()

    # -- which evidence is shown ---------------------------------------------------------------
    def show_class(self, class_id: int | None) -> None:
        """Show the evidence of another class (computed from the cache when it was not stored).
        Showing a class never changes what Enter does: Enter accepts the prediction."""
        self.model.show_class(class_id)
        self._request_evidence()

    def compare_with(self, class_id: int | None) -> None:
        """Compare the shown class with another (None: the runner-up)."""
        self.model.compare_with(class_id)
        self._request_evidence()

    def _evidence_key(self) -> tuple[Any, ...] | None:
        s = self.state
        if s is None or s.run_id is None:
            return None
        return (s.image_id, s.run_id, self.shown_class, self.compare_class)

    def _request_evidence(self) -> None:
        """Ask the background loader for the shown class's evidence and its contrast."""
        key = self._evidence_key()
        self.evidence = None
        if key is None:
            self.evidence_changed.emit(None, "no prediction yet: run a pre-label")
            return
        project, image_id, shown, versus = self.project, key[0], key[2], key[3]
        if not self.loader.request(key, lambda: service.image_evidence(project, image_id, shown, versus)):
            self.evidence_changed.emit(None, "loading the evidence…")

    def _evidence_loaded(self, key: Any, result: Any) -> None:
        self.loader.remember(key, result)
        if key != self._evidence_key():
            return
        self.evidence = result
        self.evidence_changed.emit(result, "")

    def _evidence_failed(self, key: Any, err: BaseException) -> None:
        if key != self._evidence_key():
            return
        message, is_bug = evidence_failure(err)
        self.evidence_changed.emit(None, message)
        if is_bug:
            self.ctx.show_error("Could not compute the evidence", err)

    # -- decisions -------------------------------------------------------------------------------
    def _shown_or_predicted(self) -> int | None:
        if self.state is None:
            return None
        return self.shown_class if self.shown_class is not None else self.state.predicted_id

    def accept(self) -> None:
        """Accept the prediction. Always: which class's evidence is shown does not change it
        (a correction is a number key or the class search)."""
        self.decide("accepted")

    def reject(self) -> None:
        self.decide("rejected")

    def uncertain(self) -> None:
        self.decide("uncertain")

    def confirm_negative(self) -> None:
        """The image is NOT the shown (default: predicted) class."""
        self.decide("confirmed_negative", self._shown_or_predicted())

    def pick(self, k: int) -> None:
        """Label with the k-th class of the top-k (1-based); the top-1 is an accept."""
        if self.state is None:
            return
        if k > len(self.state.topk):
            self.notice.emit(f"there is no class #{k} in the top-{len(self.state.topk)}")
            return
        cid = self.state.topk[k - 1][0]
        if cid == self.state.predicted_id:
            self.decide("accepted")
        else:
            self.decide("corrected", cid)

    def correct_to(self, class_id: int) -> None:
        if self.state is not None and class_id == self.state.predicted_id:
            self.decide("accepted")
        else:
            self.decide("corrected", class_id)

    def decide(self, action: str, class_id: int | None = None) -> bool:
        """Record a decision on the current image now; advance when `auto_advance`."""
        state = self.state
        if state is None or self.project is None:
            self.notice.emit("no image to decide on")
            return False
        if not self._record([state.image_id], action, class_id):
            return False
        self.model.record_decided([state.image_id])
        name = self._class_name(class_id if class_id is not None else state.predicted_id)
        self.notice.emit(f"{state.rel_path}: {_DONE_TEXT[action].format(cls=name)}")
        if self.auto_advance and self.pos + 1 < len(self.queue):
            self.go_to(self.queue[self.pos + 1])
        else:
            self.reload()
        return True

    def bulk_accept(self, image_ids: list[int]) -> int:
        """Accept the predictions of many images in one transaction; returns how many."""
        ids = list(dict.fromkeys(image_ids))
        if not ids or not self._record(ids, "accepted", None):
            return 0
        self.model.record_decided(ids)
        self.notice.emit(f"accepted the predictions of {len(ids)} image(s)")
        self.reload()
        return len(ids)

    def bulk_accept_selection(self) -> None:
        if len(self.ctx.selection or []) < 1:
            self.notice.emit("select images in the browser first")
            return
        self.bulk_accept(list(self.ctx.selection))

    def _record(self, ids: list[int], action: str, class_id: int | None) -> bool:
        try:
            decision_ids = service.decide(self.project, ids, action, class_id=class_id, reviewer=self.ctx.reviewer)
        except Exception as err:  # noqa: BLE001
            self._report("Decision not saved", err)
            return False
        self._log_effort(action, ids, decision_ids)
        self._announce(ids)
        return True

    def _log_effort(self, action: str, ids: list[int], decision_ids: Any) -> None:
        """Store the keys and clicks this decision took (work accounting; never blocks a decision)."""
        keys, clicks = self.effort.take()
        try:
            from workflows.effort import record

            record(self.project, "gui" if len(ids) == 1 else "bulk", action, n_images=len(ids), keys=keys,
                   clicks=clicks, decision_ids=list(decision_ids or []), reviewer=self.ctx.reviewer)
        except Exception:  # noqa: BLE001, S110 - accounting must not cost a decision (read-only project)
            pass

    def undo(self) -> None:
        """Undo the newest decision made in this session (going back to its image)."""
        target = self.model.undo_target() if self.model.decided else self.current_id
        if target is None or self.project is None:
            self.notice.emit("nothing to undo")
            return
        try:
            service.undo(self.project, target, reviewer=self.ctx.reviewer)
        except Exception as err:  # noqa: BLE001
            self._report("Undo failed", err)
            return
        self.model.undone(target)
        self._announce([target])
        self.go_to(target)
        self.notice.emit(f"undone: {self.state.rel_path if self.state else target}")

    def _announce(self, ids: list[int]) -> None:
        self._emitting = True
        try:
            self.ctx.labels_changed.emit(list(ids))
        finally:
            self._emitting = False

    def _report(self, title: str, err: BaseException) -> None:
        if is_user_error(err):
            self.notice.emit(str(err))
        else:
            self.ctx.show_error(title, err)

    def _class_name(self, class_id: int | None) -> str:
        if class_id is None:
            return "—"
        if self.state is not None:
            for cid, name, _score in self.state.topk:
                if cid == class_id:
                    return name
        try:
            return next((c.name for c in service.list_classes(self.project) if c.id == class_id), f"#{class_id}")
        except Exception:  # noqa: BLE001 - a name is cosmetic
            return f"#{class_id}"

    # -- signals from other screens -------------------------------------------------------------
    def _labels_changed(self, ids: list) -> None:
        if not self._emitting and self.current_id is not None and (not ids or self.current_id in ids):
            self.reload()

    def _selection_changed(self, ids: list) -> None:
        if len(ids) > 1:
            self.model.follow_selection(list(ids), self.current_id)
            self.queue_changed.emit(self.pos, len(self.queue))

    def _current_changed(self, image_id: int) -> None:
        if not self._emitting and image_id != self.current_id and self.project is not None:
            self.go_to(image_id)
