"""Project store: imported labels (for audit, never decisions) and streamed export rows (issue #7).

Export rows are read with a Core select and `yield_per`, as plain tuples in chunks, so exporting
100,000 images never builds 100,000 ORM objects. Imports are one transaction each: a re-import of
the same source replaces that source's labels, and `Image.imported_class_id` follows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Text, and_, bindparam, delete, func, or_, select, type_coerce, update

from db.models import Decision, Explanation, Image, ImportedLabel, LabelClass, Prediction, Run, utcnow
from db.store_attributes import clean_class_name

LABELLED_STATUSES = ("accepted", "corrected")  # review states whose label is exported as a label
UNSURE_STATUSES = ("rejected", "uncertain", "confirmed_negative")  # exported only as a separate set
_IN_CHUNK = 500  # ids per IN (...) list: portable across SQLite's and PostgreSQL's limits


class ExportRow(NamedTuple):
    """One image as the export streams it (a plain tuple, no ORM)."""

    image_id: int
    rel_path: str
    raw_path: bytes | None
    review_status: str
    label_class_id: int | None
    decision_class_id: int | None
    decision_action: str | None
    reviewer: str | None
    decided_at: dt.datetime | None
    pred_run_id: int | None
    pred_class_id: int | None
    pred_score: float | None
    pred_margin: float | None
    model_id: str | None
    topk: Any  # [[class_id, score], ...] of the prediction in pred_run_id, best first


@dataclass(frozen=True)
class ImportedLabelRow:
    """One imported label of an image."""

    source: str
    label: str
    class_id: int | None
    origin: str | None
    imported_at: dt.datetime


@dataclass
class ImportCounts:
    """What `add_imported_labels` did."""

    imported: int = 0
    replaced: int = 0  # labels of the same source that this import replaced
    duplicates: int = 0  # repeated images in the input (the last label wins)
    unknown_labels: int = 0  # labels naming no class (kept with class_id NULL when not creating)
    created_classes: list[str] = field(default_factory=list)


def _chunks(seq: Sequence[Any], n: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def _class_lookup(s: Any) -> dict[str, int]:
    """Exact class names and their casefolded forms -> id (class names are case-insensitive)."""
    out: dict[str, int] = {}
    for cid, name in s.execute(select(LabelClass.id, LabelClass.name)):
        out.setdefault(name.casefold(), cid)
        out[name] = cid
    return out


def _resolve(classes: dict[str, int], label: str) -> int | None:
    got = classes.get(label)
    if got is None:
        clean = _clean_or_none(label)
        if clean is not None:
            got = classes.get(clean, classes.get(clean.casefold()))
    return got


def _clean_or_none(label: str) -> str | None:
    """The label as a class name would be stored, or None when it cannot name a class."""
    try:
        return clean_class_name(label)
    except ValueError:
        return None


class LabelsMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""

    # -- imported labels -------------------------------------------------------------------
    def add_imported_labels(
        self,
        rows: Iterable[tuple[int, str]],
        source: str,
        origin: str | None = None,
        create_classes: bool = True,
    ) -> ImportCounts:
        """Store (image_id, label) pairs as the labels of `source`, replacing its previous import.

        One transaction: either every label is stored or none. Unknown class names become new
        classes when `create_classes`, else they are kept as text with no class. Sets the
        denormalised `Image.imported_class_id` (the newest import wins).
        """
        counts = ImportCounts()
        latest: dict[int, str] = {}
        for image_id, label in rows:
            if int(image_id) in latest:
                counts.duplicates += 1
            latest[int(image_id)] = str(label).strip()
        now = utcnow()
        with self.session() as s:  # type: ignore[attr-defined]
            classes = _class_lookup(s)
            unknown: dict[str, str] = {}  # folded -> name as first written
            for lab in latest.values():
                if lab and _resolve(classes, lab) is None:
                    clean = _clean_or_none(lab)
                    if clean is not None and _resolve(classes, clean) is None:
                        unknown.setdefault(clean.casefold(), clean)
            if unknown and create_classes:
                order = (s.scalar(select(func.max(LabelClass.order))) or 0) + 1
                s.execute(
                    LabelClass.__table__.insert(),
                    [
                        {"name": n, "sort_order": order + i, "active": True, "created_at": now}
                        for i, n in enumerate(unknown.values())
                    ],
                )
                classes = _class_lookup(s)
                counts.created_classes = list(unknown.values())
            old_ids = list(s.scalars(select(ImportedLabel.image_id).where(ImportedLabel.source == source)))
            counts.replaced = len(old_ids)
            s.execute(delete(ImportedLabel).where(ImportedLabel.source == source))
            items = [(i, lab, _resolve(classes, lab)) for i, lab in latest.items() if lab]
            counts.unknown_labels = sum(1 for _, _, cid in items if cid is None)
            if items:
                s.execute(
                    ImportedLabel.__table__.insert(),
                    [
                        {
                            "image_id": i,
                            "label": lab,
                            "class_id": cid,
                            "source": source,
                            "origin": origin,
                            "imported_at": now,
                        }
                        for i, lab, cid in items
                    ],
                )
                s.connection().execute(
                    update(Image.__table__)
                    .where(Image.__table__.c.id == bindparam("b_id"))
                    .values(imported_class_id=bindparam("b_cls")),
                    [{"b_id": i, "b_cls": cid} for i, _, cid in items],
                )
            counts.imported = len(items)
            dropped = sorted(set(old_ids) - {i for i, _, _ in items})
            self._refresh_imported_class(s, dropped)
        return counts

    @staticmethod
    def _refresh_imported_class(s: Any, image_ids: Sequence[int]) -> None:
        """Point `Image.imported_class_id` at the newest remaining imported label (or NULL)."""
        img, lab = Image.__table__.c, ImportedLabel.__table__.c
        newest = (
            select(lab.class_id)
            .where(lab.image_id == img.id)
            .order_by(lab.imported_at.desc(), lab.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        for part in _chunks(list(image_ids)):
            s.connection().execute(
                update(Image.__table__).where(img.id.in_(part)).values(imported_class_id=newest)
            )

    def imported_labels(self, image_id: int) -> list[ImportedLabelRow]:
        """Every imported label of an image, newest first."""
        with self.session() as s:  # type: ignore[attr-defined]
            q = (
                select(ImportedLabel)
                .where(ImportedLabel.image_id == image_id)
                .order_by(ImportedLabel.imported_at.desc(), ImportedLabel.id.desc())
            )
            return [
                ImportedLabelRow(r.source, r.label, r.class_id, r.origin, r.imported_at) for r in s.scalars(q)
            ]

    def imported_label_sources(self) -> dict[str, int]:
        """source -> number of images it labels."""
        with self.session() as s:  # type: ignore[attr-defined]
            q = select(ImportedLabel.source, func.count()).group_by(ImportedLabel.source)
            return dict(s.execute(q).all())

    def image_ids_by_path(self, rel_paths: Collection[str]) -> dict[str, int]:
        """rel_path -> image id for the given paths that are in the project (batched lookups)."""
        paths = list(dict.fromkeys(rel_paths))
        out: dict[str, int] = {}
        with self.session() as s:  # type: ignore[attr-defined]
            for part in _chunks(paths):
                out.update(s.execute(select(Image.rel_path, Image.id).where(Image.rel_path.in_(part))).all())
        return out

    # -- export rows -----------------------------------------------------------------------
    def _export_filter(
        self,
        statuses: Collection[str],
        predictions_above: float | None,
        class_ids: Collection[int] | None,
    ) -> Any:
        cond = Image.review_status.in_(list(statuses))
        if predictions_above is not None:
            cond = or_(
                cond,
                and_(
                    Image.review_status == "unreviewed",
                    Image.pred_class_id.is_not(None),
                    Image.pred_score >= float(predictions_above),
                ),
            )
        if class_ids is not None:
            cond = and_(
                cond,
                func.coalesce(Image.label_class_id, Decision.class_id, Image.pred_class_id).in_(
                    list(class_ids)
                ),
            )
        return cond

    def count_export_rows(
        self,
        *,
        statuses: Collection[str] = LABELLED_STATUSES,
        predictions_above: float | None = None,
        class_ids: Collection[int] | None = None,
    ) -> int:
        """How many rows `iter_export_rows` with the same arguments yields (for progress)."""
        with self.session() as s:  # type: ignore[attr-defined]
            q = (
                select(func.count())
                .select_from(Image)
                .outerjoin(Decision, Decision.id == Image.last_decision_id)
                .where(self._export_filter(statuses, predictions_above, class_ids))
            )
            return int(s.scalar(q) or 0)

    def iter_export_rows(
        self,
        *,
        statuses: Collection[str] = LABELLED_STATUSES,
        predictions_above: float | None = None,
        class_ids: Collection[int] | None = None,
        chunk_size: int = 5000,
    ) -> Iterator[list[ExportRow]]:
        """Stream the images an export writes as lists of plain `ExportRow` tuples, in image id order
        (one list per window of `chunk_size` ids, empty windows skipped).

        Included: images whose review status is in `statuses`, plus unreviewed images predicted at
        `predictions_above` or more; restricted to `class_ids` (label, else decision class, else
        prediction) when given. Each row carries the latest decision and the latest prediction.
        """
        cond = self._export_filter(statuses, predictions_above, class_ids)
        cols = (
            Image.id,
            Image.rel_path,
            Image.raw_path,
            Image.review_status,
            Image.label_class_id,
            Decision.class_id,
            Decision.action,
            Decision.reviewer,
            Decision.at,
            Image.pred_run_id,
            Image.pred_class_id,
            Image.pred_score,
            Image.pred_margin,
            Run.model_id,
            Prediction.topk,
        )
        base = (
            select(*cols)
            .select_from(Image)
            .outerjoin(Decision, Decision.id == Image.last_decision_id)
            .outerjoin(Run, Run.id == Image.pred_run_id)
            .outerjoin(
                Prediction, and_(Prediction.run_id == Image.pred_run_id, Prediction.image_id == Image.id)
            )
            .where(cond)
        )
        # Id windows inside ONE read transaction: a consistent snapshot, rows in id order, and each
        # query a bounded range scan (one big ORDER BY would sort every row before the first one).
        with self.session() as s:  # type: ignore[attr-defined]
            lo, hi = s.execute(select(func.min(Image.id), func.max(Image.id))).one()
            if lo is None:
                return
            start = lo - 1
            while start < hi:
                stop = start + chunk_size
                q = base.where(Image.id > start, Image.id <= stop).order_by(Image.id)
                rows = [ExportRow(*r) for r in s.execute(q)]
                if rows:
                    yield rows
                start = stop

    def explanation_data(self, keys: Sequence[tuple[int, int, int]]) -> dict[tuple[int, int, int], Any]:
        """(run_id, image_id, class_id) -> explanation JSON, for the keys that have one (batched).

        Portable IN lists on each column (served by the unique index), exact keys filtered here,
        and only the wanted rows' JSON decoded."""
        out: dict[tuple[int, int, int], Any] = {}
        wanted = set(keys)
        if not wanted:
            return out
        t = Explanation.__table__.c
        runs = sorted({k[0] for k in wanted})
        class_ids = sorted({k[2] for k in wanted})
        with self.session() as s:  # type: ignore[attr-defined]
            for part in _chunks(sorted({k[1] for k in wanted})):
                q = select(t.run_id, t.image_id, t.class_id, type_coerce(t.data, Text)).where(
                    t.run_id.in_(runs), t.image_id.in_(list(part)), t.class_id.in_(class_ids)
                )
                for run_id, image_id, class_id, raw in s.execute(q):
                    key = (run_id, image_id, class_id)
                    if key in wanted and raw is not None:
                        out[key] = json.loads(raw) if isinstance(raw, str) else raw
        return out

    def class_names_in_order(self) -> list[tuple[int, str]]:
        """(id, name) of every class in display order (the order exports number classes in)."""
        with self.session() as s:  # type: ignore[attr-defined]
            return [
                tuple(r)
                for r in s.execute(
                    select(LabelClass.id, LabelClass.name).order_by(LabelClass.order, LabelClass.id)
                )
            ]  # type: ignore[misc]
