"""Project store: decisions, undo, bulk decisions, audit issues, review counts (issue #6).

Decisions are append-only. Each one records the prediction it answered (run, score) and the label
the image had before (with where that label came from), and updates the denormalised review
columns of `Image` in the same transaction. Undo appends an 'undo' row that restores the state
before the newest not-yet-undone decision; repeating it walks further back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import aliased

from db.models import Decision, Explanation, Image, ImportedLabel, LabelClass, LabelIssue, Run

_IN_CHUNK = 5000
REVIEWABLE_ACTIONS = ("accepted", "corrected", "rejected", "uncertain", "confirmed_negative")
# the actions after which an image carries no class label (the decision's class_id, if any,
# names the class it is NOT)
_UNLABELLED_ACTIONS = frozenset({"rejected", "confirmed_negative"})


class ReviewError(ValueError):
    """A decision that cannot be applied (no prediction to accept, unknown class...). Nothing is written."""


@dataclass(frozen=True)
class DecisionRow:
    """One entry of an image's decision trail."""

    id: int
    image_id: int
    action: str
    class_id: int | None
    class_name: str | None
    result_status: str
    previous_class_id: int | None
    previous_status: str | None
    prior_source: str | None
    run_id: int | None
    score: float | None
    undoes_id: int | None
    reviewer: str
    at: dt.datetime
    note: str | None
    stale: bool = False  # made before the file's content changed: history only, labels nothing


@dataclass(frozen=True)
class LabelIssueWrite:
    """One image's audit result as the audit use case hands it to the store."""

    image_id: int
    given_class_id: int | None
    suggested_class_id: int | None
    p_given: float
    issue_score: float
    flagged: bool
    explanations: dict[int, dict[str, Any]] | None = None  # class_id -> JSON (suggested and given)


@dataclass(frozen=True)
class AuditRow:
    """One line of the audit report: how suspicious an image's imported label is."""

    image_id: int
    rel_path: str
    given_class_id: int | None
    given_label: str | None
    suggested_class_id: int | None
    suggested_label: str | None
    p_given: float
    issue_score: float
    flagged: bool
    run_id: int


# action -> (image, requested class_id) -> class_id recorded on the decision
_DECISION_CLASS: dict[str, Callable[[Image, int | None], int | None]] = {
    "accepted": lambda img, cid: img.pred_class_id,
    "corrected": lambda img, cid: cid,
    "rejected": lambda img, cid: None,
    "uncertain": lambda img, cid: cid if cid is not None else img.label_class_id,
    "confirmed_negative": lambda img, cid: cid if cid is not None else img.pred_class_id,
}


_VERB = {"accepted": "accept", "confirmed_negative": "confirm as negative"}
STALE_ACTION = "stale"
STALE_REVIEWER = "lazlabel scan"


def _label_after(action: str, class_id: int | None) -> int | None:
    return None if action in _UNLABELLED_ACTIONS else class_id


def _prior(img: Image) -> tuple[int | None, str | None]:
    """The label an image carried before a decision, and where it came from."""
    if img.review_status != "unreviewed":
        return img.label_class_id, "decision"
    if img.imported_class_id is not None:
        return img.imported_class_id, "imported"
    if img.pred_class_id is not None:
        return img.pred_class_id, "prediction"
    return None, None


class ReviewMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""

    # -- decisions -------------------------------------------------------------------------
    def record_decisions(
        self,
        image_ids: Sequence[int],
        action: str,
        *,
        class_id: int | None = None,
        reviewer: str = "",
        note: str | None = None,
    ) -> list[int]:
        """Apply one decision to every image in ONE transaction; all or nothing. Returns decision ids."""
        if action not in _DECISION_CLASS:
            raise ReviewError(f"unknown action '{action}' (one of: {', '.join(REVIEWABLE_ACTIONS)})")
        ids = list(dict.fromkeys(int(i) for i in image_ids))
        if not ids:
            return []
        with self.session() as s:
            return self._decide(s, ids, action, class_id, reviewer, note)

    def _decide(
        self,
        s: Any,
        ids: list[int],
        action: str,
        class_id: int | None,
        reviewer: str,
        note: str | None,
    ) -> list[int]:
        imgs: dict[int, Image] = {}
        # rows locked in id order (PostgreSQL: FOR UPDATE; SQLite has one writer anyway), so two
        # people deciding the same image at once are applied one after the other, the second
        # seeing the first's label (no lost update; db/store_team.py)
        in_order = sorted(ids)
        for start in range(0, len(in_order), _IN_CHUNK):  # far below every backend's parameter limit
            chunk = in_order[start : start + _IN_CHUNK]
            q = select(Image).where(Image.id.in_(chunk)).order_by(Image.id).with_for_update()
            imgs.update((img.id, img) for img in s.scalars(q))
        missing = [i for i in ids if i not in imgs]
        if missing:
            raise ReviewError(f"{len(missing)} image(s) not in the project (e.g. id {missing[0]})")
        if action == "corrected" and class_id is None:
            raise ReviewError("a correction needs the class to correct to")
        if class_id is not None and s.get(LabelClass, class_id) is None:
            raise ReviewError(f"no class with id {class_id}")
        pick = _DECISION_CLASS[action]
        if action in ("accepted", "confirmed_negative") and class_id is None:
            nopred = [i for i in ids if imgs[i].pred_class_id is None]
            if nopred:
                raise ReviewError(
                    f"{len(nopred)} image(s) have no prediction to {_VERB[action]} "
                    f"(e.g. {imgs[nopred[0]].rel_path}); run pre-label first"
                )
        rows = []
        for i in ids:
            img = imgs[i]
            prev_cid, source = _prior(img)
            cid = pick(img, class_id)
            rows.append(
                Decision(
                    image_id=i,
                    class_id=cid,
                    action=action,
                    result_status=action,
                    previous_class_id=prev_cid,
                    previous_status=img.review_status,
                    prior_source=source,
                    run_id=img.pred_run_id,
                    score=img.pred_score,
                    reviewer=reviewer,
                    note=note,
                )
            )
        s.add_all(rows)
        s.flush()
        for d in rows:
            img = imgs[d.image_id]
            img.review_status = d.result_status
            img.label_class_id = _label_after(action, d.class_id)
            img.last_decision_id = d.id
        return [d.id for d in rows]

    def accept_above(
        self, min_score: float, *, class_id: int | None = None, reviewer: str = "", note: str | None = None
    ) -> int:
        """Accept the prediction of every readable, unreviewed image scoring >= min_score (optionally
        only those predicted as `class_id`), in one transaction. Returns how many."""
        conds = [
            Image.status == "ok",
            Image.review_status == "unreviewed",
            Image.pred_class_id.is_not(None),
            Image.pred_score >= float(min_score),
        ]
        if class_id is not None:
            conds.append(Image.pred_class_id == class_id)
        with self.session() as s:
            ids = list(s.scalars(select(Image.id).where(*conds)))
            if ids:
                self._decide(s, ids, "accepted", None, reviewer, note)
            return len(ids)

    def undo_decision(self, image_id: int, *, reviewer: str = "", note: str | None = None) -> int:
        """Append an 'undo' that restores the state before the newest live decision; returns its id."""
        with self.session() as s:
            return self._undo(s, image_id, reviewer, note)

    def undo_decisions(
        self, image_ids: Sequence[int], *, reviewer: str = "", note: str | None = None
    ) -> list[int]:
        """Undo the newest live decision of each image in ONE transaction (all or nothing)."""
        with self.session() as s:
            return [self._undo(s, int(i), reviewer, note) for i in dict.fromkeys(image_ids)]

    @staticmethod
    def _undo(s: Any, image_id: int, reviewer: str, note: str | None) -> int:
        img = s.get(Image, image_id, with_for_update=True)
        if img is None:
            raise ReviewError(f"no image with id {image_id}")
        trail = list(s.scalars(select(Decision).where(Decision.image_id == image_id).order_by(Decision.id)))
        stack: list[Decision] = []
        for d in trail:
            if d.action == STALE_ACTION:  # decisions about older bytes are not restored
                stack.clear()
            elif d.action != "undo":
                stack.append(d)
            elif stack:
                stack.pop()
        if not stack:
            if any(d.action == STALE_ACTION for d in trail):
                raise ReviewError(
                    f"nothing to undo for {img.rel_path}: its earlier decisions were about content the file no longer has"
                )
            raise ReviewError(f"nothing to undo for {img.rel_path}")
        undone = stack.pop()
        restored = stack[-1] if stack else None
        restored_label = None if restored is None else _label_after(restored.action, restored.class_id)
        restored_status = "unreviewed" if restored is None else restored.result_status
        prev_cid, source = _prior(img)
        row = Decision(
            image_id=image_id,
            class_id=restored_label,
            action="undo",
            result_status=restored_status,
            previous_class_id=prev_cid,
            previous_status=img.review_status,
            prior_source=source,
            run_id=img.pred_run_id,
            score=img.pred_score,
            undoes_id=undone.id,
            reviewer=reviewer,
            note=note,
        )
        s.add(row)
        s.flush()
        img.review_status = restored_status
        img.label_class_id = restored_label
        img.last_decision_id = row.id
        return row.id

    def decision_history(self, image_id: int) -> list[DecisionRow]:
        """Every decision on an image, oldest first (undo rows included)."""
        with self.session() as s:
            q = (
                select(Decision, LabelClass.name)
                .outerjoin(LabelClass, LabelClass.id == Decision.class_id)
                .where(Decision.image_id == image_id)
                .order_by(Decision.id)
            )
            rows = s.execute(q).all()
            last_stale = max((d.id for d, _n in rows if d.action == STALE_ACTION), default=0)
            gone = self._deleted_class_names(s) if any(d.class_id and n is None for d, n in rows) else {}  # type: ignore[attr-defined]

            def label(cid: int | None, name: str | None) -> str | None:
                if cid is None or name is not None:
                    return name
                return f"{gone.get(cid, f'#{cid}')} (deleted)"

            return [
                DecisionRow(
                    id=d.id,
                    image_id=d.image_id,
                    action=d.action,
                    class_id=d.class_id,
                    class_name=label(d.class_id, name),
                    result_status=d.result_status,
                    previous_class_id=d.previous_class_id,
                    previous_status=d.previous_status,
                    prior_source=d.prior_source,
                    run_id=d.run_id,
                    score=d.score,
                    undoes_id=d.undoes_id,
                    reviewer=d.reviewer,
                    at=d.at,
                    note=d.note,
                    stale=d.id < last_stale,
                )
                for d, name in rows
            ]

    # -- content changes ---------------------------------------------------------------------
    def mark_decisions_stale(self, image_ids: Sequence[int], note: str = "file content changed") -> list[int]:
        """Put decided images back into review (their decisions kept, marked stale); returns the ids
        of the images that were decided. One transaction."""
        with self.session() as s:
            return self._mark_stale(s, list(dict.fromkeys(int(i) for i in image_ids)), {})

    def _stale_decisions(self, s: Any, changed: Any) -> list[int]:
        """For a scan batch's `changed` {id: ScanRecord}: decided images whose bytes differ go back
        into review (a record carrying the very hash the row had is the same content)."""
        return self._mark_stale(s, list(changed), {i: getattr(r, "content_hash", None) for i, r in changed.items()})

    @staticmethod
    def _mark_stale(s: Any, ids: list[int], new_hashes: dict[int, str | None]) -> list[int]:
        hit: list[Image] = []
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            q = select(Image).where(Image.id.in_(chunk), Image.review_status != "unreviewed")
            for img in s.scalars(q):
                same = new_hashes.get(img.id)
                if same is not None and img.content_hash == same:
                    continue
                hit.append(img)
        if not hit:
            return []
        rows = [
            Decision(
                image_id=img.id,
                class_id=None,
                action=STALE_ACTION,
                result_status="unreviewed",
                previous_class_id=img.label_class_id,
                previous_status=img.review_status,
                prior_source="decision",
                run_id=img.pred_run_id,
                score=img.pred_score,
                reviewer=STALE_REVIEWER,
                note="file content changed: decide again",
            )
            for img in hit
        ]
        s.add_all(rows)
        s.flush()
        for img, d in zip(hit, rows):
            img.review_status = "unreviewed"
            img.label_class_id = None
            img.last_decision_id = d.id
        s.flush()
        return [img.id for img in hit]

    def image_id_for_path(self, path: str) -> int | None:
        """Image id for a POSIX path relative to the image root, or an absolute path under it."""
        rel = str(path).replace("\\", "/")
        root = str(self.image_root).replace("\\", "/").rstrip("/") + "/"
        if rel.startswith(root):
            rel = rel[len(root) :]
        rel = rel.removeprefix("./")
        with self.session() as s:
            return s.scalar(select(Image.id).where(Image.rel_path == rel))

    # -- audit issues ------------------------------------------------------------------------
    def write_label_issues(self, run_id: int, rows: Sequence[LabelIssueWrite]) -> None:
        """Store one audit's results in ONE transaction; `Image.issue_score` then shows this audit only."""
        with self.session() as s:
            s.execute(delete(LabelIssue).where(LabelIssue.run_id == run_id))
            s.execute(delete(Explanation).where(Explanation.run_id == run_id))
            s.execute(
                update(Image)
                .where(Image.issue_score.is_not(None))
                .values(issue_score=None)
                .execution_options(synchronize_session=False)
            )
            if not rows:
                return
            s.execute(
                LabelIssue.__table__.insert(),
                [
                    {
                        "run_id": run_id,
                        "image_id": r.image_id,
                        "given_class_id": r.given_class_id,
                        "suggested_class_id": r.suggested_class_id,
                        "p_given": float(r.p_given),
                        "issue_score": float(r.issue_score),
                        "flagged": bool(r.flagged),
                    }
                    for r in rows
                ],
            )
            expl = [
                {"run_id": run_id, "image_id": r.image_id, "class_id": int(c), "data": data}
                for r in rows
                for c, data in (r.explanations or {}).items()
            ]
            if expl:
                s.execute(Explanation.__table__.insert(), expl)
            s.execute(
                update(Image),
                [{"id": r.image_id, "issue_score": float(r.issue_score)} for r in rows],
            )

    def imported_label_ids(self) -> dict[int, int]:
        """image id -> imported class id (the denormalised column; else the newest imported row)."""
        with self.session() as s:
            out = dict(
                s.execute(
                    select(Image.id, Image.imported_class_id).where(Image.imported_class_id.is_not(None))
                ).all()
            )
            if not out:
                q = (
                    select(ImportedLabel.image_id, ImportedLabel.class_id)
                    .where(ImportedLabel.class_id.is_not(None))
                    .order_by(ImportedLabel.id)
                )
                out = dict(s.execute(q).all())
            return {int(i): int(c) for i, c in out.items()}

    def latest_audit_run_id(self) -> int | None:
        """The newest finished audit run (None before the first audit)."""
        with self.session() as s:
            return s.scalar(select(func.max(Run.id)).where(Run.kind == "audit", Run.status == "done"))

    def label_issues(
        self, *, run_id: int | None = None, limit: int | None = None, flagged_only: bool = False
    ) -> list[AuditRow]:
        """Audit rows, most suspicious first (default: the newest finished audit)."""
        with self.session() as s:
            if run_id is None:
                run_id = s.scalar(select(func.max(Run.id)).where(Run.kind == "audit", Run.status == "done"))
                if run_id is None:
                    return []
            given = aliased(LabelClass)
            sugg = aliased(LabelClass)
            q = (
                select(LabelIssue, Image.rel_path, given.name, sugg.name)
                .join(Image, Image.id == LabelIssue.image_id)
                .outerjoin(given, given.id == LabelIssue.given_class_id)
                .outerjoin(sugg, sugg.id == LabelIssue.suggested_class_id)
                .where(LabelIssue.run_id == run_id)
                .order_by(LabelIssue.flagged.desc(), LabelIssue.issue_score.desc(), LabelIssue.image_id)
            )
            if flagged_only:
                q = q.where(LabelIssue.flagged.is_(True))
            if limit is not None:
                q = q.limit(int(limit))
            return [
                AuditRow(
                    image_id=li.image_id,
                    rel_path=path,
                    given_class_id=li.given_class_id,
                    given_label=gname,
                    suggested_class_id=li.suggested_class_id,
                    suggested_label=sname,
                    p_given=li.p_given,
                    issue_score=li.issue_score,
                    flagged=li.flagged,
                    run_id=li.run_id,
                )
                for li, path, gname, sname in s.execute(q).all()
            ]

    # -- counts for the Insight screen --------------------------------------------------------
    def crosstab(
        self, row: str, col: str, *, review_statuses: Sequence[str] | None = None
    ) -> dict[tuple[Any, Any], int]:
        """Counts of (row value, col value) over images (optionally of some review statuses);
        column names from `STAT_COLUMNS`."""
        a, b = STAT_COLUMNS[row], STAT_COLUMNS[col]
        with self.session() as s:
            q = select(a, b, func.count()).group_by(a, b)
            if review_statuses is not None:
                q = q.where(Image.review_status.in_(list(review_statuses)))
            return {(x, y): int(n) for x, y, n in s.execute(q).all()}

    def count_by(self, column: str) -> dict[Any, int]:
        """Counts of images per value of one `STAT_COLUMNS` column."""
        c = STAT_COLUMNS[column]
        with self.session() as s:
            return {x: int(n) for x, n in s.execute(select(c, func.count()).group_by(c)).all()}

    def class_names_by_id(self, *, active_only: bool = False) -> dict[int, str]:
        """class id -> name in the curator's order (every class, or only active ones)."""
        with self.session() as s:
            q = select(LabelClass.id, LabelClass.name).order_by(LabelClass.order, LabelClass.id)
            if active_only:
                q = q.where(LabelClass.active.is_(True))
            return {int(i): n for i, n in s.execute(q).all()}

    def prediction_scores(self) -> list[float]:
        """Denormalised top-1 scores of every predicted image (for the score histogram)."""
        with self.session() as s:
            return [
                float(v) for v in s.scalars(select(Image.pred_score).where(Image.pred_score.is_not(None)))
            ]


# names the stats use for image columns
STAT_COLUMNS = {
    "predicted": Image.pred_class_id,
    "decided": Image.label_class_id,
    "imported": Image.imported_class_id,
    "review_status": Image.review_status,
    "status": Image.status,
}
