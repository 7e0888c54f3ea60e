"""The attribute editor's calls into the use-case layer, in one place (no SQL, no torch here)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from workflows.progress import CancelToken, Progress

Factory = Callable[[CancelToken], Generator[Progress, None, Any]]


def propose_task(project: Any, class_ids: list[int], *, replace: bool = False) -> Factory:
    """Ask the LLM for attributes of these classes (progress per class, cancellable); `replace`
    replaces their attributes instead of adding to them."""

    def factory(cancel: CancelToken) -> Generator[Progress, None, Any]:
        from workflows.attributes import propose_attributes

        return (yield from propose_attributes(project, class_ids, replace=replace, cancel=cancel))

    return factory


def rescore_task(project: Any, preview: bool) -> Factory:
    """Re-score the cached features against the edited attributes (preview writes nothing)."""

    def factory(cancel: CancelToken) -> Generator[Progress, None, Any]:
        from workflows.rescore import rescore

        return (yield from rescore(project, preview=preview, cancel=cancel))

    return factory


def changed_labels(result: Any) -> int | None:
    """How many top-1 labels a re-score changes (or would change), from its result."""
    value = getattr(result, "n_changed", None)  # workflows.rescore.RescoreResult
    return None if value is None else int(value)


def import_attributes(project: Any, path: str | Path) -> Any:
    from workflows.attributes import import_attributes as run

    return run(project, Path(path))


def export_attributes(project: Any, path: str | Path) -> Any:
    from workflows.attributes import export_attributes as run

    return run(project, Path(path))


def last_run_version(project: Any) -> str | None:
    """The attribute-set version the labels on screen were computed with (None before any run)."""
    run = project.latest_prediction_run()  # a cancelled run's labels are on screen too
    return None if run is None else run.attribute_set_version


def describe_changes(project: Any, result: Any, top: int = 3) -> str:
    """'12 label(s) would change: blorp → zenti 7, …' from a re-score (preview) result."""
    if getattr(result, "nothing_to_do", False):
        return getattr(result, "message", "") or "labels are up to date"
    n = changed_labels(result)
    if n is None:
        return getattr(result, "message", "") or "re-scored"
    verb = "would change" if getattr(result, "preview", True) else "changed"
    text = f"{n} of {getattr(result, 'n_scored', '?')} label(s) {verb}"
    named = getattr(result, "named_changes", None)
    if n and named is not None:
        pairs = named(project.class_names_by_id())[:top]
        text += ": " + ", ".join(f"{a} → {b} {k}" for a, b, k in pairs)
    ids = list(getattr(result, "changed_ids", []) or [])
    if ids:
        paths = [r.rel_path for r in project.images(ids[:top])]
        text += f" — e.g. {', '.join(paths)}" + (f" and {len(ids) - top} more" if len(ids) > top else "")
    missing = getattr(result, "missing", None)
    if missing:
        text += f" ({len(missing)} image(s) have no cached features: run pre-label for them)"
    return text


def add_classes(project: Any, names: list[str], who: str = "") -> Any:
    """Add classes all or none through the use case (`workflows.attributes.AddedClasses`): its
    warnings say what normalisation changed and which names look like another class."""
    from workflows.attributes import add_classes as run

    return run(project, names, who=who)


def rename_class(project: Any, class_id: int, name: str, who: str = "") -> list[str]:
    """Rename a class (the store checks and normalises the name); returns the same warnings as
    adding one: what normalisation changed, and other classes the new name looks like."""
    from workflows import text

    others = [c.name for c in project.list_classes() if c.id != class_id]
    project.rename_class(class_id, name, who=who)
    new = next((c.name for c in project.list_classes() if c.id == class_id), name)
    note = text.changed(name, new)
    return ([note] if note else []) + text.lookalikes([new], others)


def learned_weights(project: Any) -> tuple[dict[int, float], dict[int, float]]:
    """(attribute id -> learned weight, for the classes the learning run in use learned; the
    attributes among them that do not earn their place) — both empty at zero-shot, or for a method
    that learns no attribute weights (issue #17 item 4)."""
    try:
        from workflows.learning import active_learning_run, attribute_weights, unhelpful_attributes
    except ImportError:  # pragma: no cover - the learning core ships with the app
        return {}, {}
    from workflows.errors import is_user_error

    if active_learning_run(project) is None:
        return {}, {}
    try:
        weights = {aid: float(w) for ws in attribute_weights(project).values() for aid, w in ws.items()}
        bad = {u.attribute_id: float(u.weight) for u in unhelpful_attributes(project)}
    except Exception as err:
        if is_user_error(err):  # its parameter file is gone: nothing to show
            return {}, {}
        raise
    return weights, bad
