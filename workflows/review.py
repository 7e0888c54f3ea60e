"""Review use cases: decisions, undo, bulk accept, the review queue, explanations on demand.

The store (`db.store_review.ReviewMixin`) applies decisions atomically; this layer fills in the
reviewer, resolves user-typed names (paths, class labels) and turns store errors into `UserError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from db.queries import ImageFilter, ImageRow
from db.store_review import REVIEWABLE_ACTIONS, DecisionRow, ReviewError
from workflows.errors import UserError
from workflows.settings import load_settings

__all__ = [
    "REVIEWABLE_ACTIONS",
    "accept_above",
    "decide",
    "explain_image",
    "history",
    "resolve_class",
    "resolve_image",
    "review_queue",
    "undo",
    "undo_many",
]


def _reviewer(project: Any, reviewer: str | None) -> str:
    return reviewer or load_settings(project).effective_reviewer


def decide(
    project: Any,
    image_ids: Sequence[int],
    action: str,
    class_id: int | None = None,
    reviewer: str | None = None,
    note: str | None = None,
) -> list[int]:
    """Record one decision over a selection in one transaction (all or nothing); returns decision ids."""
    try:
        return project.record_decisions(
            list(image_ids), action, class_id=class_id, reviewer=_reviewer(project, reviewer), note=note
        )
    except ReviewError as err:
        raise UserError(str(err)) from err


def undo(project: Any, image_id: int, reviewer: str | None = None) -> int:
    """Append an 'undo' decision restoring the image's previous state; returns its id."""
    try:
        return project.undo_decision(image_id, reviewer=_reviewer(project, reviewer))
    except ReviewError as err:
        raise UserError(str(err)) from err


def undo_many(project: Any, image_ids: Sequence[int], reviewer: str | None = None) -> list[int]:
    """Undo the latest decision of every image in one transaction (e.g. a mistaken bulk accept)."""
    try:
        return project.undo_decisions(list(image_ids), reviewer=_reviewer(project, reviewer))
    except ReviewError as err:
        raise UserError(str(err)) from err


def history(project: Any, image_id: int) -> list[DecisionRow]:
    """The image's decision trail, oldest first."""
    return project.decision_history(image_id)


def accept_above(
    project: Any, score: float, reviewer: str | None = None, *, class_id: int | None = None
) -> int:
    """Accept every unreviewed prediction with top-1 score >= `score` (optionally of one class)."""
    return project.accept_above(float(score), class_id=class_id, reviewer=_reviewer(project, reviewer))


def resolve_class(project: Any, label: str) -> int:
    """Class id for a name typed by a user (exact, then case-insensitive), with a clear error."""
    names = project.class_names_by_id()
    for cid, name in names.items():
        if name == label:
            return cid
    folded = [cid for cid, name in names.items() if name.casefold() == label.casefold()]
    if len(folded) == 1:
        return folded[0]
    known = ", ".join(sorted(names.values())[:20]) or "none defined yet"
    raise UserError(f"unknown class '{label}' (classes: {known})")


def resolve_image(project: Any, path: str) -> int:
    """Image id for a path relative to the image root (or absolute under it), with a clear error."""
    image_id = project.image_id_for_path(path)
    if image_id is None and Path(path).exists():  # a path typed relative to the current directory
        image_id = project.image_id_for_path(str(Path(path).resolve()))
    if image_id is None:
        raise UserError(f"no image '{path}' in this project (paths are relative to {project.image_root})")
    return image_id


def _active(project: Any, filter: ImageFilter, seed: int) -> list[int]:
    from workflows.active_order import active_order

    return active_order(project, filter, seed)


#: review-queue orders -> the store's page sorts (`db.queries.SORTS`), or a function ranking the
#: filtered images itself: (project, filter, seed) -> image ids, first to review first
QUEUE_ORDERS: dict[str, str | Callable[[Any, ImageFilter, int], list[int]]] = {
    "lowest_confidence": "confidence",
    "lowest_margin": "margin",
    "class": "class",
    "disagreement": "disagreement",
    "random": "random",
    "active": _active,  # uncertainty + class balance + diversity (workflows.active_order)
    "audit_sample": "audit_sample",  # the newest audit sample's undecided images, in draw order (workflows.vouch)
}


def review_queue(
    project: Any,
    order: str = "lowest_confidence",
    filter: ImageFilter | None = None,
    seed: int = 0,
    *,
    offset: int = 0,
    limit: int = 200,
) -> list[ImageRow]:
    """One page of the review queue: by default readable, unreviewed images, least confident first."""
    if order == "audit_sample":
        from workflows.vouch import audit_queue

        ids = audit_queue(project)[offset : offset + limit]
        rows = {r.id: r for r in project.images(ids)} if ids else {}
        return [rows[i] for i in ids if i in rows]
    sort = QUEUE_ORDERS.get(order, order)
    if filter is None:
        filter = ImageFilter(status="ok", review_status="unreviewed")
    if callable(sort):  # an order computed from scores and features, not an SQL sort
        start = max(0, int(offset))
        return project.images(sort(project, filter, seed)[start : start + max(0, int(limit))])
    try:
        return project.page_images(filter, sort, offset, limit, seed=seed)
    except ValueError as err:
        raise UserError(f"unknown review order '{order}' (one of: {', '.join(QUEUE_ORDERS)})") from err


def explain_image(project: Any, image_id: int, class_id: int, *, use_stored: bool = True) -> dict[str, Any]:
    """Evidence for one image and any active class ("why not class #4?").

    Returns the stored explanation of the image's latest run when there is one for that class;
    otherwise computes it from the cached features (never re-encodes). Same JSON as
    `Project.explanations`, plus `class_id`.
    """
    from workflows.progress import drive
    from workflows.scoring import ScoringContext

    if use_stored:
        stored = project.explanations(image_id).get(int(class_id))
        if stored is not None:
            return {**stored, "class_id": int(class_id)}
    ctx = ScoringContext.from_project(project)
    if int(class_id) not in ctx.class_index:
        raise UserError(f"class #{class_id} is not an active class of this project")
    out = drive(ctx.explain_pairs(project, {int(image_id): [int(class_id)]}))
    if int(image_id) not in out:
        raise UserError(
            f"no cached features for {project.image(image_id).rel_path} with {ctx.model_id}: run pre-label first"
        )
    return out[int(image_id)][int(class_id)]
