"""Page-query vocabulary shared by the GUI, the CLI and the store: filters, sorts, row types.

Filters and sorts are registries (name -> SQL expression builder) so the GUI lists them and a
new one is one entry, not another branch. Everything here is portable SQL (no SQLite-only
functions): `NULLS LAST` is standard and understood by SQLite >= 3.30 and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, not_, or_, select

from db.models import Decision, Image, ReviewAssignment


@dataclass(frozen=True, slots=True)
class ImageRow:
    """One image as the grid / review views show it (the denormalised columns of `image`)."""

    id: int
    rel_path: str
    width: int | None
    height: int | None
    status: str
    error: str | None
    review_status: str
    label_class_id: int | None
    pred_class_id: int | None
    pred_score: float | None
    pred_margin: float | None
    imported_class_id: int | None
    issue_score: float | None
    size: int = 0
    format: str | None = None
    mode: str | None = None
    content_hash: str | None = None

    @property
    def current_class_id(self) -> int | None:
        """The decided class if a human decided, else the predicted one."""
        return self.label_class_id if self.label_class_id is not None else self.pred_class_id


ROW_COLUMNS = tuple(getattr(Image, f.name) for f in dataclasses.fields(ImageRow))


@dataclass(frozen=True, slots=True)
class CurrentLabel:
    """Where an image stands: the latest decision's label/status, else the prediction."""

    image_id: int
    class_id: int | None  # decided class (None when undecided or rejected)
    review_status: str
    decision_id: int | None
    pred_class_id: int | None
    imported_class_id: int | None

    @property
    def effective_class_id(self) -> int | None:
        return self.class_id if self.decision_id is not None else self.pred_class_id


@dataclass(frozen=True)
class ImageFilter:
    """Conjunction of conditions; None means "any". Strings or tuples of strings for statuses.

    `class_id` matches the image's current class (decided if decided, else predicted);
    `pred_class_id` / `label_class_id` match one of them only. `review_status='unreviewed'`
    selects undecided images; `decided=True` any decision. `text` is a case-insensitive
    substring of the relative path.
    """

    status: str | tuple[str, ...] | None = None
    review_status: str | tuple[str, ...] | None = None
    decided: bool | None = None
    class_id: int | None = None
    pred_class_id: int | None = None
    label_class_id: int | None = None
    imported_class_id: int | None = None
    has_prediction: bool | None = None
    has_imported: bool | None = None
    disagrees: bool | None = None
    text: str | None = None
    #: team mode: assigned to this reviewer and not yet decided by them (db/store_team.py)
    pending_for: str | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        """SQL conditions for the fields that are set (ANDed by the caller)."""
        out = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out.append(FILTERS[f.name](value))
        return out


def current_class() -> ColumnElement[Any]:
    return func.coalesce(Image.label_class_id, Image.pred_class_id)


def disagreement() -> ColumnElement[bool]:
    """Imported label differs from the current (decided, else predicted) class."""
    cur = current_class()
    return and_(Image.imported_class_id.is_not(None), cur.is_not(None), Image.imported_class_id != cur)


def _one_or_many(column: Any) -> Callable[[Any], ColumnElement[bool]]:
    def build(value: str | tuple[str, ...]) -> ColumnElement[bool]:
        return column == value if isinstance(value, str) else column.in_(tuple(value))

    return build


def _flag(expr: Callable[[], ColumnElement[bool]]) -> Callable[[bool], ColumnElement[bool]]:
    return lambda yes: expr() if yes else not_(expr())


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


FILTERS: dict[str, Callable[[Any], ColumnElement[bool]]] = {
    "status": _one_or_many(Image.status),
    "review_status": _one_or_many(Image.review_status),
    "decided": _flag(lambda: Image.review_status != "unreviewed"),
    # same as coalesce(label, pred) == v, spelled so that both class indexes can serve it
    "class_id": lambda v: or_(
        Image.label_class_id == v, and_(Image.label_class_id.is_(None), Image.pred_class_id == v)
    ),
    "pred_class_id": lambda v: Image.pred_class_id == v,
    "label_class_id": lambda v: Image.label_class_id == v,
    "imported_class_id": lambda v: Image.imported_class_id == v,
    "has_prediction": _flag(lambda: Image.pred_score.is_not(None)),
    "has_imported": _flag(lambda: Image.imported_class_id.is_not(None)),
    "disagrees": _flag(disagreement),
    # as a subquery: the path scan stays on the narrow rel_path index, and the outer query
    # keeps walking its sort index checking ids only (no table row reads)
    "text": lambda v: Image.id.in_(
        select(Image.id).where(Image.rel_path.ilike(f"%{_like_escape(v)}%", escape="\\")).scalar_subquery()
    ),
    "pending_for": lambda v: and_(
        Image.id.in_(select(ReviewAssignment.image_id).where(ReviewAssignment.reviewer == v).scalar_subquery()),
        Image.id.not_in(
            select(Decision.image_id).where(Decision.reviewer == v, Decision.action != "undo").scalar_subquery()
        ),
    ),
}
assert set(FILTERS) == {f.name for f in dataclasses.fields(ImageFilter)}

# --- sorts: name -> ORDER BY clauses (seed only matters to `random`) --------------------------

# Seeded shuffle in portable integer arithmetic: the seed picks the multiplier (different
# permutations, not a rotation), two different prime moduli break linearity. Every product
# stays below 2**63 for ids < 2**30.
_GOLDEN = 2654435761
_P1 = 4294967291  # largest prime < 2**32
_G2 = 1597334677
_P2 = 2147483647  # 2**31 - 1


def _random(seed: int) -> list[Any]:
    mult = _GOLDEN + 2 * (int(seed) % 2**31)
    key = (Image.id * literal(mult) % literal(_P1)) * literal(_G2) % literal(_P2)
    return [key, Image.id]


SORTS: dict[str, Callable[[int], list[Any]]] = {
    "name": lambda _s: [Image.rel_path, Image.id],
    # lowest confidence / smallest margin first: where review effort pays most
    "confidence": lambda _s: [Image.pred_score.asc().nulls_last(), Image.id],
    "margin": lambda _s: [Image.pred_margin.asc().nulls_last(), Image.id],
    "confidence_desc": lambda _s: [Image.pred_score.desc().nulls_last(), Image.id],  # bulk-accept order
    # grouped by predicted class (unpredicted last), then decided class, most confident first
    # (all keys live in the covering ix_image_page, so no table row is read to sort)
    "class": lambda _s: [
        Image.pred_class_id.asc().nulls_last(),
        Image.label_class_id.asc().nulls_last(),
        Image.pred_score.desc().nulls_last(),
        Image.id,
    ],
    "disagreement": lambda _s: [
        case((disagreement(), 0), else_=1),
        Image.issue_score.desc().nulls_last(),
        Image.id,
    ],
    "random": _random,
    # most recently decided first, then newest scanned
    "recent": lambda _s: [Image.last_decision_id.desc().nulls_last(), Image.id.desc()],
}


def order_by(sort: str, seed: int = 0) -> list[Any]:
    """ORDER BY clauses for a sort name; unknown names are a ValueError listing the known ones."""
    try:
        return SORTS[sort](seed)
    except KeyError:
        raise ValueError(f"unknown sort '{sort}' (known: {', '.join(SORTS)})") from None
