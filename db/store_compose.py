"""The compositional label space of a project: states, objects, allowed pairs, part attributes.

A pair is a class (`label_class`) linked to its state and object, so decisions, review, exports
and audit work on pairs unchanged. Attributes attached to a state or an object are copied into the
attribute list of every pair using that part, tagged in `attribute.origin` as
``compose:state:<name>`` / ``compose:object:<name>``: the engine then scores each pair over the
union of its own, its state's and its object's attributes with no special path, runs record the
union in their attribute-set version, and the evidence can say which part an attribute came from
(docs/architecture.md, "Compositional labels"). Copies are refreshed whenever a part's attributes
change; a copy a curator edited by hand is kept as the pair's own attribute, never dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Attribute, AttributeEdit, Image, LabelClass
from db.models_compose import PART_KINDS, ComposePair, ComposePart, ComposePartAttribute
from db.store_attributes import (
    AttributeEditError,
    _attr_state,
    _fold,
    clean_attribute_text,
    clean_class_name,
)

ORIGIN_PREFIX = "compose:"
#: Review statuses that label an image with a class (a curator decided it).
DECIDED_STATUSES = ("accepted", "corrected")
MAX_PART_NAME = 256


def part_origin(kind: str, name: str) -> str:
    """The `attribute.origin` tag of a copy of a state's or object's attribute."""
    return f"{ORIGIN_PREFIX}{kind}:{name}"


def parse_origin(origin: str | None) -> tuple[str, str] | None:
    """(kind, part name) of a copied attribute's origin tag; None for a pair's own attribute."""
    if not origin or not origin.startswith(ORIGIN_PREFIX):
        return None
    kind, _, name = origin[len(ORIGIN_PREFIX):].partition(":")
    return (kind, name) if kind in PART_KINDS and name else None


def pair_class_name(state: str, obj: str) -> str:
    """The class name of a pair: 'ripe tomato', 'dotted circle'."""
    return f"{state} {obj}"


@dataclass(frozen=True)
class PairRow:
    class_id: int
    name: str
    state: str
    object: str
    active: bool


@dataclass(frozen=True)
class LabelSpaceRows:
    """States and objects in display order, and every pair class."""

    states: tuple[str, ...]
    objects: tuple[str, ...]
    pairs: tuple[PairRow, ...]

    @property
    def empty(self) -> bool:
        return not self.pairs and not self.states and not self.objects


@dataclass
class ComposeStats:
    """What `compose_classes` changed."""

    states_added: list[str] = field(default_factory=list)
    objects_added: list[str] = field(default_factory=list)
    pairs_added: list[str] = field(default_factory=list)  # new classes
    pairs_linked: list[str] = field(default_factory=list)  # classes that existed by that name
    pairs_kept: int = 0  # already pairs
    attributes_copied: int = 0


def clean_part_name(name: object, kind: str) -> str:
    text = clean_class_name(name)
    if len(text) > MAX_PART_NAME:
        raise AttributeEditError(f"{kind} name longer than {MAX_PART_NAME} characters")
    return text


class ComposeMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""

    # -- reading ---------------------------------------------------------------------------------
    def label_space(self) -> LabelSpaceRows:
        """The project's states, objects and pairs (empty for a flat project)."""
        with self.session() as s:  # type: ignore[attr-defined]
            return self._label_space(s)

    @staticmethod
    def _label_space(s: Session) -> LabelSpaceRows:
        parts = s.execute(select(ComposePart.id, ComposePart.kind, ComposePart.name)
                          .order_by(ComposePart.order, ComposePart.id)).all()
        names = {pid: name for pid, _k, name in parts}
        rows = s.execute(
            select(ComposePair.class_id, LabelClass.name, ComposePair.state_id, ComposePair.object_id, LabelClass.active)
            .join(LabelClass, LabelClass.id == ComposePair.class_id)
            .order_by(LabelClass.order, LabelClass.id)
        ).all()
        return LabelSpaceRows(
            states=tuple(n for _p, k, n in parts if k == "state"),
            objects=tuple(n for _p, k, n in parts if k == "object"),
            pairs=tuple(PairRow(cid, cname, names[sid], names[oid], bool(act)) for cid, cname, sid, oid, act in rows),
        )

    def pair_of_classes(self) -> dict[int, tuple[str, str]]:
        """class id -> (state, object) for every pair class."""
        return {p.class_id: (p.state, p.object) for p in self.label_space().pairs}

    def part_attributes(self, kind: str, name: str) -> list[str]:
        """The attributes attached to a state or an object, in order."""
        with self.session() as s:  # type: ignore[attr-defined]
            part = self._part(s, kind, name)
            return list(s.scalars(select(ComposePartAttribute.text).where(ComposePartAttribute.part_id == part.id)
                                  .order_by(ComposePartAttribute.order, ComposePartAttribute.id)))

    def label_prediction_counts(self) -> dict[tuple[int | None, int | None], int]:
        """(decided class or None, current pre-label class or None) -> number of readable images."""
        with self.session() as s:  # type: ignore[attr-defined]
            rows = s.execute(
                select(Image.label_class_id, Image.review_status, Image.pred_class_id, func.count())
                .where(Image.status == "ok")
                .group_by(Image.label_class_id, Image.review_status, Image.pred_class_id)
            ).all()
        out: dict[tuple[int | None, int | None], int] = {}
        for label, status, pred, n in rows:
            key = (label if status in DECIDED_STATUSES else None, pred)
            out[key] = out.get(key, 0) + int(n)
        return out

    # -- writing ---------------------------------------------------------------------------------
    def compose_classes(self, states: Sequence[str], objects: Sequence[str],
                        pairs: Sequence[tuple[str, str]] | None = None, who: str = "") -> ComposeStats:
        """Add states, objects and pair classes in one transaction (all or nothing).

        ``pairs``: the allowed (state, object) pairs, each naming a given or existing state and
        object; None allows every given state with every given object. A class that already has
        a pair's name becomes that pair (its decisions stay); re-running adds only what is new.
        """
        st = [clean_part_name(x, "state") for x in states]
        ob = [clean_part_name(x, "object") for x in objects]
        for kind, names in (("state", st), ("object", ob)):
            folded = [_fold(n) for n in names]
            dup = sorted({n for n, f in zip(names, folded, strict=True) if folded.count(f) > 1})
            if dup:
                raise AttributeEditError(f"{kind} given twice: {', '.join(dup)}")
        stats = ComposeStats()
        with self.session() as s:  # type: ignore[attr-defined]
            part_ids = {("state", n): self._ensure_part(s, "state", n, stats.states_added) for n in st}
            part_ids.update({("object", n): self._ensure_part(s, "object", n, stats.objects_added) for n in ob})
            if pairs is None:
                wanted = [(a, b) for a in st for b in ob]
            else:
                wanted = [(clean_part_name(a, "state"), clean_part_name(b, "object")) for a, b in pairs]
            resolved = []
            for a, b in wanted:
                sp = part_ids.get(("state", a)) or self._part(s, "state", a)
                op_ = part_ids.get(("object", b)) or self._part(s, "object", b)
                resolved.append((sp, op_))
            touched: list[int] = []
            for sp, op_ in dict.fromkeys(resolved):
                touched.append(self._ensure_pair(s, sp, op_, stats, who))
            stats.attributes_copied = self._sync_copies(s, touched, who)
        return stats

    def set_part_attributes(self, kind: str, name: str, texts: Sequence[str], *, who: str = "",
                            source: str = "manual", mode: str = "replace") -> int:
        """Set (``replace``) or extend (``merge``) a state's or object's attributes and refresh the
        copies in its pairs; returns how many copies were added."""
        if mode not in ("replace", "merge"):
            raise AttributeEditError(f"mode must be 'replace' or 'merge', got {mode!r}")
        cleaned = list(dict.fromkeys(clean_attribute_text(t) for t in texts))
        with self.session() as s:  # type: ignore[attr-defined]
            part = self._part(s, kind, name)
            rows = list(s.scalars(select(ComposePartAttribute).where(ComposePartAttribute.part_id == part.id)
                                  .order_by(ComposePartAttribute.order, ComposePartAttribute.id)))
            before = [r.text for r in rows]
            if mode == "replace":
                keep = {_fold(t) for t in cleaned}
                for r in rows:
                    if _fold(r.text) not in keep:
                        s.delete(r)
                rows = [r for r in rows if _fold(r.text) in keep]
            have = {_fold(r.text): r for r in rows}
            final = cleaned if mode == "replace" else before + [t for t in cleaned if _fold(t) not in have]
            s.flush()
            for i, text in enumerate(final):
                r = have.get(_fold(text))
                if r is None:
                    s.add(ComposePartAttribute(part_id=part.id, text=text, source=source, order=i))
                else:
                    r.order = i
            s.add(AttributeEdit(action=f"compose_{kind}_attributes", before={"part": part.name, "texts": before},
                                after={"part": part.name, "texts": final}, who=who or ""))
            s.flush()
            col = ComposePair.state_id if kind == "state" else ComposePair.object_id
            cids = list(s.scalars(select(ComposePair.class_id).where(col == part.id)))
            return self._sync_copies(s, cids, who)

    # -- helpers (open session) ------------------------------------------------------------------
    @staticmethod
    def _part(s: Session, kind: str, name: str) -> ComposePart:
        if kind not in PART_KINDS:
            raise AttributeEditError(f"kind must be one of {', '.join(PART_KINDS)}, got {kind!r}")
        name = clean_class_name(name)
        row = s.scalar(select(ComposePart).where(ComposePart.kind == kind, ComposePart.name == name))
        if row is None:
            folded = _fold(name)
            row = next((p for p in s.scalars(select(ComposePart).where(ComposePart.kind == kind))
                        if _fold(p.name) == folded), None)
        if row is None:
            known = [p.name for p in s.scalars(select(ComposePart).where(ComposePart.kind == kind))]
            hint = f" (known: {', '.join(known)})" if known else " (add it with --states/--objects)"
            raise AttributeEditError(f"no {kind} named {name!r}{hint}")
        return row

    def _ensure_part(self, s: Session, kind: str, name: str, added: list[str]) -> ComposePart:
        try:
            return self._part(s, kind, name)
        except AttributeEditError:
            pass
        order = len(list(s.scalars(select(ComposePart.id).where(ComposePart.kind == kind))))
        row = ComposePart(kind=kind, name=name, order=order)
        s.add(row)
        s.flush()
        added.append(name)
        return row

    def _ensure_pair(self, s: Session, sp: ComposePart, op_: ComposePart, stats: ComposeStats, who: str) -> int:
        existing = s.scalar(select(ComposePair).where(ComposePair.state_id == sp.id, ComposePair.object_id == op_.id))
        if existing is not None:
            stats.pairs_kept += 1
            return existing.class_id
        name = clean_class_name(pair_class_name(sp.name, op_.name))
        folded = _fold(name)
        cls = next((c for c in s.scalars(select(LabelClass)) if _fold(c.name) == folded), None)
        if cls is not None:
            other = s.get(ComposePair, cls.id)
            if other is not None:
                raise AttributeEditError(f"class {cls.name!r} is already another pair")
            stats.pairs_linked.append(cls.name)
        else:
            order = (max(s.scalars(select(LabelClass.order)), default=0) or 0) + 1
            cls = LabelClass(name=name, order=order, active=True)
            s.add(cls)
            s.flush()
            s.add(AttributeEdit(class_id=cls.id, action="add_class", after={"name": name}, who=who or ""))
            stats.pairs_added.append(name)
        s.add(ComposePair(class_id=cls.id, state_id=sp.id, object_id=op_.id))
        s.flush()
        return cls.id

    @staticmethod
    def _sync_copies(s: Session, class_ids: Iterable[int], who: str) -> int:
        """Make each pair's copied attributes equal its state's then its object's attributes."""
        added = 0
        edited = set(s.scalars(select(AttributeEdit.attribute_id).where(AttributeEdit.action == "edit")))
        for cid in dict.fromkeys(class_ids):
            pair = s.get(ComposePair, cid)
            if pair is None:
                continue
            want: list[tuple[str, ComposePartAttribute]] = []
            for pid in (pair.state_id, pair.object_id):
                part = s.get(ComposePart, pid)
                assert part is not None  # foreign key
                tag = part_origin(part.kind, part.name)
                for pa in s.scalars(select(ComposePartAttribute).where(ComposePartAttribute.part_id == pid)
                                    .order_by(ComposePartAttribute.order, ComposePartAttribute.id)):
                    want.append((tag, pa))
            rows = list(s.scalars(select(Attribute).where(Attribute.class_id == cid)
                                  .order_by(Attribute.order, Attribute.id)))
            wanted_keys = {(tag, _fold(pa.text)) for tag, pa in want}
            kept: list[Attribute] = []
            for a in rows:
                if parse_origin(a.origin) is None or (a.origin, _fold(a.text)) in wanted_keys:
                    kept.append(a)
                elif a.id in edited:  # a curator changed this copy: it becomes the pair's own
                    a.origin = None
                    kept.append(a)
                else:
                    s.add(AttributeEdit(class_id=cid, attribute_id=a.id, action="delete", before=_attr_state(a),
                                        who=who or ""))
                    s.delete(a)
            have = {(a.origin, _fold(a.text)) for a in kept}
            texts = {_fold(a.text) for a in kept}
            own = [a for a in kept if parse_origin(a.origin) is None]
            copies = {(a.origin, _fold(a.text)): a for a in kept if parse_origin(a.origin) is not None}
            order = own[:]
            for tag, pa in want:
                key = (tag, _fold(pa.text))
                if key in have:
                    order.append(copies[key])
                    continue
                if _fold(pa.text) in texts:  # the pair already says it (own, or the other part)
                    continue
                row = Attribute(class_id=cid, text=pa.text, source=pa.source, origin=tag, active=True)
                s.add(row)
                s.flush()
                s.add(AttributeEdit(class_id=cid, attribute_id=row.id, action="add", after=_attr_state(row),
                                    who=who or ""))
                order.append(row)
                texts.add(_fold(pa.text))
                added += 1
            for i, a in enumerate(order):
                a.order = i
        s.flush()
        return added
