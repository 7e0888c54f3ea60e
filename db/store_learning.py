"""Project store: what learning from decisions reads and switches (issue #17).

Learning runs are ordinary `run` rows (kind 'learn', parent = the pre-label/re-score run they
learned over), with predictions and explanations like any run. They are not pre-label kinds, so
they never become another run's parent; which run's predictions the images show (`Image.pred_*`)
is switched here, set-based: to a learning run's predictions, or back to the newest pre-label /
re-score prediction of each image (zero-shot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update

from db.models import Decision, Image, Prediction, Run
from db.store_runs import PREDICTION_KINDS

LEARN_KIND = "learn"
#: review states that say which class an image is (positive) or is not (negative)
POSITIVE_STATES = ("accepted", "corrected")
NEGATIVE_STATES = ("rejected", "confirmed_negative")


@dataclass(frozen=True)
class DecidedImage:
    """An image's current decision as learning reads it: it IS `class_id` (positive) or is NOT it."""

    image_id: int
    class_id: int
    positive: bool
    decision_id: int | None


class LearningMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""

    def decided_images(self) -> list[DecidedImage]:
        """Every image's latest decision that says something about a class, image order.

        accepted / corrected: positive for the label. rejected: negative for the class predicted
        when it was rejected; confirmed_negative: negative for its class. uncertain, undone and
        stale decisions say nothing (the image's current review state is what counts).
        """
        out: list[DecidedImage] = []
        with self.session() as s:  # type: ignore[attr-defined]
            rows = s.execute(
                select(Image.id, Image.label_class_id, Image.last_decision_id).where(
                    Image.status == "ok", Image.review_status.in_(POSITIVE_STATES),
                    Image.label_class_id.is_not(None),
                ).order_by(Image.id)
            ).all()
            out.extend(DecidedImage(int(i), int(c), True, d) for i, c, d in rows)
            # the decision that put each negative image in its state: the newest with that action
            latest = (
                select(Decision.image_id, func.max(Decision.id).label("did"))
                .join(Image, Image.id == Decision.image_id)
                .where(Image.status == "ok", Image.review_status.in_(NEGATIVE_STATES),
                       Decision.action == Image.review_status)
                .group_by(Decision.image_id)
                .subquery()
            )
            neg = s.execute(
                select(Decision.image_id, Decision.id, Decision.action, Decision.class_id, Prediction.class_id)
                .join(latest, latest.c.did == Decision.id)
                .outerjoin(Prediction, and_(Prediction.run_id == Decision.run_id,
                                            Prediction.image_id == Decision.image_id))
                .order_by(Decision.image_id)
            ).all()
            for iid, did, action, cid, predicted in neg:
                cls = cid if action == "confirmed_negative" else predicted
                if cls is not None:
                    out.append(DecidedImage(int(iid), int(cls), False, int(did)))
        out.sort(key=lambda d: d.image_id)
        return out

    def latest_decision_id(self) -> int | None:
        with self.session() as s:  # type: ignore[attr-defined]
            v = s.scalar(select(func.max(Decision.id)))
            return None if v is None else int(v)

    def show_run_predictions(self, run_id: int) -> int:
        """Images show this run's predictions (`Image.pred_*`), for every image it predicted; one
        transaction. Returns how many images now show it."""
        with self.session() as s:  # type: ignore[attr-defined]
            t, p = Image.__table__, Prediction.__table__

            def col(c: Any) -> Any:
                return (select(c).where(p.c.run_id == run_id, p.c.image_id == t.c.id)
                        .limit(1).scalar_subquery())

            res = s.execute(
                update(t)
                .where(t.c.id.in_(select(p.c.image_id).where(p.c.run_id == run_id)))
                .values(pred_run_id=run_id, pred_class_id=col(p.c.class_id), pred_score=col(p.c.score),
                        pred_margin=col(p.c.margin))
            )
            return int(res.rowcount or 0)

    def show_zero_shot_predictions(self) -> int:
        """Images that show a learning run's predictions go back to their newest pre-label /
        re-score prediction (what they showed before any learning); one transaction."""
        with self.session() as s:  # type: ignore[attr-defined]
            t, p, r = Image.__table__, Prediction.__table__, Run.__table__
            learned = select(r.c.id).where(r.c.kind == LEARN_KIND)
            newest = (
                select(func.max(p.c.run_id))
                .join(r, r.c.id == p.c.run_id)
                .where(p.c.image_id == t.c.id, r.c.kind.in_(PREDICTION_KINDS))
                .scalar_subquery()
            )
            res = s.execute(update(t).where(t.c.pred_run_id.in_(learned)).values(pred_run_id=newest))
            n = int(res.rowcount or 0)

            def col(c: Any) -> Any:
                return (select(c).where(p.c.run_id == t.c.pred_run_id, p.c.image_id == t.c.id)
                        .limit(1).scalar_subquery())

            s.execute(
                update(t).where(t.c.pred_run_id.is_not(None), t.c.pred_run_id.in_(
                    select(r.c.id).where(r.c.kind.in_(PREDICTION_KINDS))))
                .values(pred_class_id=col(p.c.class_id), pred_score=col(p.c.score), pred_margin=col(p.c.margin))
            )
            return n
