"""Selection actions where the selection is (Browse and Review): accept the predictions of many
images, with a confirmation that says how many will change and how many are skipped.

A controller module: it talks to the project through `workflows.review` and tells the screens
through `ctx.labels_changed`; dialogs only ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from workflows.errors import is_user_error

CONFIRM_OVER = 1  # ask before accepting more images than this at once


@dataclass(frozen=True)
class BulkPlan:
    """What accepting `ids` would do: `accept` (readable, predicted), of which `overwrite` are
    already decided, and `skipped` (no prediction or unreadable)."""

    accept: list[int]
    overwrite: int
    skipped: int

    def question(self) -> str:
        text = f"Accept the predicted label of {len(self.accept):,} image(s)?"
        if self.overwrite:
            text += f"\n{self.overwrite:,} of them already have a decision, which this replaces (undo keeps it)."
        if self.skipped:
            text += f"\n{self.skipped:,} selected image(s) have no prediction or cannot be read and are skipped."
        return text


def plan_accept(project: Any, ids: list[int]) -> BulkPlan:
    """Sort `ids` into what an accept can do (two id queries, no per-image reads)."""
    from db import ImageFilter

    wanted = list(dict.fromkeys(int(i) for i in ids))
    predicted = set(project.image_ids(ImageFilter(status="ok", has_prediction=True)))
    decided = set(project.image_ids(ImageFilter(decided=True)))
    accept = [i for i in wanted if i in predicted]
    return BulkPlan(accept, sum(1 for i in accept if i in decided), len(wanted) - len(accept))


def accept_predictions(ctx: Any, ids: list[int], parent: QWidget | None = None) -> int:
    """Confirm (with counts) and accept the predictions of `ids`; returns how many were accepted."""
    from workflows import review

    project = ctx.project
    if project is None or not ids:
        ctx.show_status("select images first (click, Shift+click, Ctrl+A)")
        return 0
    plan = plan_accept(project, ids)
    if not plan.accept:
        ctx.show_status(f"none of the {len(ids):,} selected image(s) has a prediction: run a pre-label first")
        return 0
    if ctx.interactive and (len(plan.accept) > CONFIRM_OVER or plan.overwrite or plan.skipped):
        answer = QMessageBox.question(parent, "Accept predictions", plan.question())
        if answer != QMessageBox.StandardButton.Yes:
            return 0
    try:
        decision_ids = review.decide(project, plan.accept, "accepted", reviewer=ctx.reviewer)
        _log_bulk(project, len(plan.accept), decision_ids, ctx.reviewer)
    except Exception as err:  # noqa: BLE001 - the user's problems in the status line, bugs as bugs
        if is_user_error(err):
            ctx.show_status(str(err), 8000)
            return 0
        ctx.show_error("Accept predictions", err)
        return 0
    ctx.labels_changed.emit(list(plan.accept))
    ctx.show_status(f"accepted the predictions of {len(plan.accept):,} image(s)", 8000)
    return len(plan.accept)


def count_above(project: Any, min_score: float, class_id: int | None = None) -> tuple[int, int]:
    """(unreviewed readable predicted images scoring >= min_score, all such images regardless of
    score): a binary search over the most-confident-first order (about 17 reads at 100,000)."""
    from db import ImageFilter

    ids = project.image_ids(ImageFilter(status="ok", review_status="unreviewed", has_prediction=True,
                                        pred_class_id=class_id), "confidence_desc")
    lo, hi = 0, len(ids)
    while lo < hi:  # first position whose score is below min_score
        mid = (lo + hi) // 2
        if (project.image(ids[mid]).pred_score or 0.0) >= min_score:
            lo = mid + 1
        else:
            hi = mid
    return lo, len(ids)


def _log_bulk(project: Any, n: int, decision_ids: list[int], reviewer: str) -> None:
    """Work accounting: one bulk event (the shortcut or click that asked for it)."""
    try:
        from workflows.effort import record

        record(project, "bulk", "accept_selection", n_images=n, clicks=1, decision_ids=decision_ids, reviewer=reviewer)
    except Exception:  # noqa: BLE001, S110 - accounting must not cost a decision
        pass
