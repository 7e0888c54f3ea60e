"""The Learn panel's calls into the use-case layer (`workflows.learning`, `workflows.refine`), in one
place: the only module of the panel that knows those signatures. No SQL, no torch here.

Every call that may take long (learning, previewing, asking the LLM) is a task factory for
`ctx.run_task`; the quick reads (decisions per class, the run history) are plain functions.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any

from desktop.models.learn import (
    Change,
    ClassDecisions,
    EpochPoint,
    HistoryRow,
    LearnPreview,
    MethodChoice,
    SeenUnseen,
    is_epoch_end,
    tally_seen_unseen,
)
from workflows.progress import CancelToken, Progress

Factory = Callable[[CancelToken], Generator[Progress, None, Any]]


# -- reads ---------------------------------------------------------------------------------------------
def decisions_per_class(project: Any) -> list[ClassDecisions]:
    """Every active class with the decisions a learning run would use (latest decision per image)."""
    from workflows.learning import decided_examples

    per = decided_examples(project).per_class()
    names = project.class_names_by_id(active_only=True)
    return [ClassDecisions(cid, name, *per.get(cid, (0, 0))) for cid, name in names.items()]


def compositional_blocker(project: Any) -> str:
    """Why the project is not a compositional one msci can learn ('' when it is): every active
    class must be a (state, object) pair (`workflows.learning_msci` refuses otherwise)."""
    space = project.label_space() if hasattr(project, "label_space") else None
    pairs = {p.class_id for p in space.pairs if p.active} if space is not None else set()
    if not pairs:
        return "msci is only for compositional (state, object) projects"
    flat = [cid for cid in project.class_names_by_id(active_only=True) if cid not in pairs]
    if flat:
        return f"msci scores (state, object) pairs only: {len(flat)} active class(es) are not pairs"
    return ""


def is_compositional(project: Any) -> bool:
    """Whether the project's active classes are all (state, object) pairs."""
    return not compositional_blocker(project)


def method_choices(project: Any) -> list[MethodChoice]:
    """`engine.types.LEARN_METHODS` as the panel offers them: a method needs a learner registered in
    `workflows.learning` and, when compositional, a compositional project."""
    from engine.types import LEARN_METHODS

    try:
        from engine.learn.learners import LEARNERS

        registered = set(LEARNERS)
    except ImportError:  # pragma: no cover - the learning core is part of the app
        registered = set()
    try:  # msci learns from the images, not through a LEARNERS entry (workflows/learning_msci.py)
        import workflows.learning_msci  # noqa: F401

        registered.add("msci")
    except ImportError:  # pragma: no cover - the MSCI engine is part of the app
        pass
    compositional = compositional_blocker(project) if any(m.compositional for m in LEARN_METHODS.values()) else ""
    out = []
    for m in LEARN_METHODS.values():
        why = ""
        if m.compositional and compositional:
            why = compositional
        elif m.name not in registered:
            why = f"{m.name} is not installed"
        out.append(MethodChoice(m.name, m.description, m.explainable, not why, why))
    return out


def history(project: Any) -> list[HistoryRow]:
    """The learning runs, newest first, and which one the images show."""
    from workflows.learning import learning_runs

    rows = []
    for r in learning_runs(project):
        when = r.started_at.strftime("%Y-%m-%d %H:%M") if hasattr(r.started_at, "strftime") else str(r.started_at or "")
        rows.append(HistoryRow(r.id, r.method, r.n_decisions, when, r.cv_zero_shot, r.cv_learned, r.n_changed,
                               r.active, r.status))
    return rows


def activate(project: Any, run_id: int | None) -> None:
    """Show a learning run's labels (None: zero-shot): the undo of learning."""
    from workflows.learning import activate as run

    run(project, run_id)


def to_preview(project: Any, result: Any) -> LearnPreview:
    """A `workflows.learning.LearnResult` as the panel shows it (names and paths of the changes)."""
    names = project.class_names_by_id()
    changes = list(getattr(result, "changes", []) or [])
    paths = {r.id: r.rel_path for r in project.images([i for i, _a, _b in changes])} if changes else {}

    def nm(c: int | None) -> str:
        return "(none)" if c is None else names.get(c, f"#{c}")

    return LearnPreview(
        method=result.method,
        n_decisions=result.n_decisions,
        changes=tuple(Change(i, paths.get(i, f"image #{i}"), nm(a), nm(b)) for i, a, b in changes),
        cv_zero_shot=result.cv_zero_shot,
        cv_learned=result.cv_learned,
        n_scored=getattr(result, "n_scored", 0),
        applied_run=None if result.preview else result.run_id,
        message=getattr(result, "message", ""),
    )


# -- tasks -------------------------------------------------------------------------------------------
@dataclass
class LearnOutcome:
    """What a learning task returns: the use case's `LearnResult`, and for a compositional (msci) run
    its seen / unseen report and the held-out curve per epoch."""

    result: Any
    report: SeenUnseen | None = None
    curve: list[EpochPoint] = field(default_factory=list)


def with_curve(gen: Generator[Progress, None, Any], curve: list[EpochPoint]) -> Generator[Progress, None, Any]:
    """Re-yield a learning generator's progress with the held-out curve so far in `extra["curve"]`.

    The worker throttles progress (docs/desktop.md, "Background runs"), so an epoch's report may never
    reach the GUI; carrying the whole curve in every report loses no epoch."""
    try:
        while True:
            try:
                p = next(gen)
            except StopIteration as stop:
                return stop.value
            info = p.extra or {}
            if p.stage == "train" and is_epoch_end(info):
                val = info.get("val_accuracy")
                curve.append(EpochPoint(int(info["epoch"]), float(info.get("loss", 0.0)),
                                        None if val is None else float(val)))
            if curve:
                p = replace(p, extra={**info, "curve": tuple(curve)})
            yield p
    finally:
        gen.close()


