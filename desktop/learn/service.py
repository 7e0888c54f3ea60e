"""The Learn panel's calls into the use-case layer (`workflows.learning`, `workflows.refine`), in one
place: the only module of the panel that knows those signatures. No SQL, no torch here.

Every call that may take long (learning, previewing, asking the LLM) is a task factory for
`ctx.run_task`; the quick reads (decisions per class, the run history) are plain functions.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from desktop.models.learn import Change, ClassDecisions, HistoryRow, LearnPreview, MethodChoice
from workflows.progress import CancelToken, Progress

Factory = Callable[[CancelToken], Generator[Progress, None, Any]]


# -- reads ---------------------------------------------------------------------------------------------
def decisions_per_class(project: Any) -> list[ClassDecisions]:
    """Every active class with the decisions a learning run would use (latest decision per image)."""
    from workflows.learning import decided_examples

    per = decided_examples(project).per_class()
    names = project.class_names_by_id(active_only=True)
    return [ClassDecisions(cid, name, *per.get(cid, (0, 0))) for cid, name in names.items()]


def is_compositional(project: Any) -> bool:
    """Whether the project's classes are (state, object) pairs (helper "compose"'s label space)."""
    probe = getattr(project, "is_compositional", None)
    if callable(probe):
        try:
            return bool(probe())
        except Exception:  # noqa: BLE001 - an older store without the label space: not compositional
            return False
    return bool(probe)


def method_choices(project: Any) -> list[MethodChoice]:
    """`engine.types.LEARN_METHODS` as the panel offers them: a method needs a learner registered in
    `workflows.learning` and, when compositional, a compositional project."""
    from engine.types import LEARN_METHODS

    try:
        from engine.learn.learners import LEARNERS

        registered = set(LEARNERS)
    except ImportError:  # pragma: no cover - the learning core is part of the app
        registered = set()
    compositional = is_compositional(project)
    out = []
    for m in LEARN_METHODS.values():
        why = ""
        if m.compositional and not compositional:
            why = f"{m.name} is only for compositional (state, object) projects"
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
def learn_task(project: Any, method: str, *, preview: bool, seed: int = 0) -> Factory:
    """Learn from the decisions (preview: write nothing); progress per stage, cancellable."""

    def factory(cancel: CancelToken) -> Generator[Progress, None, Any]:
        from workflows.learning import learn

        return (yield from learn(project, method=method, seed=seed, preview=preview, cancel=cancel))

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


def accept_refinement(project: Any, refinement: Any, chosen: list[Any], who: str) -> Any:
    from workflows.refine import accept_refinement as run

    return run(project, refinement, chosen, who=who)

