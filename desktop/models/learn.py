"""The Learn panel's state: decisions per class, the method choice, the preview of a learning run,
the history of runs and which one is in use. No Qt, no project: `LearnController` fills it.

Learning from decisions is issue #17 (docs/architecture.md, "Learning from decisions"); the panel
previews "N labels would change (from → to)", applies in a worker, and undoes by going back to an
earlier run or to zero-shot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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


# -- training a compositional model (msci): per-epoch progress, the held-out curve, seen / unseen --------


@dataclass(frozen=True)
class EpochPoint:
    """One finished epoch: its mean training loss and the held-out accuracy on the seen pairs."""

    epoch: int
    loss: float
    val_accuracy: float | None = None


@dataclass(frozen=True)
class SeenUnseen:
    """A compositional run's accuracy split by whether its training saw the pair.

    *Seen* pairs are those the curators had decided when it trained; the others it predicts from their
    state and object alone. Held-out: decided images of seen pairs that training never used (the ones
    that picked the epoch). The decided counts use the decisions as they are now, so images of unseen
    pairs a curator decides after the run tell how it does on pairs it never saw.
    """

    n_pairs: int
    n_seen_pairs: int
    heldout_zero_shot: float | None = None
    heldout_learned: float | None = None
    n_heldout: int = 0
    seen_right: int = 0  # decided images of seen pairs (training ones included) it labels right
    seen_n: int = 0
    seen_right_before: int = 0  # the same images with the labels before the run
    unseen_right: int = 0  # decided images of pairs it never trained on, labelled right
    unseen_n: int = 0
    unseen_right_before: int = 0  # the same images with the labels before the run
    predicted_unseen: int = 0  # images it labels as an unseen pair
    predicted_unseen_before: int = 0  # ... and before it

    @property
    def n_unseen_pairs(self) -> int:
        return self.n_pairs - self.n_seen_pairs

    @property
    def seen_accuracy(self) -> float | None:
        return self.seen_right / self.seen_n if self.seen_n else None

    @property
    def unseen_accuracy(self) -> float | None:
        return self.unseen_right / self.unseen_n if self.unseen_n else None

    def header(self) -> str:
        return f"{self.n_seen_pairs} seen pair(s) trained on, {self.n_unseen_pairs} unseen (never decided)"

    def hint(self) -> str:
        """What the curator can do to learn more ('' when nothing is missing)."""
        if self.n_unseen_pairs and not self.unseen_n:
            return "No decided image of an unseen pair yet: review some, then select this run again."
        if self.heldout_learned is None:
            return "Too few decided images to hold some out: no epoch was chosen on held-out images."
        return ""

    def rows(self) -> list[tuple[str, str, str, str]]:
        """(what, before the run, with the run, images): the panel's table."""

        def pct(right: int, n: int) -> str:
            return f"{right / n:.0%}" if n else "—"

        def opt(x: float | None) -> str:
            return "—" if x is None else f"{x:.0%}"

        out = [("seen pairs, held out", opt(self.heldout_zero_shot), opt(self.heldout_learned),
                f"{self.n_heldout:,}" if self.n_heldout else "none"),
               ("seen pairs, every decided image", pct(self.seen_right_before, self.seen_n),
                pct(self.seen_right, self.seen_n), f"{self.seen_n:,}"),
               ("unseen pairs, decided images", pct(self.unseen_right_before, self.unseen_n),
                pct(self.unseen_right, self.unseen_n), f"{self.unseen_n:,}" if self.unseen_n else "none yet")]
        if self.n_unseen_pairs:
            out.append(("images labelled as an unseen pair", f"{self.predicted_unseen_before:,}",
                        f"{self.predicted_unseen:,}", ""))
        return out

    def lines(self) -> list[str]:
        """What the panel shows, one line per fact."""
        out = [f"{self.n_seen_pairs} seen pair(s) trained on, {self.n_unseen_pairs} unseen (never decided)"]
        if self.heldout_zero_shot is not None and self.heldout_learned is not None:
            out.append(f"seen pairs, held out ({self.n_heldout:,} decided images): zero-shot "
                       f"{self.heldout_zero_shot:.0%} → learned {self.heldout_learned:.0%}")
        else:
            out.append("seen pairs, held out: too few decided images to hold some out")
        if self.seen_n:
            out.append(f"seen pairs, all decided images (training included): {self.seen_accuracy:.0%} "
                       f"of {self.seen_n:,}")
        if self.unseen_n:
            out.append(f"unseen pairs, decided since: {self.unseen_accuracy:.0%} of {self.unseen_n:,} "
                       f"(zero-shot {self.unseen_right_before / self.unseen_n:.0%})")
        elif self.n_unseen_pairs:
            out.append("unseen pairs: no decided image yet. Review images labelled as an unseen pair; "
                       "this run's unseen accuracy then shows here.")
        if self.n_unseen_pairs:
            out.append(f"images labelled as an unseen pair: {self.predicted_unseen:,} "
                       f"(before: {self.predicted_unseen_before:,})")
        return out


