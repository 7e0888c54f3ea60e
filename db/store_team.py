"""Project store: several reviewers on one project (team mode, issue #20).

* Review assignments split the unreviewed images between reviewers, or give an overlap share to
  every one of them (for the agreement statistics). A reviewer's queue is the images assigned to
  them that they have not decided yet (`ImageFilter(pending_for=...)`).
* A reviewer's *vote* on an image is their newest live decision there: not undone, not made
  before the file's content changed, not a lead's resolution. Images whose votes differ are
  conflicts until a lead resolves them with one more decision; every vote stays in the log.

The decision log is append-only and the current label is derived with it in one transaction
under a row lock on the image (db/store_review.py), so two people deciding the same image at
once both land in the log in order and the image shows the newer one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import case, func, insert, select

from db.models import ConflictResolution, Decision, Image, LabelClass, ReviewAssignment, utcnow

#: the actions that are a vote for a label (uncertain says "I cannot tell": no vote)
VOTE_ACTIONS = ("accepted", "corrected", "rejected", "confirmed_negative")
_NO_LABEL = ("rejected", "confirmed_negative")
_CHUNK = 5000


class TeamError(ValueError):
    """A team request that cannot be applied (nothing to resolve, no reviewers...). Nothing is written."""


@dataclass(frozen=True)
class Vote:
    """One reviewer's standing decision on one image. `label` is the class id the image would
    carry (None: no class, i.e. rejected)."""

    image_id: int
    reviewer: str
    decision_id: int
    action: str
    label: int | None


@dataclass(frozen=True)
class Conflict:
    """An image whose reviewers' votes disagree, not yet resolved by a lead."""

    image_id: int
    rel_path: str
    votes: tuple[Vote, ...]


@dataclass(frozen=True)
class AssignmentCount:
    reviewer: str
    assigned: int
    overlap: int
    pending: int


def latest_votes(rows: Iterable[Sequence[Any]], resolution_ids: set[int]) -> list[Vote]:
    """Votes from decision rows (id, image_id, reviewer, action, class_id, undoes_id) in id order:
    per (image, reviewer) the newest decision that is a vote, not undone, not before the image's
    last `stale` marker and not a lead's resolution."""
    undone: set[int] = set()
    last_stale: dict[int, int] = {}
    latest: dict[tuple[int, str], tuple[int, str, int | None]] = {}
    rows = list(rows)
    for did, iid, _who, action, _cid, undoes in rows:
        if action == "undo" and undoes is not None:
            undone.add(undoes)
        elif action == "stale":
            last_stale[iid] = did
    for did, iid, who, action, cid, _undoes in rows:
        if action not in VOTE_ACTIONS or did in undone or did in resolution_ids or did < last_stale.get(iid, 0):
            continue
        latest[(iid, who)] = (did, action, None if action in _NO_LABEL else cid)
    return [Vote(iid, who, did, action, label) for (iid, who), (did, action, label) in sorted(latest.items())]


def disagreeing(votes: Sequence[Vote]) -> bool:
    return len({v.reviewer for v in votes}) >= 2 and len({v.label for v in votes}) >= 2


class TeamMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""

    # -- assignments ---------------------------------------------------------------------------
    def assign_reviews(
        self, reviewers: Sequence[str], *, overlap: float = 0.0, seed: int = 0, assigned_by: str = "",
        limit: int | None = None,
    ) -> dict[str, int]:
        """Assign the readable, unreviewed, not yet assigned images: a random `overlap` share to
        every reviewer, the rest split evenly. One transaction; returns {reviewer: new images}."""
        names = list(dict.fromkeys(r.strip() for r in reviewers if r.strip()))
        if not names:
            raise TeamError("name at least one reviewer")
        if not 0.0 <= overlap <= 1.0:
            raise TeamError(f"overlap is a share between 0 and 1, not {overlap:g}")
        with self.session() as s:  # type: ignore[attr-defined]
            assigned = select(ReviewAssignment.image_id)
            q = (select(Image.id)
                 .where(Image.status == "ok", Image.review_status == "unreviewed", Image.id.not_in(assigned))
                 .order_by(Image.id))
            ids = np.fromiter(s.scalars(q), dtype=np.int64)
            if limit is not None:
                ids = ids[: max(0, int(limit))]
            order = np.random.default_rng(seed).permutation(len(ids))
            n_overlap = int(round(overlap * len(ids))) if len(names) > 1 else 0
            shared, split = ids[order[:n_overlap]], ids[order[n_overlap:]]
            now = utcnow()
            counts = {}
            for k, who in enumerate(names):
                mine = np.sort(np.concatenate([shared, split[k :: len(names)]]))
                shared_set = set(shared.tolist())
                rows = [{"image_id": int(i), "reviewer": who, "overlap": int(i) in shared_set,
                         "assigned_by": assigned_by, "at": now} for i in mine.tolist()]
                for start in range(0, len(rows), _CHUNK):
                    s.execute(insert(ReviewAssignment), rows[start : start + _CHUNK])
                counts[who] = len(rows)
            return counts

    def clear_assignments(self, reviewer: str | None = None) -> int:
        """Drop the assignments (of one reviewer, or all); decisions are untouched."""
        from sqlalchemy import delete

        with self.session() as s:  # type: ignore[attr-defined]
            q = delete(ReviewAssignment)
            if reviewer is not None:
                q = q.where(ReviewAssignment.reviewer == reviewer)
            return int(s.execute(q).rowcount or 0)

    def has_assignments(self, reviewer: str | None = None) -> bool:
        with self.session() as s:  # type: ignore[attr-defined]
            q = select(ReviewAssignment.id)
            if reviewer is not None:
                q = q.where(ReviewAssignment.reviewer == reviewer)
            return s.scalar(q.limit(1)) is not None

    def assignment_counts(self) -> list[AssignmentCount]:
        """Per reviewer: images assigned, of which overlap, and still to decide."""
        with self.session() as s:  # type: ignore[attr-defined]
            decided = (select(Decision.id).where(Decision.image_id == ReviewAssignment.image_id,
                                                 Decision.reviewer == ReviewAssignment.reviewer,
                                                 Decision.action.in_(VOTE_ACTIONS + ("uncertain",)))
                       .exists())
            q = (select(ReviewAssignment.reviewer, func.count(),
                        func.sum(case((ReviewAssignment.overlap, 1), else_=0)),
                        func.sum(case((decided, 0), else_=1)))
                 .group_by(ReviewAssignment.reviewer).order_by(ReviewAssignment.reviewer))
            return [AssignmentCount(r, int(n), int(o or 0), int(p or 0)) for r, n, o, p in s.execute(q)]

    # -- votes and conflicts -------------------------------------------------------------------
    def _votes(self, s: Any, image_ids: Sequence[int] | None = None) -> list[Vote]:
        q = select(Decision.id, Decision.image_id, Decision.reviewer, Decision.action, Decision.class_id,
                   Decision.undoes_id).order_by(Decision.id)
        r = select(ConflictResolution.decision_id)
        if image_ids is not None:
            q = q.where(Decision.image_id.in_(list(image_ids)))
            r = r.where(ConflictResolution.image_id.in_(list(image_ids)))
        return latest_votes(s.execute(q), set(s.scalars(r)))

    def votes(self) -> list[Vote]:
        """Every reviewer's standing vote on every image they decided."""
        with self.session() as s:  # type: ignore[attr-defined]
            return self._votes(s)

    def conflicts(self) -> list[Conflict]:
        """Images whose reviewers disagree and no lead resolved since the newest vote."""
        with self.session() as s:  # type: ignore[attr-defined]
            by_image: dict[int, list[Vote]] = {}
            for v in self._votes(s):
                by_image.setdefault(v.image_id, []).append(v)
            resolved = dict(s.execute(select(ConflictResolution.image_id, func.max(ConflictResolution.decision_id))
                                      .group_by(ConflictResolution.image_id)).all())
            open_ = {i: vs for i, vs in by_image.items()
                     if disagreeing(vs) and resolved.get(i, 0) < max(v.decision_id for v in vs)}
            paths: dict[int, str] = {}
            ids = sorted(open_)
            for start in range(0, len(ids), _CHUNK):
                paths.update(s.execute(select(Image.id, Image.rel_path).where(Image.id.in_(ids[start:start + _CHUNK]))).all())
            return [Conflict(i, paths.get(i, f"#{i}"), tuple(open_[i])) for i in ids]

    def resolve_conflict(self, image_id: int, class_id: int | None, *, lead: str, note: str | None = None) -> int:
        """A lead settles an open conflict: one more decision (corrected to `class_id`, or rejected
        when None), recorded as the resolution. The disagreeing decisions stay. Returns its id."""
        with self.session() as s:  # type: ignore[attr-defined]
            img = s.get(Image, image_id, with_for_update=True)
            if img is None:
                raise TeamError(f"no image with id {image_id}")
            votes = self._votes(s, [image_id])
            done = s.scalar(select(func.max(ConflictResolution.decision_id)).where(ConflictResolution.image_id == image_id))
            if not disagreeing(votes) or (done or 0) > max(v.decision_id for v in votes):
                raise TeamError(f"{img.rel_path} has no open conflict (its reviewers agree, or a lead resolved it)")
            if class_id is not None and s.get(LabelClass, class_id) is None:
                raise TeamError(f"no class with id {class_id}")
            action = "rejected" if class_id is None else "corrected"
            [did] = self._decide(s, [image_id], action, class_id, lead, note or "resolves a conflict")  # type: ignore[attr-defined]
            s.add(ConflictResolution(image_id=image_id, decision_id=did, lead=lead,
                                     votes=[[v.reviewer, v.decision_id] for v in votes]))
            return int(did)
