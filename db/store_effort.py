"""Project store: audit samples, vouched bulk acceptances and the effort log (issue #21).

A vouched acceptance writes its `vouch` record and the acceptance decisions (pointing at it) in
ONE transaction, so a decision never claims a guarantee that was not recorded, and the record
never claims images that were not accepted. Effort events are appended like decisions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update

from db.models import AuditSample, Decision, EffortEvent, Image, Vouch
from db.store_review import ReviewError


@dataclass(frozen=True)
class PoolRow:
    """An image still to decide, with its latest prediction."""

    image_id: int
    class_id: int
    score: float
    run_id: int | None


@dataclass(frozen=True)
class SampleRow:
    id: int
    seed: int
    n_pool: int
    items: list[list[Any]]  # [image_id, run_id, class_id, score] as drawn
    reviewer: str
    created_at: Any


@dataclass(frozen=True)
class EffortTotals:
    """Sums over the effort log, by source."""

    by_source: dict[str, dict[str, int]]  # source -> {events, images, keys, clicks, commands}

    def total(self, what: str) -> int:
        return sum(v.get(what, 0) for v in self.by_source.values())


class EffortMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""

    # -- the pool and audit samples ---------------------------------------------------------
    def decision_pool(self, image_ids: Sequence[int] | None = None) -> list[PoolRow]:
        """Readable, predicted images still unreviewed (or exactly `image_ids`, whatever their state)."""
        with self.session() as s:  # type: ignore[attr-defined]
            q = select(Image.id, Image.pred_class_id, Image.pred_score, Image.pred_run_id).where(
                Image.status == "ok", Image.pred_class_id.is_not(None)
            )
            if image_ids is None:
                q = q.where(Image.review_status == "unreviewed")
                rows = s.execute(q.order_by(Image.id)).all()
            else:
                ids = [int(i) for i in image_ids]
                rows = []
                for start in range(0, len(ids), 5000):
                    rows += s.execute(q.where(Image.id.in_(ids[start : start + 5000]))).all()
            return [PoolRow(int(i), int(c), float(sc), r) for i, c, sc, r in rows]

    def add_audit_sample(self, seed: int, n_pool: int, items: Sequence[Sequence[Any]], reviewer: str = "") -> int:
        with self.session() as s:  # type: ignore[attr-defined]
            row = AuditSample(seed=int(seed), n_pool=int(n_pool), items=[list(x) for x in items], reviewer=reviewer)
            s.add(row)
            s.flush()
            return int(row.id)

    def audit_sample(self, sample_id: int | None = None) -> SampleRow | None:
        """One audit sample (default: the newest)."""
        with self.session() as s:  # type: ignore[attr-defined]
            if sample_id is None:
                sample_id = s.scalar(select(func.max(AuditSample.id)))
                if sample_id is None:
                    return None
            r = s.get(AuditSample, int(sample_id))
            if r is None:
                return None
            return SampleRow(r.id, r.seed, r.n_pool, list(r.items), r.reviewer, r.created_at)

    def review_states(self, image_ids: Sequence[int]) -> dict[int, tuple[str, int | None, int | None, int | None, int | None]]:
        """image id -> (review status, label class, predicted class, prediction run, last decision id)."""
        ids = [int(i) for i in image_ids]
        out: dict[int, tuple[str, int | None, int | None, int | None, int | None]] = {}
        with self.session() as s:  # type: ignore[attr-defined]
            for start in range(0, len(ids), 5000):
                q = select(
                    Image.id, Image.review_status, Image.label_class_id, Image.pred_class_id,
                    Image.pred_run_id, Image.last_decision_id,
                ).where(Image.id.in_(ids[start : start + 5000]))
                for i, st, lab, pred, run, dec in s.execute(q).all():
                    out[int(i)] = (st, lab, pred, run, dec)
        return out

    # -- vouched acceptance ----------------------------------------------------------------
    def accept_vouched(
        self,
        image_ids: Sequence[int],
        record: Mapping[str, Any],
        *,
        expected: Mapping[int, tuple[int, float]],
        reviewer: str = "",
        clicks: int = 0,
        keys: int = 0,
        commands: int = 0,
    ) -> tuple[int, int]:
        """Accept the predictions of `image_ids` under a vouch record, in ONE transaction.

        `expected` is image id -> (class, score) the proposal saw: an image whose prediction or
        review state changed since is refused (nothing written). Returns (vouch id, accepted)."""
        ids = list(dict.fromkeys(int(i) for i in image_ids))
        with self.session() as s:  # type: ignore[attr-defined]
            for start in range(0, len(ids), 5000):
                q = select(Image.id, Image.review_status, Image.pred_class_id, Image.pred_score).where(
                    Image.id.in_(ids[start : start + 5000])
                )
                for i, st, c, sc in s.execute(q).all():
                    want = expected.get(int(i))
                    if st != "unreviewed" or want is None or want[0] != c or abs(float(sc) - want[1]) > 1e-9:
                        raise ReviewError(
                            "predictions or decisions changed since the threshold was proposed: propose again"
                        )
            v = Vouch(**{**record, "n_accepted": len(ids), "reviewer": reviewer})
            s.add(v)
            s.flush()
            dec_ids = self._decide(s, ids, "accepted", None, reviewer, f"vouched #{v.id}") if ids else []  # type: ignore[attr-defined]
            for start in range(0, len(dec_ids), 5000):
                s.execute(
                    update(Decision)
                    .where(Decision.id.in_(dec_ids[start : start + 5000]))
                    .values(vouch_id=v.id)
                    .execution_options(synchronize_session=False)
                )
            s.add(EffortEvent(source="bulk", action="accept_vouched", n_images=len(ids), keys=keys, clicks=clicks,
                              commands=commands, decision_id=dec_ids[0] if dec_ids else None, vouch_id=v.id,
                              reviewer=reviewer))
            return int(v.id), len(ids)

    def vouches(self) -> list[dict[str, Any]]:
        """Every vouch record, oldest first, as plain dicts."""
        with self.session() as s:  # type: ignore[attr-defined]
            cols = [c.name for c in Vouch.__table__.columns]
            return [{c: getattr(v, c) for c in cols} for v in s.scalars(select(Vouch).order_by(Vouch.id))]

    def vouch_ids_of_images(self, image_ids: Sequence[int]) -> dict[int, int]:
        """image id -> vouch id, for images whose current label is a vouched acceptance."""
        ids = [int(i) for i in image_ids]
        out: dict[int, int] = {}
        with self.session() as s:  # type: ignore[attr-defined]
            for start in range(0, len(ids), 5000):
                q = (
                    select(Image.id, Decision.vouch_id)
                    .join(Decision, Decision.id == Image.last_decision_id)
                    .where(Image.id.in_(ids[start : start + 5000]), Decision.vouch_id.is_not(None))
                )
                out.update({int(i): int(v) for i, v in s.execute(q).all()})
        return out

    # -- effort ----------------------------------------------------------------------------
    def record_effort(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Append effort events (dicts of `EffortEvent` columns)."""
        if not events:
            return
        with self.session() as s:  # type: ignore[attr-defined]
            s.add_all(EffortEvent(**dict(e)) for e in events)

    def effort_totals(self) -> EffortTotals:
        with self.session() as s:  # type: ignore[attr-defined]
            q = select(
                EffortEvent.source, func.count(), func.sum(EffortEvent.n_images), func.sum(EffortEvent.keys),
                func.sum(EffortEvent.clicks), func.sum(EffortEvent.commands),
            ).group_by(EffortEvent.source)
            return EffortTotals({
                src: {"events": int(n), "images": int(im or 0), "keys": int(k or 0), "clicks": int(c or 0),
                      "commands": int(cm or 0)}
                for src, n, im, k, c, cm in s.execute(q).all()
            })

    def vouched_counts(self) -> dict[int, int]:
        """vouch id -> images whose current label is still that vouched acceptance."""
        with self.session() as s:  # type: ignore[attr-defined]
            q = (
                select(Decision.vouch_id, func.count())
                .join(Image, Image.last_decision_id == Decision.id)
                .where(Decision.vouch_id.is_not(None))
                .group_by(Decision.vouch_id)
            )
            return {int(v): int(n) for v, n in s.execute(q).all()}