def tally_seen_unseen(
    after: Mapping[int, int | None],
    before: Mapping[int, int | None],
    decided: Mapping[int, int],
    seen: Iterable[int],
    pairs: Iterable[int],
    *,
    heldout: tuple[float | None, float | None, int] = (None, None, 0),
) -> SeenUnseen:
    """Seen / unseen accuracy of the labels `after` (image -> class) against the decided classes.

    `seen`: the pair classes the run trained on; `pairs`: every active pair class; `before`: the labels
    the images showed without the run (for the zero-shot comparison).
    """
    seen_set, pair_set = set(seen), set(pairs)
    unseen = pair_set - seen_set
    s_right = s_n = s_before = u_right = u_n = u_before = 0
    for iid, truth in decided.items():
        if truth in seen_set:
            s_n += 1
            s_right += after.get(iid) == truth
            s_before += before.get(iid) == truth
        elif truth in unseen:
            u_n += 1
            u_right += after.get(iid) == truth
            u_before += before.get(iid) == truth
    counts_after = Counter(after.values())
    counts_before = Counter(before.values())
    return SeenUnseen(
        n_pairs=len(pair_set), n_seen_pairs=len(seen_set & pair_set),
        heldout_zero_shot=heldout[0], heldout_learned=heldout[1], n_heldout=int(heldout[2]),
        seen_right=s_right, seen_n=s_n, seen_right_before=s_before, unseen_right=u_right, unseen_n=u_n, unseen_right_before=u_before,
        predicted_unseen=sum(counts_after[c] for c in unseen),
        predicted_unseen_before=sum(counts_before[c] for c in unseen),
    )


def is_epoch_end(info: Mapping[str, Any]) -> bool:
    """Whether a training report (`engine.msci.train.iter_train`) closes an epoch: those carry the
    held-out accuracy, or, with nothing held out, the epoch as the float of the history row."""
    return "val_accuracy" in info or isinstance(info.get("epoch"), float)


@dataclass
class TrainingModel:
    """Events: `stage`, `step`, `curve`, `report`. A training task's progress as the panel shows it:
    stage (prepare, encode, train, store, done), epoch and step, the held-out curve per epoch, and
    the seen / unseen report once the run (or a stored one) is in."""

    stage: str = ""
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps: int = 0
    loss: float | None = None
    curve: list[EpochPoint] = field(default_factory=list)
    report: SeenUnseen | None = None
    title: str = ""  # which run the curve and the report are of ("training…", "run #12")

    def __post_init__(self) -> None:
        self.events = EmitterGroup(self, "stage", "step", "curve", "report")

    @property
    def best(self) -> EpochPoint | None:
        """The epoch the run keeps: the best held-out accuracy (the first of equals), else the last."""
        scored = [p for p in self.curve if p.val_accuracy is not None]
        if scored:
            return max(scored, key=lambda p: (p.val_accuracy, -p.epoch))
        return self.curve[-1] if self.curve else None

    def status_text(self) -> str:
        if self.stage == "train" and self.epochs:
            text = f"epoch {self.epoch}/{self.epochs} · step {self.step:,}/{self.steps:,}"
            if self.loss is not None:
                text += f" · loss {self.loss:.3f}"
            last = self.curve[-1] if self.curve else None
            if last is not None and last.val_accuracy is not None:
                text += f" · held-out seen pairs {last.val_accuracy:.0%}"
            return text
        return {"": "", "prepare": "loading the model", "encode": "encoding the images (frozen part, once)",
                "store": "storing the predictions", "done": "done", "cancelled": "cancelled",
                "failed": "failed"}.get(self.stage, self.stage)

    def start(self, title: str) -> None:
        """A new training task: the old curve and report go."""
        self.title = title
        self.epoch = self.epochs = self.step = self.steps = 0
        self.loss = None
        self.set_stage("prepare")
        self.set_curve([])
        self.set_report(None)

    def reset(self) -> None:
        """Nothing trained or selected (another project)."""
        self.title = ""
        self.epoch = self.epochs = self.step = self.steps = 0
        self.loss = None
        self.set_stage("")
        self.set_curve([])
        self.set_report(None)

    def set_stage(self, stage: str) -> None:
        if stage != self.stage:
            self.stage = stage
            self.events.stage.emit(stage)

    def set_curve(self, curve: Sequence[EpochPoint]) -> None:
        curve = list(curve)
        if curve != self.curve:
            self.curve = curve
            self.events.curve.emit(curve)

    def set_report(self, report: SeenUnseen | None, title: str | None = None) -> None:
        if title is not None:
            self.title = title
        if report != self.report:
            self.report = report
            self.events.report.emit(report)

    def feed(self, stage: str, extra: Mapping[str, Any]) -> None:
        """One `Progress` of the task (stage, extra). The service attaches the curve so far to every
        report (`extra["curve"]`), so a throttled progress stream loses no epoch."""
        if stage in ("prepare", "encode", "train", "store", "done"):
            self.set_stage(stage)
        if stage == "train" and "step" in extra:
            changed = (int(extra.get("epoch", 0)), int(extra.get("epochs", 0)), int(extra["step"]),
                       int(extra.get("steps", 0)))
            if changed != (self.epoch, self.epochs, self.step, self.steps) or extra.get("loss") != self.loss:
                self.epoch, self.epochs, self.step, self.steps = changed
                self.loss = None if extra.get("loss") is None else float(extra["loss"])
                self.events.step.emit(self.step)
        if "curve" in extra:
            self.set_curve(extra["curve"])
