"""Typed SQLAlchemy 2.0 models of one lazlabel project.

Portable SQL only (SQLite today, PostgreSQL possible). Decisions are append-only; the current
label and the latest prediction of an image are denormalised onto `Image` in the same
transaction that writes the decision / prediction, so the GUI's page queries hit one indexed table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


# --- enumerations kept as plain strings (portable, readable in the file) ---------------------

IMAGE_STATUSES = ("ok", "error", "missing")
REVIEW_STATUSES = ("unreviewed", "accepted", "corrected", "rejected", "uncertain", "confirmed_negative")
# "stale": appended by a re-scan when a decided file's content changed; the decisions before it
# are kept but no longer label the image (it is back in review), and undo does not cross it
DECISION_ACTIONS = ("accepted", "corrected", "rejected", "uncertain", "confirmed_negative", "undo", "stale")
ATTRIBUTE_SOURCES = ("llm", "manual", "import")
RUN_STATUSES = ("running", "done", "cancelled", "failed")


class Setting(Base):
    """Project settings as JSON values (model, device, view mode, Ollama host, reviewer...)."""

    __tablename__ = "setting"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON)


class Image(Base):
    __tablename__ = "image"
    # composite indexes for the GUI's page queries (filter by status / review state, then sort)
    __table_args__ = (
        Index("ix_image_status_rel_path", "status", "rel_path"),
        Index("ix_image_status_pred_score", "status", "pred_score"),
        Index("ix_image_status_pred_margin", "status", "pred_margin"),
        Index("ix_image_status_issue_score", "status", "issue_score"),
        # the review queue walked in index order at any depth: unreviewed by confidence / by name
        Index("ix_image_status_review_pred_score", "status", "review_status", "pred_score"),
        Index("ix_image_status_review_pred_margin", "status", "review_status", "pred_margin"),
        Index("ix_image_status_review_rel_path", "status", "review_status", "rel_path"),
        # covering index of every filter/sort key but the path: sorts on expressions (class,
        # disagreement, random, recent) sort ids from this narrow index instead of table rows
        Index(
            "ix_image_page",
            "status",
            "review_status",
            "pred_class_id",
            "label_class_id",
            "imported_class_id",
            "pred_score",
            "pred_margin",
            "issue_score",
            "last_decision_id",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    # POSIX relative path under the image root, as text. Names that are not valid UTF-8 are kept
    # losslessly in `raw_path` (os.fsencode bytes) and shown with backslash escapes here.
    rel_path: Mapped[str] = mapped_column(String(4096), unique=True)
    raw_path: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes; 64-bit on PostgreSQL too
    mtime_ns: Mapped[int] = mapped_column(BigInteger, default=0)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    format: Mapped[str | None] = mapped_column(String(32), nullable=True)
    mode: Mapped[str | None] = mapped_column(String(32), nullable=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16), default="ok", index=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    added_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    # denormalised review state (written with each Decision)
    review_status: Mapped[str] = mapped_column(String(24), default="unreviewed", index=True)
    label_class_id: Mapped[int | None] = mapped_column(
        ForeignKey("label_class.id", ondelete="SET NULL"), nullable=True, index=True
    )
    last_decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    # denormalised latest prediction (written with each Prediction of the newest run)
    pred_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pred_class_id: Mapped[int | None] = mapped_column(
        ForeignKey("label_class.id", ondelete="SET NULL"), nullable=True, index=True
    )
    pred_score: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)
    pred_margin: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)

    # denormalised imported label (for audit / disagreement sort)
    imported_class_id: Mapped[int | None] = mapped_column(
        ForeignKey("label_class.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # audit: estimated probability that the imported label is wrong (higher = more suspicious)
    issue_score: Mapped[float | None] = mapped_column(Float, nullable=True, index=True)


class LabelClass(Base):
    __tablename__ = "label_class"
    # ids are never handed out twice: runs' top-k scores and decisions keep naming what they meant
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(512), unique=True)
    order: Mapped[int] = mapped_column("sort_order", Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)

    attributes: Mapped[list[Attribute]] = relationship(
        back_populates="label_class", cascade="all, delete-orphan", order_by="Attribute.order"
    )


class Attribute(Base):
    __tablename__ = "attribute"
    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("label_class.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="manual")  # llm | manual | import
    # provenance: for llm, the model and prompt version; for import, the file name
    origin_model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    prompt_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    origin: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    order: Mapped[int] = mapped_column("sort_order", Integer, default=0)

    label_class: Mapped[LabelClass] = relationship(back_populates="attributes")


class AttributeEdit(Base):
    """Append-only log of every class/attribute edit: who, when, before/after."""

    __tablename__ = "attribute_edit"
    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    attribute_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    action: Mapped[str] = mapped_column(String(32))  # add/edit/delete/reorder/enable/disable/rename/merge...
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    who: Mapped[str] = mapped_column(String(256), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AttributeSet(Base):
    """A content-addressed snapshot of the active classes and attributes a run used."""

    __tablename__ = "attribute_set"
    version: Mapped[str] = mapped_column(String(64), primary_key=True)  # content hash
    snapshot: Mapped[Any] = mapped_column(JSON)  # [{"class": name, "attributes": [...]}, ...]
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Run(Base):
    __tablename__ = "run"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="prelabel", index=True)  # prelabel | rescore | learn | audit
    parent_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    model_id: Mapped[str] = mapped_column(String(512))
    engine_config: Mapped[Any] = mapped_column(JSON)
    attribute_set_version: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    n_images: Mapped[int] = mapped_column(Integer, default=0)
    n_done: Mapped[int] = mapped_column(Integer, default=0)
    n_errors: Mapped[int] = mapped_column(Integer, default=0)
    timings: Mapped[Any] = mapped_column(JSON, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # "host|pid|start ticks" of the process running it, so a run whose process died is recognised
    owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # the owner's last sign of life (each stored batch): the run lease for owners on other hosts
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Prediction(Base):
    __tablename__ = "prediction"
    __table_args__ = (
        UniqueConstraint("run_id", "image_id"),
        Index("ix_prediction_run_score", "run_id", "score"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    # not a foreign key: the id of the class the model predicted, kept if that class is deleted
    class_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[float] = mapped_column(Float)
    margin: Mapped[float] = mapped_column(Float)
    topk: Mapped[Any] = mapped_column(JSON)  # [[class_id, score], ...] best first


class Explanation(Base):
    """Evidence for one (run, image, class): per attribute its share and top regions (JSON)."""

    __tablename__ = "explanation"
    __table_args__ = (UniqueConstraint("run_id", "image_id", "class_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("label_class.id", ondelete="CASCADE"))
    data: Mapped[Any] = mapped_column(JSON)


class Decision(Base):
    """Append-only. Undo is a new row (action='undo') that restores the previous label."""

    __tablename__ = "decision"
    __table_args__ = (Index("ix_decision_image_id_id", "image_id", "id"),)  # latest decision of an image
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    # not a foreign key: the class decided on, kept (shown as deleted) if that class is deleted
    class_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    action: Mapped[str] = mapped_column(String(24))
    # the review status / label this decision leaves the image in (undo restores an older one)
    result_status: Mapped[str] = mapped_column(String(24))
    previous_class_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    previous_status: Mapped[str | None] = mapped_column(String(24), nullable=True)
    prior_source: Mapped[str | None] = mapped_column(String(16), nullable=True)  # prediction/imported/decision
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    undoes_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reviewer: Mapped[str] = mapped_column(String(256), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    # the `vouch` record of a bulk acceptance made under a guarantee (issue #21)
    vouch_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class ImportedLabel(Base):
    """A label that came with the dataset (folder name, CSV, ...): audited, never a decision."""

    __tablename__ = "imported_label"
    __table_args__ = (UniqueConstraint("image_id", "source"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(512))
    class_id: Mapped[int | None] = mapped_column(
        ForeignKey("label_class.id", ondelete="SET NULL"), nullable=True
    )
    source: Mapped[str] = mapped_column(String(64))  # folder | csv | jsonl | fiftyone | labelstudio
    origin: Mapped[str | None] = mapped_column(Text, nullable=True)  # file it came from
    imported_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LabelIssue(Base):
    """Result of an audit run: how likely an image's imported label is wrong, and why."""

    __tablename__ = "label_issue"
    __table_args__ = (UniqueConstraint("run_id", "image_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    given_class_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    suggested_class_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    p_given: Mapped[float] = mapped_column(Float)
    issue_score: Mapped[float] = mapped_column(Float, index=True)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AuditSample(Base):
    """A uniform random draw of images still to decide, for vouching a threshold (issue #21).

    `items` keeps, per image, the prediction it was drawn with ([image_id, run_id, class_id, score]),
    so a later proposal can tell that the predictions changed since (re-score, learning).
    """

    __tablename__ = "audit_sample"
    id: Mapped[int] = mapped_column(primary_key=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    n_pool: Mapped[int] = mapped_column(Integer)
    items: Mapped[Any] = mapped_column(JSON)
    reviewer: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class Vouch(Base):
    """How a bulk acceptance was vouched for: target, bound, the audited sample, the run."""

    __tablename__ = "vouch"
    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # newest prediction run accepted
    target: Mapped[float] = mapped_column(Float)
    confidence: Mapped[float] = mapped_column(Float)
    method: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))  # global | per-class
    thresholds: Mapped[Any] = mapped_column(JSON)  # {class_id: threshold or null}
    families: Mapped[Any] = mapped_column(JSON)  # per family: classes, n, errors, bound, delta
    sample_image_ids: Mapped[Any] = mapped_column(JSON)
    sample_decision_ids: Mapped[Any] = mapped_column(JSON)
    n_sample: Mapped[int] = mapped_column(Integer)
    n_errors: Mapped[int] = mapped_column(Integer)
    precision_bound: Mapped[float] = mapped_column(Float)  # the smallest family bound
    n_accepted: Mapped[int] = mapped_column(Integer, default=0)
    overridden: Mapped[bool] = mapped_column(Boolean, default=False)  # a curator changed a threshold
    statement: Mapped[str] = mapped_column(Text)  # one line for dataset cards
    reviewer: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class EffortEvent(Base):
    """Work a curator did: keys and clicks of a GUI decision, a CLI decision, a bulk acceptance."""

    __tablename__ = "effort_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16), index=True)  # gui | cli | bulk
    action: Mapped[str] = mapped_column(String(32))
    n_images: Mapped[int] = mapped_column(Integer, default=1)
    keys: Mapped[int] = mapped_column(Integer, default=0)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    commands: Mapped[int] = mapped_column(Integer, default=0)
    decision_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # first decision it made
    vouch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reviewer: Mapped[str] = mapped_column(String(256), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ReviewAssignment(Base):
    """Team mode: which reviewer is to decide which image. An image assigned to several
    reviewers is an overlap image, decided by each of them for the agreement statistics."""

    __tablename__ = "review_assignment"
    __table_args__ = (UniqueConstraint("image_id", "reviewer"), Index("ix_review_assignment_reviewer", "reviewer"))
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    reviewer: Mapped[str] = mapped_column(String(256))
    overlap: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_by: Mapped[str] = mapped_column(String(256), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ConflictResolution(Base):
    """Team mode: a lead settled reviewers' disagreeing decisions on an image with one more
    decision (`decision_id`); the disagreeing decisions stay in the append-only log."""

    __tablename__ = "conflict_resolution"
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("image.id", ondelete="CASCADE"), index=True)
    decision_id: Mapped[int] = mapped_column(Integer, index=True)
    # the decision ids that disagreed, [[reviewer, decision_id], ...]
    votes: Mapped[Any] = mapped_column(JSON)
    lead: Mapped[str] = mapped_column(String(256), default="")
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