def learn_task(project: Any, method: str, *, preview: bool, seed: int = 0,
               hyper: dict[str, Any] | None = None) -> Factory:
    """Learn from the decisions (preview: write nothing); progress per stage (per batch and epoch for
    msci), cancellable. Returns a `LearnOutcome`."""

    def factory(cancel: CancelToken) -> Generator[Progress, None, Any]:
        from workflows.learning import learn

        curve: list[EpochPoint] = []
        result = yield from with_curve(learn(project, method=method, seed=seed, preview=preview, hyper=hyper,
                                             cancel=cancel),
                                       curve)
        report = None
        if is_compositional_method(method):
            yield Progress(0, None, "seen and unseen accuracy", stage="report")
            report = result_report(project, result)
        return LearnOutcome(result, report, curve)

    return factory


def is_compositional_method(method: str) -> bool:
    """Whether a learning method trains a compositional model (the panel then shows its training:
    per-epoch progress, the held-out curve, seen / unseen accuracy)."""
    from engine.types import LEARN_METHODS

    m = LEARN_METHODS.get(method)
    return bool(m is not None and m.compositional)


def _pair_classes(project: Any) -> set[int]:
    return {p.class_id for p in project.label_space().pairs if p.active}


def result_report(project: Any, result: Any) -> SeenUnseen:
    """Seen / unseen accuracy of a just-finished msci result (preview or applied), against the
    decisions it trained on: the seen pairs are the decided ones."""
    from workflows.refine import decided_labels

    pairs = _pair_classes(project)
    decided = decided_labels(project)
    seen = {c for c in decided.values() if c in pairs}
    now = project.current_top1()
    moved = {i: (a, b) for i, a, b in result.changes}
    if result.preview:  # the images still show the labels before it
        before, after = now, {**now, **{i: b for i, (_a, b) in moved.items()}}
    else:  # the run is in use: its labels are the current ones
        after, before = now, {**now, **{i: a for i, (a, _b) in moved.items()}}
    return tally_seen_unseen(after, before, decided, seen, pairs,
                             heldout=(result.cv_zero_shot, result.cv_learned, getattr(result, "n_heldout", 0)))


def stored_run_task(project: Any, run_id: int) -> Factory:
    """A stored msci run's curve (its training history) and its seen / unseen accuracy against the
    decisions as they are now (decisions of unseen pairs made since tell how it does on them)."""

    def factory(cancel: CancelToken) -> Generator[Progress, None, Any]:
        from workflows.learning import load_learned
        from workflows.progress import check
        from workflows.refine import decided_labels

        yield Progress(0, None, f"reading learning run #{run_id}", stage="report")
        run, _params, meta = load_learned(project, run_id)
        check(cancel)
        class_ids = [int(c) for c in meta.get("class_ids", [])]
        seen = {class_ids[int(k)] for k in meta.get("seen", []) if int(k) < len(class_ids)}
        pairs = _pair_classes(project)
        after = {i: (tk[0][0] if tk else None) for i, tk in project.run_topk(run.id).items()}
        check(cancel)
        parent = run.parent_run_id
        before = ({i: (tk[0][0] if tk else None) for i, tk in project.run_topk(parent).items()}
                  if parent is not None else {})
        cv = (run.engine_config or {}).get("learn", {}).get("cv", {}) or {}
        report = tally_seen_unseen(after, before, decided_labels(project), seen, pairs,
                                   heldout=(cv.get("zero_shot"), cv.get("learned"), int(cv.get("n_heldout") or 0)))
        curve = [EpochPoint(int(h["epoch"]), float(h.get("loss", 0.0)),
                            None if h.get("val_accuracy") is None else float(h["val_accuracy"]))
                 for h in meta.get("history", [])]
        return LearnOutcome(None, report, curve)

    return factory


def confused_pairs(project: Any, top: int = 5) -> list[Any]:
    from workflows.refine import confused_pairs as run

    return run(project, top=top)


def propose_task(project: Any, a: int, b: int, *, model: str | None = None) -> Factory:
    """Ask the LLM for attributes that tell class `a` from class `b` (cancellable)."""

    def factory(cancel: CancelToken) -> Generator[Progress, None, Any]:
        from workflows.refine import propose_distinguishing

        yield Progress(0, None, "asking the LLM for distinguishing attributes…", stage="propose")
        return propose_distinguishing(project, a, b, model=model, cancel=cancel)

    return factory


def preview_refinement_task(project: Any, proposals: Any) -> Factory:
    """Accuracy on the decided images before and after adding the proposals (from the cache)."""

    def factory(cancel: CancelToken) -> Generator[Progress, None, Any]:
        from workflows.refine import preview_refinement

        return (yield from preview_refinement(project, proposals, cancel=cancel))

    return factory


def accept_refinement_task(project: Any, refinement: Any, chosen: list[Any], who: str) -> Factory:
    """Append the chosen proposals with their provenance (`workflows.refine.accept_refinement`)."""

    def factory(_cancel: CancelToken) -> Generator[Progress, None, Any]:
        from workflows.refine import accept_refinement

        yield Progress(0, None, f"adding {len(chosen)} attribute(s)", stage="accept")
        return accept_refinement(project, refinement, chosen, who=who)

    return factory
