"""Project store: classes, attributes, edit log, attribute-set versions (issue #5).

Every public method is one unit of work and appends `AttributeEdit` rows (who/when/before/after),
so the curator's trail survives any edit. Class names are unique *case-insensitively* (stored as
typed, trimmed, inner whitespace collapsed): "Cat" and "cat" would collide as folder names on
macOS/Windows exports and confuse reviewers. Attribute texts are unique case-insensitively within
a class for the same reason (a duplicate descriptor silently doubles its weight in the OT plan).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from db.connection import LOCK_ATTRIBUTES, ProjectError, server_write_lock
from db.models import (
    ATTRIBUTE_SOURCES,
    Attribute,
    AttributeEdit,
    AttributeSet,
    Decision,
    Explanation,
    Image,
    ImportedLabel,
    LabelClass,
    LabelIssue,
    Prediction,
    utcnow,
)
from db.text import normalised

MAX_CLASS_NAME = 512
MAX_ATTRIBUTE_TEXT = 500
ClassKey = int | str  # a class id, or its name (matched case-insensitively)


class AttributeEditError(ProjectError, ValueError):
    """A class/attribute edit that cannot be applied (unknown id, duplicate name, bad text)."""


# --- plain rows handed to the fronts (detached from any session) ----------------------------


@dataclass(frozen=True)
class ClassRow:
    id: int
    name: str
    order: int
    active: bool
    n_attributes: int
    n_active_attributes: int
    created_at: dt.datetime


@dataclass(frozen=True)
class AttributeRow:
    id: int
    class_id: int
    class_name: str
    text: str
    source: str
    origin_model: str | None
    prompt_version: str | None
    origin: str | None
    created_at: dt.datetime
    active: bool
    order: int
    edited: bool  # changed by hand after it was created (see attribute_history)


@dataclass(frozen=True)
class EditRow:
    id: int
    class_id: int | None
    attribute_id: int | None
    action: str
    before: Any
    after: Any
    who: str
    at: dt.datetime


@dataclass
class BulkStats:
    """What `replace_attributes` changed."""

    classes_added: list[str] = field(default_factory=list)
    classes_touched: int = 0
    attributes_added: int = 0
    attributes_removed: int = 0
    duplicates_dropped: list[tuple[str, str]] = field(default_factory=list)  # (class, text)


@dataclass
class _BulkPlan:
    """What a bulk attribute import writes (class keys: id, or name of a class to create)."""

    stats: BulkStats = field(default_factory=BulkStats)
    new_names: list[str] = field(default_factory=list)
    to_delete: list[int] = field(default_factory=list)
    new_rows: list[tuple[int | str, int, list[str]]] = field(default_factory=list)  # (class, first order, texts)
    log_rows: list[tuple[int | str, list[str], list[str]]] = field(default_factory=list)  # (class, before, after)


# --- normalisation -------------------------------------------------------------------------


def clean_text(text: object, what: str, max_len: int) -> str:
    """`db.text.normalise` (NFKC, control and invisible characters removed, whitespace collapsed);
    reject empty and overlong text."""
    if not isinstance(text, str):
        raise AttributeEditError(f"{what} must be text, got {type(text).__name__}")
    out = normalised(text)
    if not out:
        raise AttributeEditError(f"{what} is empty" + (f" (was {text!r})" if text.strip() else ""))
    if len(out) > max_len:
        raise AttributeEditError(f"{what} is {len(out)} characters long (at most {max_len}): {out[:60]!r}...")
    return out


def clean_class_name(name: object) -> str:
    return clean_text(name, "class name", MAX_CLASS_NAME)


def clean_attribute_text(text: object) -> str:
    return clean_text(text, "attribute", MAX_ATTRIBUTE_TEXT)


def _fold(s: str) -> str:
    """Comparison key: rows stored before normalisation compare by their normalised form."""
    return normalised(s).casefold()


def specs_version(specs: Iterable[tuple[Any, str, Sequence[str]]]) -> str:
    """sha256 of the (name, attributes) content in order; ids are not content."""
    canon = [[name, list(attrs)] for _id, name, attrs in specs]
    blob = json.dumps(canon, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _attr_state(a: Attribute) -> dict[str, Any]:
    return {"text": a.text, "active": a.active, "order": a.order, "source": a.source}


class AttributesMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""

    # -- internal helpers (take an open session) -------------------------------------------
    @staticmethod
    def _log(s: Session, action: str, who: str, *, class_id=None, attribute_id=None, before=None, after=None):
        s.add(
            AttributeEdit(
                class_id=class_id,
                attribute_id=attribute_id,
                action=action,
                before=before,
                after=after,
                who=who or "",
            )
        )

    @staticmethod
    def _class(s: Session, key: ClassKey) -> LabelClass:
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise AttributeEditError(f"class must be an id or a name, got {key!r}")
        if isinstance(key, int):
            row = s.get(LabelClass, key)
            if row is None:
                raise AttributeEditError(f"no class with id {key}")
            return row
        name = clean_class_name(key)
        row = s.scalar(select(LabelClass).where(LabelClass.name == name))
        if row is None:
            folded = _fold(name)
            matches = [c for c in s.scalars(select(LabelClass)) if _fold(c.name) == folded]
            if not matches:
                raise AttributeEditError(f"no class named {name!r}")
            row = matches[0]
        return row

    @staticmethod
    def _attribute(s: Session, attr_id: int) -> Attribute:
        row = s.get(Attribute, attr_id)
        if row is None:
            raise AttributeEditError(f"no attribute with id {attr_id}")
        return row

    @staticmethod
    def _check_name_free(s: Session, name: str, exclude_id: int | None = None) -> None:
        folded = _fold(name)
        for cid, other in s.execute(select(LabelClass.id, LabelClass.name)):
            if cid != exclude_id and _fold(other) == folded:
                raise AttributeEditError(
                    f"a class named {other!r} already exists (names are case-insensitive)"
                )

    @staticmethod
    def _next_class_order(s: Session) -> int:
        return (s.scalar(select(func.max(LabelClass.order))) or 0) + 1

    @staticmethod
    def _class_specs(s: Session) -> list[tuple[int, str, tuple[str, ...]]]:
        classes = s.execute(
            select(LabelClass.id, LabelClass.name)
            .where(LabelClass.active.is_(True))
            .order_by(LabelClass.order, LabelClass.id)
        ).all()
        attrs: dict[int, list[str]] = {cid: [] for cid, _ in classes}
        rows = s.execute(
            select(Attribute.class_id, Attribute.text)
            .join(LabelClass, LabelClass.id == Attribute.class_id)
            .where(LabelClass.active.is_(True), Attribute.active.is_(True))
            .order_by(Attribute.class_id, Attribute.order, Attribute.id)
        )
        for cid, text in rows:
            attrs[cid].append(text)
        return [(cid, name, tuple(attrs[cid])) for cid, name in classes]

    # -- classes -----------------------------------------------------------------------------
    def add_class(self, name: str, who: str = "") -> int:
        """Create a class at the end of the display order; returns its id."""
        name = clean_class_name(name)
        with self.session() as s:
            self._check_name_free(s, name)
            row = LabelClass(name=name, order=self._next_class_order(s), active=True)
            s.add(row)
            s.flush()
            self._log(s, "add_class", who, class_id=row.id, after={"name": name})
            return row.id

    def get_class(self, key: ClassKey) -> ClassRow:
        """One class by id or name (case-insensitive)."""
        with self.session() as s:
            cid = self._class(s, key).id
        return next(c for c in self.list_classes() if c.id == cid)

    def list_classes(self, active_only: bool = False) -> list[ClassRow]:
        """Classes in display order with attribute counts."""
        with self.session() as s:
            counts = dict(
                s.execute(
                    select(Attribute.class_id, func.count(Attribute.id)).group_by(Attribute.class_id)
                ).all()
            )
            active_counts = dict(
                s.execute(
                    select(Attribute.class_id, func.count(Attribute.id))
                    .where(Attribute.active.is_(True))
                    .group_by(Attribute.class_id)
                ).all()
            )
            q = select(LabelClass).order_by(LabelClass.order, LabelClass.id)
            if active_only:
                q = q.where(LabelClass.active.is_(True))
            return [
                ClassRow(
                    c.id,
                    c.name,
                    c.order,
                    c.active,
                    counts.get(c.id, 0),
                    active_counts.get(c.id, 0),
                    c.created_at,
                )
                for c in s.scalars(q)
            ]

    def rename_class(self, class_id: ClassKey, new_name: str, who: str = "") -> None:
        new_name = clean_class_name(new_name)
        with self.session() as s:
            row = self._class(s, class_id)
            if row.name == new_name:
                return
            self._check_name_free(s, new_name, exclude_id=row.id)
            self._log(
                s, "rename_class", who, class_id=row.id, before={"name": row.name}, after={"name": new_name}
            )
            row.name = new_name

    def set_class_active(self, class_id: ClassKey, active: bool, who: str = "") -> None:
        """Inactive classes keep their attributes and labels but are not scored."""
        with self.session() as s:
            row = self._class(s, class_id)
            if row.active == bool(active):
                return
            self._log(
                s,
                "enable_class" if active else "disable_class",
                who,
                class_id=row.id,
                before={"active": row.active},
                after={"active": bool(active)},
            )
            row.active = bool(active)

    def reorder_classes(self, ids: Sequence[int], who: str = "") -> None:
        """Set the display order; `ids` must list every class exactly once."""
        with self.session() as s:
            current = (
                s.execute(select(LabelClass.id).order_by(LabelClass.order, LabelClass.id)).scalars().all()
            )
            if sorted(ids) != sorted(current) or len(set(ids)) != len(ids):
                raise AttributeEditError("reorder_classes needs every class id exactly once")
            s.execute(update(LabelClass), [{"id": cid, "order": i + 1} for i, cid in enumerate(ids)])
            self._log(s, "reorder_classes", who, before=list(current), after=list(ids))

    def class_usage(self, class_id: ClassKey) -> dict[str, int]:
        """How many decisions, imported labels and current labels point at a class."""
        with self.session() as s:
            cid = self._class(s, class_id).id
            return self._usage(s, cid)

    @staticmethod
    def _usage(s: Session, cid: int) -> dict[str, int]:
        def count(q) -> int:
            return int(s.scalar(q) or 0)

        return {
            "decisions": count(select(func.count(Decision.id)).where(Decision.class_id == cid)),
            "imported_labels": count(
                select(func.count(ImportedLabel.id)).where(ImportedLabel.class_id == cid)
            ),
            "labelled_images": count(select(func.count(Image.id)).where(Image.label_class_id == cid)),
        }

    @staticmethod
    def _deleted_class_names(s: Session) -> dict[int, str]:
        """id -> old name of every deleted class (from the edit log; ids are never reused)."""
        out: dict[int, str] = {}
        q = select(AttributeEdit.class_id, AttributeEdit.before).where(
            AttributeEdit.action == "delete_class", AttributeEdit.class_id.is_not(None)
        )
        for cid, before in s.execute(q):
            if isinstance(before, dict) and isinstance(before.get("name"), str):
                out[int(cid)] = before["name"]
        return out

    def deleted_classes(self) -> dict[int, str]:
        """id -> old name of every deleted class (decisions and runs may still name these ids)."""
        with self.session() as s:
            return self._deleted_class_names(s)

    def delete_class(self, class_id: ClassKey, who: str = "", force: bool = False) -> None:
        """Delete a class and its attributes. Refuses when decisions or imported labels use it,
        unless `force`: images' current labels of it become empty, while decisions and runs keep
        its id (never reused) and show it as deleted with its old name. Merging or disabling
        loses nothing."""
        with self.session() as s:
            row = self._class(s, class_id)
            usage = self._usage(s, row.id)
            if not force and (usage["decisions"] or usage["imported_labels"] or usage["labelled_images"]):
                raise AttributeEditError(
                    f"class {row.name!r} is used by {usage['decisions']} decisions, "
                    f"{usage['imported_labels']} imported labels and {usage['labelled_images']} labelled images; "
                    "merge it into another class or disable it "
                    "(or delete with force)"
                )
            before = {
                "name": row.name,
                "attributes": [_attr_state(a) for a in row.attributes],
                "usage": usage,
            }
            self._log(s, "delete_class", who, class_id=row.id, before=before)
            s.delete(row)

    def merge_classes(self, src_ids: Sequence[ClassKey], dst_id: ClassKey, who: str = "") -> None:
        """Fold classes into `dst`: attributes move (duplicates dropped), every label, decision,
        prediction and imported label pointing at a source is re-pointed, then sources go."""
        with self.session() as s:
            dst = self._class(s, dst_id)
            srcs = [self._class(s, k) for k in src_ids]
            if any(c.id == dst.id for c in srcs):
                raise AttributeEditError("cannot merge a class into itself")
            src_set = {c.id for c in srcs}
            if not src_set:
                return
            seen = {_fold(a.text) for a in dst.attributes}
            order = max((a.order for a in dst.attributes), default=-1) + 1
            moved, dropped = [], []
            for c in srcs:
                for a in list(c.attributes):
                    if _fold(a.text) in seen:
                        dropped.append(a.text)
                        continue
                    seen.add(_fold(a.text))
                    moved.append(a.id)
                    s.execute(
                        update(Attribute).where(Attribute.id == a.id).values(class_id=dst.id, order=order)
                    )
                    order += 1
            s.expire_all()
            ids = list(src_set)
            for col_owner, col in (
                (Decision, Decision.class_id),
                (Decision, Decision.previous_class_id),
                (Prediction, Prediction.class_id),
                (Image, Image.label_class_id),
                (Image, Image.pred_class_id),
                (Image, Image.imported_class_id),
                (ImportedLabel, ImportedLabel.class_id),
                (LabelIssue, LabelIssue.given_class_id),
                (LabelIssue, LabelIssue.suggested_class_id),
            ):
                s.execute(update(col_owner).where(col.in_(ids)).values({col.key: dst.id}))
            # explanations are unique per (run, image, class): keep dst's where both exist
            taken = select(Explanation.run_id, Explanation.image_id).where(Explanation.class_id == dst.id)
            taken_pairs = set(s.execute(taken).all())
            for eid, run_id, image_id in s.execute(
                select(Explanation.id, Explanation.run_id, Explanation.image_id).where(
                    Explanation.class_id.in_(ids)
                )
            ).all():
                if (run_id, image_id) in taken_pairs:
                    s.execute(delete(Explanation).where(Explanation.id == eid))
                else:
                    taken_pairs.add((run_id, image_id))
                    s.execute(update(Explanation).where(Explanation.id == eid).values(class_id=dst.id))
            self._repoint_topk(s, src_set, dst.id)
            names = {c.id: c.name for c in srcs}
            self._log(
                s,
                "merge_classes",
                who,
                class_id=dst.id,
                before={"sources": [{"id": i, "name": n} for i, n in names.items()]},
                after={
                    "into": {"id": dst.id, "name": dst.name},
                    "moved": moved,
                    "dropped_duplicates": dropped,
                },
            )
            s.execute(delete(Attribute).where(Attribute.class_id.in_(ids)))
            s.execute(delete(LabelClass).where(LabelClass.id.in_(ids)))

    @staticmethod
    def _repoint_topk(s: Session, src: set[int], dst: int, chunk: int = 5000) -> None:
        """Rewrite prediction top-k lists that mention a merged class (best score kept once)."""
        last = 0
        while True:
            rows = s.execute(
                select(Prediction.id, Prediction.topk)
                .where(Prediction.id > last)
                .order_by(Prediction.id)
                .limit(chunk)
            ).all()
            if not rows:
                return
            last = rows[-1][0]
            changes = []
            for pid, topk in rows:
                if not topk or not any(pair and pair[0] in src for pair in topk):
                    continue
                out, seen = [], set()
                for cid, score in topk:
                    cid = dst if cid in src else cid
                    if cid not in seen:
                        seen.add(cid)
                        out.append([cid, score])
                changes.append({"id": pid, "topk": out})
            if changes:
                s.execute(update(Prediction), changes)

    # -- attributes ----------------------------------------------------------------------------
    def add_attribute(
        self,
        class_id: ClassKey,
        text: str,
        source: str = "manual",
        who: str = "",
        origin_model: str | None = None,
        prompt_version: str | None = None,
        origin: str | None = None,
        position: int | None = None,
    ) -> int:
        """Append (or insert at `position`) one attribute; returns its id."""
        text = clean_attribute_text(text)
        if source not in ATTRIBUTE_SOURCES:
            raise AttributeEditError(
                f"unknown attribute source {source!r} (one of {', '.join(ATTRIBUTE_SOURCES)})"
            )
        with self.session() as s:
            cls = self._class(s, class_id)
            existing = list(cls.attributes)
            if any(_fold(a.text) == _fold(text) for a in existing):
                raise AttributeEditError(f"class {cls.name!r} already has the attribute {text!r}")
            pos = len(existing) if position is None else max(0, min(position, len(existing)))
            for i, a in enumerate(existing):
                a.order = i if i < pos else i + 1
            row = Attribute(
                class_id=cls.id,
                text=text,
                source=source,
                origin_model=origin_model,
                prompt_version=prompt_version,
                origin=origin,
                active=True,
                order=pos,
            )
            s.add(row)
            s.flush()
            self._log(s, "add", who, class_id=cls.id, attribute_id=row.id, after=_attr_state(row))
            return row.id

    def edit_attribute(self, attr_id: int, text: str, who: str = "") -> None:
        """Change an attribute's text (its source and provenance stay; the edit is logged)."""
        text = clean_attribute_text(text)
        with self.session() as s:
            row = self._attribute(s, attr_id)
            if row.text == text:
                return
            folded = _fold(text)
            siblings = s.scalars(
                select(Attribute.text).where(Attribute.class_id == row.class_id, Attribute.id != row.id)
            )
            if any(_fold(t) == folded for t in siblings):
                raise AttributeEditError(f"the class already has the attribute {text!r}")
            self._log(
                s,
                "edit",
                who,
                class_id=row.class_id,
                attribute_id=row.id,
                before={"text": row.text},
                after={"text": text},
            )
            row.text = text

    def delete_attribute(self, attr_id: int, who: str = "") -> None:
        with self.session() as s:
            row = self._attribute(s, attr_id)
            before = _attr_state(row) | {
                "origin_model": row.origin_model,
                "prompt_version": row.prompt_version,
            }
            self._log(s, "delete", who, class_id=row.class_id, attribute_id=row.id, before=before)
            s.delete(row)

    def set_attribute_active(self, attr_id: int, active: bool, who: str = "") -> None:
        """Disabled attributes stay listed but are left out of `class_specs`."""
        with self.session() as s:
            row = self._attribute(s, attr_id)
            if row.active == bool(active):
                return
            self._log(
                s,
                "enable" if active else "disable",
                who,
                class_id=row.class_id,
                attribute_id=row.id,
                before={"active": row.active},
                after={"active": bool(active)},
            )
            row.active = bool(active)

    def reorder_attributes(self, class_id: ClassKey, ids: Sequence[int], who: str = "") -> None:
        """`ids` must be every attribute id of the class exactly once, in the new order."""
        with self.session() as s:
            cls = self._class(s, class_id)
            current = [a.id for a in cls.attributes]
            if sorted(ids) != sorted(current) or len(set(ids)) != len(ids):
                raise AttributeEditError(
                    f"reorder of {cls.name!r} needs each of its attribute ids exactly once"
                )
            if list(ids) == current:
                return
            s.execute(update(Attribute), [{"id": aid, "order": i} for i, aid in enumerate(ids)])
            self._log(s, "reorder", who, class_id=cls.id, before=current, after=list(ids))

    def list_attributes(self, class_id: ClassKey | None = None) -> list[AttributeRow]:
        """Attributes (active or not) in class display order, then attribute order."""
        with self.session() as s:
            q = (
                select(Attribute, LabelClass.name)
                .join(LabelClass, LabelClass.id == Attribute.class_id)
                .order_by(LabelClass.order, LabelClass.id, Attribute.order, Attribute.id)
            )
            if class_id is not None:
                q = q.where(Attribute.class_id == self._class(s, class_id).id)
            edited = set(
                s.scalars(select(AttributeEdit.attribute_id).where(AttributeEdit.action == "edit").distinct())
            )
            return [
                AttributeRow(
                    a.id,
                    a.class_id,
                    cname,
                    a.text,
                    a.source,
                    a.origin_model,
                    a.prompt_version,
                    a.origin,
                    a.created_at,
                    a.active,
                    a.order,
                    a.id in edited,
                )
                for a, cname in s.execute(q)
            ]

    def replace_attributes(
        self,
        items: Sequence[tuple[ClassKey, Sequence[str]]],
        *,
        who: str = "",
        mode: str = "replace",
        source: str = "import",
        origin: str | None = None,
        origin_model: str | None = None,
        prompt_version: str | None = None,
        create_classes: bool = True,
    ) -> BulkStats:
        """Bulk set attributes of many classes in ONE transaction (all or nothing).

        `mode="replace"`: each listed class ends with exactly the given attributes (in order);
        `mode="merge"`: new texts are appended after the existing ones. Unknown class names are
        created (appended to the display order in the order given) when `create_classes`.
        Case-insensitive duplicates within a class are dropped and reported. One edit-log row per
        class touched records the before/after texts.
        """
        if mode not in ("replace", "merge"):
            raise AttributeEditError(f"mode must be 'replace' or 'merge', got {mode!r}")
        if source not in ATTRIBUTE_SOURCES:
            raise AttributeEditError(f"unknown attribute source {source!r}")
        cleaned: list[tuple[ClassKey, list[str]]] = []
        for key, texts in items:
            if isinstance(key, str):
                key = clean_class_name(key)
            cleaned.append((key, [clean_attribute_text(t) for t in texts]))
        plan_args = (cleaned, mode, create_classes)
        meta = dict(who=who, mode=mode, source=source, origin=origin, origin_model=origin_model,
                    prompt_version=prompt_version)
        # Short write transaction (issue #13 item 8): plan from a read, stage the new rows in a
        # TEMP table (which takes no lock on the project), then one transaction copies them in
        # with a single INSERT ... SELECT. If classes or attributes were edited in between, the
        # plan is made again under the lock and written directly.
        with self.session() as s:
            token = self._edit_token(s)
            plan = self._plan_bulk(s, *plan_args)
        with self.engine.connect() as conn:  # type: ignore[attr-defined]
            try:
                staged = self._stage_rows(conn, plan, meta)
                with Session(bind=conn) as s:
                    if not server_write_lock(s, LOCK_ATTRIBUTES):
                        s.execute(update(LabelClass).where(LabelClass.id == -1).values(name=LabelClass.name))  # lock
                    if self._edit_token(s) != token:
                        plan = self._plan_bulk(s, *plan_args)
                        staged = False
                    self._apply_bulk(s, plan, staged=staged, **meta)
                    s.commit()
            except OperationalError as err:
                conn.rollback()
                self._raise_store_error(err)  # type: ignore[attr-defined]
                raise
            finally:
                conn.exec_driver_sql("DROP TABLE IF EXISTS lazlabel_staged_attribute")
                conn.commit()
        return plan.stats

    @staticmethod
    def _edit_token(s: Session) -> tuple[Any, ...]:
        """Changes whenever a class or attribute is edited (every edit is logged)."""
        return (
            s.scalar(select(func.max(AttributeEdit.id))),
            s.scalar(select(func.count(Attribute.id))),
            s.scalar(select(func.max(LabelClass.id))),
        )

    @staticmethod
    def _plan_bulk(s: Session, cleaned: list[tuple[ClassKey, list[str]]], mode: str, create_classes: bool) -> _BulkPlan:
        """What `replace_attributes` will write, from reads only. New classes are keyed by name."""
        plan = _BulkPlan()
        stats = plan.stats
        by_id = {c.id: c for c in s.execute(select(LabelClass.id, LabelClass.name)).all()}
        by_fold: dict[str, int | str] = {_fold(name): cid for cid, name in by_id.values()}
        for key, _ in cleaned:
            if isinstance(key, int):
                if key not in by_id:
                    raise AttributeEditError(f"no class with id {key}")
            elif _fold(key) not in by_fold:
                if not create_classes:
                    raise AttributeEditError(f"no class named {key!r}")
                by_fold[_fold(key)] = key  # a new class, keyed by its name until it has an id
                plan.new_names.append(key)
        stats.classes_added = list(plan.new_names)
        # group by class (a class listed twice is merged in order)
        targets: dict[int | str, list[str]] = {}
        for key, texts in cleaned:
            cid = key if isinstance(key, int) else by_fold[_fold(key)]
            targets.setdefault(cid, []).extend(texts)
        existing: dict[int | str, list[tuple[int, str]]] = {cid: [] for cid in targets}
        ids = [cid for cid in targets if isinstance(cid, int)]
        for i in range(0, len(ids), 900):
            for aid, cid, text in s.execute(
                select(Attribute.id, Attribute.class_id, Attribute.text)
                .where(Attribute.class_id.in_(ids[i : i + 900]))
                .order_by(Attribute.class_id, Attribute.order, Attribute.id)
            ):
                existing[cid].append((aid, text))
        names: dict[int | str, str] = {cid: name for cid, name in by_id.values()}
        names.update({n: n for n in plan.new_names})
        for cid, texts in targets.items():
            old = existing[cid]
            present = set() if mode == "replace" else {_fold(t) for _, t in old}
            seen: set[str] = set()
            added = []
            for t in texts:
                f = _fold(t)
                if f in seen:
                    stats.duplicates_dropped.append((names[cid], t))
                    continue
                seen.add(f)
                if f not in present:
                    added.append(t)
            if mode == "replace":
                if [t for _, t in old] == added:
                    continue  # nothing changes: keep rows and provenance
                plan.to_delete.extend(aid for aid, _ in old)
                start = 0
            else:
                if not added:
                    continue
                start = len(old)
            plan.new_rows.append((cid, start, added))
            plan.log_rows.append((cid, [t for _, t in old], ([] if mode == "replace" else [t for _, t in old]) + added))
            stats.classes_touched += 1
            stats.attributes_added += len(added)
            if mode == "replace":
                stats.attributes_removed += len(old)
        return plan

    @staticmethod
    def _stage_rows(conn: Any, plan: _BulkPlan, meta: dict[str, Any]) -> bool:
        """New attribute rows into a TEMP table, in chunks (no lock on the project file)."""
        conn.exec_driver_sql("DROP TABLE IF EXISTS lazlabel_staged_attribute")
        conn.exec_driver_sql(
            "CREATE TEMP TABLE lazlabel_staged_attribute "
            "(class_id INTEGER, class_name TEXT, text TEXT NOT NULL, sort_order INTEGER NOT NULL)"
        )
        stmt = sql_text(
            "INSERT INTO lazlabel_staged_attribute (class_id, class_name, text, sort_order) "
            "VALUES (:cid, :cname, :text, :ord)"
        )
        batch: list[dict[str, Any]] = []
        for key, start, added in plan.new_rows:
            cid, cname = (key, None) if isinstance(key, int) else (None, key)
            batch.extend({"cid": cid, "cname": cname, "text": t, "ord": start + j} for j, t in enumerate(added))
            if len(batch) >= 50_000:
                conn.execute(stmt, batch)
                batch = []
        if batch:
            conn.execute(stmt, batch)
        conn.commit()
        return True

    def _apply_bulk(self, s: Session, plan: _BulkPlan, *, staged: bool, who: str, mode: str, source: str,
                    origin: str | None, origin_model: str | None, prompt_version: str | None) -> None:
        """Write a `_plan_bulk` plan inside the write transaction (`staged`: the new attribute rows
        are in the TEMP table already)."""
        now = utcnow()
        created: dict[str, int] = {}
        if plan.new_names:
            start = self._next_class_order(s)
            s.execute(
                insert(LabelClass),
                [{"name": n, "order": start + i, "active": True, "created_at": now} for i, n in enumerate(plan.new_names)],
            )
            for i in range(0, len(plan.new_names), 900):
                part = plan.new_names[i : i + 900]
                created.update(s.execute(select(LabelClass.name, LabelClass.id).where(LabelClass.name.in_(part))).all())
            s.execute(
                insert(AttributeEdit),
                [
                    {"class_id": created[n], "action": "add_class", "after": {"name": n}, "who": who, "at": now}
                    for n in plan.new_names
                ],
            )

        def cid_of(key: int | str) -> int:
            return key if isinstance(key, int) else created[key]

        for i in range(0, len(plan.to_delete), 900):
            s.execute(delete(Attribute).where(Attribute.id.in_(plan.to_delete[i : i + 900])))
        if staged:
            s.execute(
                sql_text(
                    "INSERT INTO attribute (class_id, text, source, origin_model, prompt_version, origin, "
                    "created_at, active, sort_order) "
                    "SELECT coalesce(st.class_id, lc.id), st.text, :source, :model, :prompt, :origin, :now, :yes, "
                    "st.sort_order FROM lazlabel_staged_attribute AS st "
                    "LEFT JOIN label_class AS lc ON st.class_id IS NULL AND lc.name = st.class_name"
                ),
                {"source": source, "model": origin_model, "prompt": prompt_version, "origin": origin,
                 "now": now, "yes": True},
            )
        rows = [] if staged else [
            {
                "class_id": cid_of(key),
                "text": t,
                "source": source,
                "origin_model": origin_model,
                "prompt_version": prompt_version,
                "origin": origin,
                "created_at": now,
                "active": True,
                "sort_order": start + j,
            }
            for key, start, added in plan.new_rows
            for j, t in enumerate(added)
        ]
        if rows:  # Core insert: no ORM bookkeeping for thousands of rows
            s.execute(insert(Attribute.__table__), rows)
        if plan.log_rows:
            s.execute(
                insert(AttributeEdit.__table__),
                [
                    {
                        "class_id": cid_of(key),
                        "action": f"bulk_{mode}",
                        "before": {"texts": before},
                        "after": {"texts": after, "source": source, "origin": origin, "model": origin_model},
                        "who": who,
                        "at": now,
                    }
                    for key, before, after in plan.log_rows
                ],
            )

    def attribute_history(
        self, class_id: ClassKey | None = None, attribute_id: int | None = None, limit: int | None = None
    ) -> list[EditRow]:
        """Edit log, newest first, optionally for one class or attribute."""
        with self.session() as s:
            q = select(AttributeEdit).order_by(AttributeEdit.id.desc())
            if class_id is not None:
                cid = class_id if isinstance(class_id, int) else self._class(s, class_id).id
                q = q.where(AttributeEdit.class_id == cid)
            if attribute_id is not None:
                q = q.where(AttributeEdit.attribute_id == attribute_id)
            if limit is not None:
                q = q.limit(limit)
            return [
                EditRow(e.id, e.class_id, e.attribute_id, e.action, e.before, e.after, e.who, e.at)
                for e in s.scalars(q)
            ]

    # -- what the engine consumes ---------------------------------------------------------------
    def class_specs(self) -> list[tuple[int, str, tuple[str, ...]]]:
        """Active classes in display order, each with its active attributes in order."""
        with self.session() as s:
            return self._class_specs(s)

    def attribute_set_version(self) -> str:
        """Content hash (sha256 hex) of the names and attribute texts `class_specs` returns."""
        return specs_version(self.class_specs())

    def snapshot_attribute_set(self) -> str:
        """Store the current attribute set (if new) and return its version for a run to record."""
        try:
            with self.session() as s:
                specs = self._class_specs(s)
                version = specs_version(specs)
                if s.get(AttributeSet, version) is None:
                    s.add(
                        AttributeSet(
                            version=version,
                            snapshot=[
                                {"class": name, "attributes": list(attrs)} for _cid, name, attrs in specs
                            ],
                        )
                    )
        except IntegrityError:  # another process stored the same snapshot first
            return self.attribute_set_version()
        return version

    def get_attribute_set(self, version: str) -> list[tuple[str, tuple[str, ...]]]:
        """A stored snapshot as (class name, attributes) pairs; accepts a unique version prefix."""
        with self.session() as s:
            row = s.get(AttributeSet, version)
            if row is None and 4 <= len(version) < 64:
                rows = s.scalars(select(AttributeSet).where(AttributeSet.version.startswith(version))).all()
                if len(rows) > 1:
                    raise AttributeEditError(f"attribute-set version prefix {version!r} is ambiguous")
                row = rows[0] if rows else None
            if row is None:
                raise AttributeEditError(f"no stored attribute set {version!r}")
            return [(item["class"], tuple(item["attributes"])) for item in row.snapshot]

    def list_attribute_sets(self) -> list[tuple[str, dt.datetime, int]]:
        """(version, created_at, number of classes), oldest first."""
        with self.session() as s:
            return [
                (r.version, r.created_at, len(r.snapshot))
                for r in s.scalars(
                    select(AttributeSet).order_by(AttributeSet.created_at, AttributeSet.version)
                )
            ]
