"""The review screen's calls into the use-case layer, in one place (no SQL, no torch here).

Everything the review and audit screens need from a project goes through these functions, so a
change of a use case's signature is fixed here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DECISION_ACTIONS = ("accepted", "corrected", "rejected", "uncertain", "confirmed_negative")


@dataclass(frozen=True)
class ClassRef:
    id: int
    name: str


@dataclass
class ReviewState:
    """Everything the review screen shows for one image."""

    image_id: int
    rel_path: str = ""
    path: Path | None = None
    size: tuple[int, int] | None = None  # (W, H) of the original, when known
    review_status: str = "unreviewed"
    label_id: int | None = None
    label_name: str | None = None
    imported_id: int | None = None
    imported_name: str | None = None
    error: str | None = None
    run_id: int | None = None
    predicted_id: int | None = None
    score: float | None = None
    margin: float | None = None
    topk: list[tuple[int, str, float]] = field(default_factory=list)
    history: list[Any] = field(default_factory=list)  # db DecisionRow, oldest first

    @property
    def runner_up_id(self) -> int | None:
        return self.topk[1][0] if len(self.topk) > 1 else None


def list_classes(project: Any) -> list[ClassRef]:
    """All classes in the project's order."""
    return [ClassRef(c.id, c.name) for c in project.list_classes()]


def image_record(project: Any, image_id: int) -> dict[str, Any]:
    """Path, size, review state, current and imported label of one image."""
    row = project.image(image_id)
    names = project.class_names_by_id()
    return {
        "rel_path": row.rel_path,
        "size": (int(row.width), int(row.height)) if row.width and row.height else None,
        "review_status": row.review_status,
        "label_id": row.label_class_id,
        "label_name": names.get(row.label_class_id) if row.label_class_id is not None else None,
        "imported_id": row.imported_class_id,
        "imported_name": names.get(row.imported_class_id) if row.imported_class_id is not None else None,
        "error": row.error,
    }


def image_path(project: Any, image_id: int) -> Path | None:
    try:
        return Path(project.image_path(image_id))
    except (LookupError, ValueError, OSError):
        return None


def load_state(project: Any, image_id: int) -> ReviewState:
    """Gather one image's review state: record, prediction, stored explanations, history."""
    rec = image_record(project, image_id)
    state = ReviewState(image_id=image_id, path=image_path(project, image_id), **rec)
    pred = project.latest_prediction(image_id)
    if pred is not None:
        state.run_id = pred.run_id
        state.predicted_id = pred.class_id
        state.score = pred.score
        state.margin = pred.margin
        state.topk = [(int(c), str(n), float(s)) for c, n, s in pred.topk]
    state.history = list(project.decision_history(image_id))
    return state


def image_evidence(project: Any, image_id: int, class_id: int | None = None, versus: int | None = None) -> Any:
    """Calibrated evidence of `class_id` (default the prediction) and its contrast with `versus`
    (default the runner-up): `workflows.evidence.ImageEvidence`. May read the feature cache or load
    the model: call it off the GUI thread. When the compared class cannot be explained (no cached
    features), the shown class's evidence still comes back, without a contrast."""
    from workflows import evidence
    from workflows.errors import is_user_error

    try:
        return evidence.image_evidence(project, image_id, class_id, versus)
    except Exception as err:
        if not is_user_error(err) or class_id is None:
            raise
        pred = project.latest_prediction(int(image_id))
        shown = evidence.class_evidence(project, image_id, class_id)
        return evidence.ImageEvidence(int(image_id), pred.run_id if pred else None,
                                      list(pred.topk) if pred else [], shown, None, None)


def decide(
    project: Any,
    image_ids: list[int],
    action: str,
    *,
    class_id: int | None = None,
    reviewer: str | None = None,
    note: str | None = None,
) -> Any:
    """Record one decision for these images (saved immediately, one transaction)."""
    from workflows import review

    return review.decide(project, image_ids, action, class_id=class_id, reviewer=reviewer, note=note)


def undo(project: Any, image_id: int, reviewer: str | None = None) -> Any:
    """Append an undo for the image's newest live decision."""
    from workflows import review

    return review.undo(project, image_id, reviewer=reviewer)


QUEUE_SORTS = {"lowest_confidence": "confidence", "highest_confidence": "confidence_desc"}


def review_queue(project: Any, order: str = "lowest_confidence") -> list[int]:
    """The default queue when nothing is selected: unreviewed images, least confident first (where
    a curator's minute pays most) or most confident first (for bulk accepting), then unreviewed
    images without a prediction."""
    from db.queries import ImageFilter

    if order == "audit_sample":
        from workflows.vouch import audit_queue

        return audit_queue(project)
    return project.image_ids(ImageFilter(review_status="unreviewed", status="ok"), sort=QUEUE_SORTS[order])
