"""Tables of a compositional label space: states, objects, and which class is which pair.

A pair is an ordinary `label_class` row (so decisions, review, exports and audit keep working on
pairs) that `compose_pair` links to its state and object. Attributes may attach to a state or an
object (`compose_part_attribute`); the store copies them into the attribute lists of the pairs
that use that part, tagged in `attribute.origin` (docs/architecture.md, "Compositional labels").
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.models import Base, utcnow

PART_KINDS = ("state", "object")


class ComposePart(Base):
    """A state (ripe, dotted) or an object (tomato, circle) of the label space."""

    __tablename__ = "compose_part"
    __table_args__ = (UniqueConstraint("kind", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # state | object
    name: Mapped[str] = mapped_column(String(256))
    order: Mapped[int] = mapped_column("sort_order", Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ComposePair(Base):
    """The class `class_id` is the pair (state, object)."""

    __tablename__ = "compose_pair"
    __table_args__ = (UniqueConstraint("state_id", "object_id"),)
    class_id: Mapped[int] = mapped_column(ForeignKey("label_class.id", ondelete="CASCADE"), primary_key=True)
    state_id: Mapped[int] = mapped_column(ForeignKey("compose_part.id", ondelete="CASCADE"), index=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("compose_part.id", ondelete="CASCADE"), index=True)


class ComposePartAttribute(Base):
    """One visual attribute of a state or an object, in the curator's order."""

    __tablename__ = "compose_part_attribute"
    __table_args__ = (UniqueConstraint("part_id", "text"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    part_id: Mapped[int] = mapped_column(ForeignKey("compose_part.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="manual")  # llm | manual | import
    order: Mapped[int] = mapped_column("sort_order", Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
