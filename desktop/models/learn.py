"""The Learn panel's state: decisions per class, the method choice, the preview of a learning run,
the history of runs and which one is in use. No Qt, no project: `LearnController` fills it.

Learning from decisions is issue #17 (docs/architecture.md, "Learning from decisions"); the panel
previews "N labels would change (from → to)", applies in a worker, and undoes by going back to an
earlier run or to zero-shot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from desktop.models.events import EmitterGroup


@dataclass(frozen=True)
class ClassDecisions:
    """Decisions a learning run can use for one class: positives (accepted or corrected to it) and
    negatives (rejected or "not this class")."""

    class_id: int
    name: str
    positives: int
    negatives: int = 0


@dataclass(frozen=True)
class MethodChoice:
    """A learning method as the panel offers it (`engine.types.LEARN_METHODS`)."""

    name: str
    description: str
    explainable: bool
    available: bool = True
    why_not: str = ""  # shown instead when it cannot be chosen

    @property
    def label(self) -> str:
        return self.name + ("" if self.explainable else "  (less explainable)")


@dataclass(frozen=True)
class Change:
    """One image whose label a learning run changes (or would change)."""

    image_id: int
    path: str
    from_name: str
    to_name: str


@dataclass(frozen=True)
class LearnPreview:
    """What a learning run would do (or did): the changes and the held-out accuracies."""

    method: str
    n_decisions: int
    changes: tuple[Change, ...] = ()
    cv_zero_shot: float | None = None
    cv_learned: float | None = None
    n_scored: int = 0
    applied_run: int | None = None  # the run id once applied
    message: str = ""

    @property
    def n_changed(self) -> int:
        return len(self.changes)

    def pairs(self) -> list[tuple[str, str, int]]:
        """(from, to, count), most frequent first: "12 labels would change: zorbit → quillan 7, …"."""
        c = Counter((ch.from_name, ch.to_name) for ch in self.changes)
        return [(a, b, n) for (a, b), n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]

    def headline(self) -> str:
        verb = "changed" if self.applied_run is not None else "would change"
        text = f"{self.n_changed:,} label(s) {verb}"
        pairs = self.pairs()[:3]
        if pairs:
            text += ": " + ", ".join(f"{a} → {b} {n}" for a, b, n in pairs)
            if len(self.pairs()) > 3:
                text += ", …"
        return text

    def accuracy_text(self) -> str:
        if self.cv_zero_shot is None or self.cv_learned is None:
            return "held-out accuracy: not enough decisions to cross-validate"
        return (f"held-out accuracy on the decided images: zero-shot {self.cv_zero_shot:.0%} → "
                f"learned {self.cv_learned:.0%}")


@dataclass(frozen=True)
class HistoryRow:
    """A learning run in the history list."""

    run_id: int
    method: str
    n_decisions: int
    started: str
    cv_zero_shot: float | None = None
    cv_learned: float | None = None
    n_changed: int = 0
    active: bool = False
    status: str = "done"


@dataclass
class LearnModel:
    """Events: `decisions`, `methods`, `method`, `preview`, `history`, `busy`, `selection`."""

    decisions: list[ClassDecisions] = field(default_factory=list)
    methods: list[MethodChoice] = field(default_factory=list)
    method: str = ""
    preview: LearnPreview | None = None
    history: list[HistoryRow] = field(default_factory=list)
    busy: str = ""  # "" | "preview" | "apply" | "activate"
    selected_change: int | None = None  # image id of the change the curator clicked

    def __post_init__(self) -> None:
        self.events = EmitterGroup(self, "decisions", "methods", "method", "preview", "history", "busy", "selection")

    # -- derived -------------------------------------------------------------------------------------
    @property
    def n_decisions(self) -> int:
        return sum(d.positives + d.negatives for d in self.decisions)

    @property
    def classes_with_decisions(self) -> int:
        return sum(1 for d in self.decisions if d.positives or d.negatives)

    @property
    def active_run(self) -> int | None:
        """The learning run in use (None: zero-shot)."""
        return next((h.run_id for h in self.history if h.active), None)

    def choice(self, name: str) -> MethodChoice | None:
        return next((m for m in self.methods if m.name == name), None)

    def blocker(self) -> str:
        """Why Preview/Apply cannot run now ('' when they can)."""
        if self.busy:
            return "a learning task is running"
        if not self.n_decisions:
            return "No decisions yet: accept or correct some images in Review first."
        m = self.choice(self.method)
        if m is None:
            return "choose a learning method"
        if not m.available:
            return m.why_not or f"{m.name} is not available for this project"
        return ""

    # -- changes -------------------------------------------------------------------------------------
    def set_decisions(self, rows: Sequence[ClassDecisions]) -> None:
        rows = list(rows)
        if rows != self.decisions:
            self.decisions = rows
            self._drop_preview()
            self.events.decisions.emit(rows)

    def set_methods(self, methods: Sequence[MethodChoice]) -> None:
        methods = list(methods)
        if methods != self.methods:
            self.methods = methods
            self.events.methods.emit(methods)
        if self.choice(self.method) is None or not self.choice(self.method).available:  # type: ignore[union-attr]
            first = next((m.name for m in methods if m.available), methods[0].name if methods else "")
            self.choose_method(first)

    def choose_method(self, name: str) -> None:
        if name != self.method:
            self.method = name
            self._drop_preview()
            self.events.method.emit(name)

    def set_preview(self, preview: LearnPreview | None) -> None:
        self.preview = preview
        self.selected_change = None
        self.events.preview.emit(preview)

    def set_history(self, rows: Sequence[HistoryRow]) -> None:
        rows = list(rows)
        if rows != self.history:
            self.history = rows
            self.events.history.emit(rows)

    def set_busy(self, what: str) -> None:
        if what != self.busy:
            self.busy = what
            self.events.busy.emit(what)

    def select_change(self, image_id: int | None) -> None:
        if image_id != self.selected_change:
            self.selected_change = image_id
            self.events.selection.emit(image_id)

    def _drop_preview(self) -> None:
        """A preview is about one method and one set of decisions; either changing makes it stale."""
        if self.preview is not None and self.preview.applied_run is None:
            self.set_preview(None)


# -- refinement: ask the LLM for attributes that tell two confused classes apart ------------------------


@dataclass(frozen=True)
class Proposal:
    """A proposed attribute as the refine dialog lists it, with its effect alone on the decided images
    (accuracy on the pair's decided images before → after; None before the preview is in)."""

    index: int  # position in the use case's proposal list
    class_name: str
    text: str
    other_name: str
    pair_before: float | None = None
    pair_after: float | None = None
    fixed: int = 0
    broken: int = 0

    @property
    def effect_text(self) -> str:
        if self.pair_before is None or self.pair_after is None:
            return "…"
        return f"{self.pair_before:.0%} → {self.pair_after:.0%}  (+{self.fixed} / −{self.broken})"


@dataclass
class RefineModel:
    """Events: `proposals`, `ticked`, `summary`, `busy`. `ticked`: indices the curator keeps."""

    a_name: str = ""
    b_name: str = ""
    proposals: list[Proposal] = field(default_factory=list)
    ticked: set[int] = field(default_factory=set)
    summary: str = ""
    busy: str = ""  # "" | "propose" | "preview" | "accept"

    def __post_init__(self) -> None:
        self.events = EmitterGroup(self, "proposals", "ticked", "summary", "busy")

    def set_proposals(self, proposals: Sequence[Proposal], *, tick_all: bool = True) -> None:
        self.proposals = list(proposals)
        self.events.proposals.emit(self.proposals)
        self.set_ticked({p.index for p in self.proposals} if tick_all else set())

    def set_ticked(self, indices: set[int]) -> None:
        indices = {i for i in indices if any(p.index == i for p in self.proposals)}
        if indices != self.ticked:
            self.ticked = indices
            self.events.ticked.emit(set(indices))

    def tick(self, index: int, on: bool) -> None:
        self.set_ticked(self.ticked | {index} if on else self.ticked - {index})

    def set_summary(self, text: str) -> None:
        if text != self.summary:
            self.summary = text
            self.events.summary.emit(text)

    def set_busy(self, what: str) -> None:
        if what != self.busy:
            self.busy = what
            self.events.busy.emit(what)

    @property
    def pair_label(self) -> str:
        return f"{self.a_name} vs {self.b_name}"
