"""The review screen's calls into the use-case layer, in one place (no SQL, no torch here).

Everything the review and audit screens need from a project goes through these functions, so a
change of a use case's signature is fixed here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop.review.evidence import Evidence, parse_evidence
from workflows.progress import CancelToken, Progress

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
    evidence: dict[int, Evidence] = field(default_factory=dict)  # class_id -> evidence
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
        stored = project.explanations(image_id, run_id=pred.run_id)
        state.evidence = {
            int(cid): ev for cid, data in stored.items() if (ev := parse_evidence(data, int(cid))) is not None
        }
    state.history = list(project.decision_history(image_id))
    return state


def explain_task(project: Any, image_id: int, class_id: int):
    """A task factory computing the explanation of a class that was not stored (off the GUI thread)."""

    def factory(cancel: CancelToken) -> Generator[Progress, None, Evidence | None]:
        from workflows.review import explain_image

        yield Progress(0, 1, "explaining", stage="explain")
        data = explain_image(project, image_id, class_id)
        yield Progress(1, 1, "explaining", stage="explain")
        return parse_evidence(data, class_id)

    return factory


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

    return project.image_ids(ImageFilter(review_status="unreviewed", status="ok"), sort=QUEUE_SORTS[order])
