"""Compositional label spaces, shared by the CLI and the GUI: make pairs, attach part attributes,
hand the engine pair classes, and tabulate the pair grid (states x objects) for Insight.

A pair is a class that knows its state and object (docs/architecture.md, "Compositional labels").
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from db.store_compose import ComposeStats, LabelSpaceRows
from engine.types import ClassSpec
from workflows.errors import UserError

if TYPE_CHECKING:
    from db.project import Project

#: Methods that need every scored class to be a pair (engine.types.METHODS).
PAIR_ONLY_METHODS = frozenset({"marginals"})
PAIR_SEPARATORS = ("/", ":", "+")


def parse_pairs(texts: Sequence[str], states: Sequence[str], objects: Sequence[str]) -> list[tuple[str, str]]:
    """Pairs written 'STATE/OBJECT' (also ':' or '+'), or 'STATE OBJECT' when exactly one split
    of the words names a known state and object (case-insensitive)."""
    st = {s.casefold(): s for s in states}
    ob = {o.casefold(): o for o in objects}
    out = []
    for text in texts:
        t = " ".join(text.split())
        sep = next((c for c in PAIR_SEPARATORS if c in t), None)
        if sep is not None:
            a, _, b = t.partition(sep)
            a, b = a.strip(), b.strip()
            if not a or not b:
                raise UserError(f"pair {text!r}: write it as STATE/OBJECT")
            out.append((st.get(a.casefold(), a), ob.get(b.casefold(), b)))
            continue
        words = t.split(" ")
        splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
        found = [(st[a.casefold()], ob[b.casefold()]) for a, b in splits if a.casefold() in st and b.casefold() in ob]
        if len(found) != 1:
            why = "names no known state and object" if not found else "can be read more than one way"
            raise UserError(f"pair {text!r} {why}; write it as STATE/OBJECT")
        out.append(found[0])
    return out


def compose(project: Project, states: Sequence[str], objects: Sequence[str], pairs: Sequence[str] | None = None,
            who: str = "") -> ComposeStats:
    """Add states, objects and their pair classes.

    `pairs` None or ['all']: every combination of the given states with the given objects; when
    only states (objects) are given, with the project's existing objects (states).
    """
    if not states and not objects and not pairs:
        raise UserError("nothing to compose: give --states and --objects (and optionally --pairs)")
    space = project.label_space()
    if pairs and [p.casefold() for p in pairs] != ["all"]:
        chosen = parse_pairs(pairs, list(space.states) + list(states), list(space.objects) + list(objects))
    else:
        with_states = list(states) or list(space.states)
        with_objects = list(objects) or list(space.objects)
        if not with_states or not with_objects:
            raise UserError("give both --states and --objects: the project has no "
                            + ("objects" if not with_objects else "states") + " yet")
        chosen = [(st, ob) for st in with_states for ob in with_objects]
    return project.compose_classes(states, objects, chosen, who=who)


def import_part_attributes(project: Project, path: str | Path, who: str = "") -> int:
    """Attach attributes from a JSON file {"states": {name: [text, ...]}, "objects": {...}};
    returns how many attribute copies the pairs gained."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{p}: cannot read part attributes ({err})") from None
    if not isinstance(data, dict) or not set(data) <= {"states", "objects"}:
        raise UserError(f'{p}: expected {{"states": {{NAME: [ATTRIBUTE, ...]}}, "objects": {{...}}}}')
    added = 0
    for key, kind in (("states", "state"), ("objects", "object")):
        block = data.get(key, {})
        if not isinstance(block, dict) or not all(isinstance(v, list) for v in block.values()):
            raise UserError(f"{p}: {key!r} must map names to lists of attribute texts")
        for name, texts in block.items():
            added += project.set_part_attributes(kind, name, [str(t) for t in texts], who=who, source="import")
    return added


def class_specs_with_ids(project: Project) -> tuple[list[int], list[ClassSpec]]:
    """The engine's view of the active classes (and their ids): pairs know their state and object,
    and carry the union of their own, their state's and their object's attributes (copied in by
    the store)."""
    parts = project.pair_of_classes()
    ids, out = [], []
    for cid, name, attrs in project.class_specs():
        st, ob = parts.get(cid, ("", ""))
        ids.append(int(cid))
        out.append(ClassSpec(name, tuple(attrs), state=st, obj=ob))
    return ids, out


def class_specs(project: Project) -> list[ClassSpec]:
    """`class_specs_with_ids` without the ids."""
    return class_specs_with_ids(project)[1]


def check_method(classes: Sequence[ClassSpec], method: str) -> None:
    """A pair-only method on classes that are not all pairs is the user's to fix."""
    if method in PAIR_ONLY_METHODS:
        flat = [c.name for c in classes if not (c.state and c.obj)]
        if flat:
            more = f" and {len(flat) - 3} more" if len(flat) > 3 else ""
            raise UserError(f"the {method} method scores state-object pairs; not a pair: "
                            f"{', '.join(flat[:3])}{more} (make pairs with `lazlabel classes compose`)")


# --- the pair grid ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairCell:
    """One pair of the grid: its class, how many images are decided as it, and how often the
    current pre-label got those right (pair, state and object)."""

    class_id: int | None  # None: the combination is not an allowed pair
    state: str
    object: str
    decided: int = 0
    predicted_right: int = 0
    state_right: int = 0
    object_right: int = 0
    predicted_as: int = 0  # images (decided or not) whose pre-label is this pair

    @property
    def allowed(self) -> bool:
        return self.class_id is not None

    @property
    def seen(self) -> bool:
        """Has decided images (what a learned model can train on)."""
        return self.decided > 0

    @property
    def accuracy(self) -> float | None:
        return self.predicted_right / self.decided if self.decided else None


@dataclass(frozen=True)
class PairGrid:
    states: tuple[str, ...]
    objects: tuple[str, ...]
    cells: dict[tuple[str, str], PairCell] = field(default_factory=dict)

    def cell(self, state: str, obj: str) -> PairCell:
        return self.cells.get((state, obj), PairCell(None, state, obj))

    @property
    def seen_pairs(self) -> list[PairCell]:
        return [c for c in self.cells.values() if c.allowed and c.seen]

    @property
    def unseen_pairs(self) -> list[PairCell]:
        return [c for c in self.cells.values() if c.allowed and not c.seen]


def pair_grid(project: Project, space: LabelSpaceRows | None = None) -> PairGrid:
    """States x objects with, per allowed pair, decided counts and pre-label accuracy on them."""
    space = space or project.label_space()
    by_class = {p.class_id: p for p in space.pairs}
    counts = project.label_prediction_counts()  # (label class, predicted class) -> images
    decided: dict[int, int] = {}
    right: dict[int, list[int]] = {}
    predicted: dict[int, int] = {}
    for (label, pred), n in counts.items():
        if pred is not None:
            predicted[pred] = predicted.get(pred, 0) + n
        if label is None or label not in by_class:
            continue
        decided[label] = decided.get(label, 0) + n
        acc = right.setdefault(label, [0, 0, 0])
        lp, pp = by_class[label], by_class.get(pred) if pred is not None else None
        if pp is not None:
            acc[0] += n * (pp.class_id == lp.class_id)
            acc[1] += n * (pp.state == lp.state)
            acc[2] += n * (pp.object == lp.object)
    cells = {}
    for p in space.pairs:
        r = right.get(p.class_id, [0, 0, 0])
        cells[(p.state, p.object)] = PairCell(p.class_id, p.state, p.object, decided.get(p.class_id, 0),
                                              r[0], r[1], r[2], predicted.get(p.class_id, 0))
    return PairGrid(space.states, space.objects, cells)
