"""Review in a compositional project: correct by state and object in two steps, and see the
evidence of each part.

Typing "dot", Tab, "tri", Enter in the correction box corrects to the pair (dotted, triangle):
Tab completes the state (a unique prefix, else a unique contained match), Enter then resolves the
object the same way and looks up the pair's class. The box's other rules are unchanged (an exact
or unique class name still wins first). `PairResolver` is plain Python (tested without a window);
`PairPartsLabel` shows, for a pair, which attributes of its state and of its object were found
(the store tags copied part attributes, db/store_compose.py; the marginals method's evidence is
the two parts themselves). docs/architecture.md, "Compositional labels".
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

_PRESENCE_MARK = {"found": "✔", "weak": "◐", "not found": "✕"}


def _pick(options: tuple[str, ...], text: str) -> tuple[str | None, list[str]]:
    """The option a typed fragment means: exact, else the only prefix match, else the only
    contained match (case-insensitive); with the candidates when it is ambiguous."""
    t = " ".join(text.split()).casefold()
    if not t:
        return None, []
    exact = [o for o in options if o.casefold() == t]
    if exact:
        return exact[0], exact
    for test in (lambda o: o.casefold().startswith(t), lambda o: t in o.casefold()):
        hits = [o for o in options if test(o)]
        if len(hits) == 1:
            return hits[0], hits
        if hits:
            return None, hits
    return None, []


@dataclass(frozen=True)
class PairResolver:
    """States, objects and the class id of every allowed pair of a project."""

    states: tuple[str, ...]
    objects: tuple[str, ...]
    pairs: dict[tuple[str, str], int]

    @classmethod
    def from_project(cls, project: Any) -> PairResolver | None:
        """None for a flat project (no pairs)."""
        space = project.label_space()
        if not space.pairs:
            return None
        return cls(space.states, space.objects, {(p.state, p.object): p.class_id for p in space.pairs if p.active})

    def complete_state(self, text: str) -> str | None:
        """Tab after a state fragment: the full state name, or None when it is unknown/ambiguous."""
        return _pick(self.states, text)[0]

    def split(self, text: str) -> tuple[str | None, str | None, str]:
        """(state, object, why not) of 'STATE-FRAGMENT OBJECT-FRAGMENT' (the state may have spaces)."""
        words = text.split()
        if len(words) < 2:
            return None, None, "type a state, Tab, then an object"
        found: list[tuple[str, str]] = []
        ambiguous = ""
        for i in range(1, len(words)):
            st, st_hits = _pick(self.states, " ".join(words[:i]))
            ob, ob_hits = _pick(self.objects, " ".join(words[i:]))
            if st and ob:
                found.append((st, ob))
            elif st_hits and ob_hits and not ambiguous:
                ambiguous = (f"states {', '.join(st_hits[:4])}" if not st else f"objects {', '.join(ob_hits[:4])}")
        found = list(dict.fromkeys(found))
        if len(found) == 1:
            return found[0][0], found[0][1], ""
        if len(found) > 1:
            return None, None, "several pairs match: " + ", ".join(f"{s} {o}" for s, o in found[:4])
        if ambiguous:
            return None, None, f"type more: {ambiguous} match"
        return None, None, f"no state and object match '{' '.join(words)}'"

    def resolve(self, text: str) -> int | None:
        """The class of the pair a typed 'dot tri' means, or None."""
        st, ob, _why = self.split(text)
        return self.pairs.get((st, ob)) if st and ob else None

    def explain(self, text: str) -> str:
        """Why `resolve` found no class (one line for the status strip)."""
        st, ob, why = self.split(text)
        if st and ob and (st, ob) not in self.pairs:
            return f"'{st} {ob}' is not an allowed pair of this project"
        return why


def part_tags(project: Any, class_id: int) -> dict[str, tuple[str, str]]:
    """Attribute text (case-folded) -> (kind, part name) for a pair's attributes copied from its
    state or object; a pair's own attributes are absent."""
    from db.store_compose import parse_origin

    out = {}
    for a in project.list_attributes(class_id):
        tag = parse_origin(a.origin)
        if tag is not None:
            out[a.text.casefold()] = tag
    return out


def parts_html(evidence: Any, state: str, obj: str, tags: dict[str, tuple[str, str]]) -> str:
    """One line per part: its attributes with presence marks and shares (rich text)."""
    groups: dict[str, list[str]] = {"state": [], "object": [], "pair": []}
    for a in getattr(evidence, "attributes", ()):
        text = a.text
        if text.startswith(("state: ", "object: ")):  # the marginals method: the part itself
            kind, _, name = text.partition(": ")
        else:
            kind = tags.get(text.casefold(), ("pair", ""))[0]
            name = text
        label = a.presence.label if a.presence is not None else ""
        mark = _PRESENCE_MARK.get(label, "")
        share = f" {100 * a.share:.0f}%" if a.share > 0 else ""
        groups[kind].append(f"{mark} {html.escape(name)}{share}".strip())
    lines = []
    for kind, title in (("state", f"state <b>{html.escape(state)}</b>"), ("object", f"object <b>{html.escape(obj)}</b>"),
                        ("pair", "the pair's own")):
        if groups[kind] or kind != "pair":
            lines.append(f"{title}: " + (" · ".join(groups[kind]) if groups[kind] else "<i>no attributes</i>"))
    return "<br>".join(lines)


class PairPartsLabel(QLabel):
    """Under Review's evidence title: the evidence split by the pair's state and object (hidden
    for flat classes)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        self.setObjectName("muted")
        self.hide()

    def show_evidence(self, project: Any, evidence: Any, class_id: int | None = None) -> None:
        """Show the parts of `evidence` (engine ClassEvidence of the shown class, `class_id`) when
        it is a pair."""
        cid = class_id if class_id is not None else getattr(evidence, "class_id", None)
        if project is None or evidence is None or cid is None:
            self.hide()
            return
        try:
            parts = project.pair_of_classes().get(int(cid))
            tags = part_tags(project, int(cid)) if parts else {}
        except Exception:  # noqa: BLE001 - a closing project: show nothing rather than fail the screen
            parts = None
        if not parts:
            self.hide()
            return
        self.setText(parts_html(evidence, parts[0], parts[1], tags))
        self.show()
