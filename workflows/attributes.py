"""Use cases for class attributes: propose with Ollama, import/export descriptor files.

`propose_attributes` asks the model for many classes at once (bounded thread pool), saves each
class as soon as its answer arrives (one transaction per class, with model / prompt version /
time as provenance), and reports failures per class without losing the others. Imports are one
transaction: a malformed file changes nothing.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from collections.abc import Generator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db.store_attributes import AttributeEditError, ClassKey, clean_attribute_text, clean_class_name
from db.text import normalise, normalised
from plugins.attribute_sources import (
    AttributeSourceError,
    ClassAttributes,
    FileAttributeSource,
    FileContents,
    ModelNotInstalled,
    OllamaUnreachable,
    SourceStopped,
)
from plugins.attribute_sources.files import read_class_list
from plugins.attribute_sources.prompting import pick_other_classes
from plugins.registry import ATTRIBUTE_SOURCES, available, load
from workflows import text
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, Progress
from workflows.settings import load_settings

# -- proposals ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassProposal:
    class_id: int
    class_name: str
    attributes: tuple[str, ...]
    added: int
    warnings: tuple[str, ...] = ()
    attempts: int = 1
    seconds: float = 0.0


@dataclass
class ProposeResult:
    model: str
    host: str
    prompt_version: str = ""
    saved: list[ClassProposal] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (class name, reason)
    skipped: list[str] = field(default_factory=list)  # already had attributes
    not_attempted: list[str] = field(default_factory=list)  # after a fatal error
    attribute_set_version: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.not_attempted


def make_ollama_source(project: Any, *, model: str | None = None, host: str | None = None, **kwargs: Any):
    """An `OllamaSource` for `host` or the project's host setting (via the plugin registry)."""
    settings = load_settings(project)
    cls = load(ATTRIBUTE_SOURCES, "ollama")
    return cls(host or settings.effective_ollama_host, model=model or settings.ollama_model, **kwargs)


def list_ollama_models(project: Any, *, host: str | None = None, timeout: float = 10.0) -> list[Any]:
    """Installed models on the project's Ollama server, or a `UserError` saying how to fix it."""
    with make_ollama_source(project, host=host, timeout=timeout) as src:
        try:
            return src.list_models()
        except AttributeSourceError as err:
            raise UserError(str(err)) from err


def suggest_attributes(
    project: Any, class_key: ClassKey, *, model: str | None = None, n: int | None = None, **source_kwargs: Any
) -> Any:
    """One class's proposal, NOT saved: for an editor that lets the curator pick what to keep.
    Returns the source's `Proposal` (attributes, model, prompt_version, raw, warnings)."""
    settings = load_settings(project)
    try:
        row = project.get_class(class_key)
    except AttributeEditError as err:
        raise UserError(str(err)) from err
    ordered = [c.name for c in project.list_classes(active_only=True)]
    with make_ollama_source(project, model=model, **source_kwargs) as src:
        try:
            return src.propose(
                row.name,
                other_classes=pick_other_classes(row.name, ordered),
                domain_hint=settings.domain_hint,
                n=n or settings.n_attributes,
                model=model or settings.ollama_model,
            )
        except AttributeSourceError as err:
            raise UserError(str(err)) from err


def _resolve_classes(project: Any, class_ids: Sequence[ClassKey] | None) -> list[Any]:
    rows = project.list_classes()
    if class_ids is None:
        return [c for c in rows if c.active]
    out, seen = [], set()
    for key in class_ids:
        try:
            row = project.get_class(key)
        except AttributeEditError as err:
            raise UserError(str(err)) from err
        if row.id not in seen:
            seen.add(row.id)
            out.append(row)
    return out


MAX_N_ATTRIBUTES = 50


def check_propose_args(
    *,
    timeout: float | None = None,
    retries: int | None = None,
    n: int | None = None,
    concurrency: int | None = None,
) -> None:
    """A `UserError` for a value that cannot work, before anything is sent or written (a zero
    or NaN timeout used to surface as "Ollama is not running" or "HTTP 502")."""
    if timeout is not None and not (
        isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0
    ):
        raise UserError(f"--timeout must be a positive number of seconds, not {timeout!r}")
    if retries is not None and retries < 0:
        raise UserError(f"--retries must be 0 or more, not {retries}")
    if n is not None and not 1 <= n <= MAX_N_ATTRIBUTES:
        raise UserError(f"--n must be between 1 and {MAX_N_ATTRIBUTES} attributes per class, not {n}")
    if concurrency is not None and concurrency < 1:
        raise UserError(f"--concurrency must be 1 or more, not {concurrency}")


def propose_attributes(
    project: Any,
    class_ids: Sequence[ClassKey] | None = None,
    model: str | None = None,
    replace: bool = False,
    concurrency: int = 4,
    cancel: CancelToken | None = None,
    *,
    skip_existing: bool | None = None,
    who: str | None = None,
    source: Any = None,
    timeout: float | None = None,
    retries: int | None = None,
    n: int | None = None,
    host: str | None = None,
) -> Generator[Progress, None, ProposeResult]:
    """Ask the LLM for the attributes of many classes; save each as it completes.

    `class_ids=None` means every active class; then, unless `replace`, classes that already have
    attributes are skipped (so a cancelled or failed run resumes where it stopped). With
    `replace` a class's attributes become the proposal; otherwise new ones are appended.
    `source` defaults to an `OllamaSource` on the project's host (tests pass their own).
    """
    check_propose_args(timeout=timeout, retries=retries, n=n, concurrency=concurrency)
    settings = load_settings(project)
    model = (model or settings.ollama_model or "").strip()
    if not model:
        raise UserError("no Ollama model chosen: pass --model NAME or set the ollama_model setting")
    who = who or settings.effective_reviewer
    n = n or settings.n_attributes
    if skip_existing is None:
        skip_existing = class_ids is None and not replace
    own = source is None
    if own:
        extra = {k: v for k, v in (("timeout", timeout), ("retries", retries)) if v is not None}
        source = make_ollama_source(project, model=model, host=host, **extra)
    result = ProposeResult(model=model, host=getattr(source, "host", ""))
    stop = threading.Event()

    def stopped() -> bool:
        """Polled by requests in flight: a Cancel stops them at once, not at the next progress."""
        return stop.is_set() or (cancel is not None and cancel.cancelled)

    pool: ThreadPoolExecutor | None = None
    try:
        try:
            model = source.ensure_model(model, stop=stopped)  # fail fast, once, with `ollama pull NAME`
        except SourceStopped:
            raise Cancelled() from None
        except AttributeSourceError as err:
            raise UserError(str(err)) from err
        result.model = model
        targets = _resolve_classes(project, class_ids)
        if skip_existing:
            result.skipped = [c.name for c in targets if c.n_attributes]
            targets = [c for c in targets if not c.n_attributes]
        ordered = [c.name for c in project.list_classes(active_only=True)]
        total = len(targets)
        yield Progress(0, total, f"asking {model} for {total} classes", stage="propose")
        if not targets:
            result.attribute_set_version = project.attribute_set_version()
            return result
        pool = ThreadPoolExecutor(max_workers=max(1, int(concurrency)), thread_name_prefix="lazlabel-ollama")

        def ask(name: str, **kw: Any) -> Any:
            try:
                return source.propose(name, **kw)
            except (OllamaUnreachable, ModelNotInstalled):
                stop.set()  # at once, so queued classes are not sent to a dead end
                raise

        futures: dict[Future, Any] = {
            pool.submit(
                ask,
                c.name,
                other_classes=pick_other_classes(c.name, ordered),
                domain_hint=settings.domain_hint,
                n=n,
                model=model,
                stop=stopped,
            ): c
            for c in targets
        }
        pending = set(futures)
        done_count = 0
        fatal: AttributeSourceError | None = None
        while pending:
            finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
            for fut in finished:
                row = futures[fut]
                if fut.cancelled():
                    result.not_attempted.append(row.name)
                    done_count += 1
                    continue
                message = _save_one(project, fut, row, result, replace=replace, who=who)
                if isinstance(fut.exception(), (OllamaUnreachable, ModelNotInstalled)) and fatal is None:
                    fatal = fut.exception()
                    stop.set()
                    for other in pending:
                        other.cancel()
                done_count += 1
                yield Progress(done_count, total, message, stage="propose", extra={"class": row.name})
            if cancel is not None and cancel.cancelled:
                stop.set()
                for other in pending:
                    other.cancel()
                raise Cancelled()
        result.attribute_set_version = project.attribute_set_version()
        return result
    finally:
        stop.set()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if own:
            source.close()


def _save_one(project: Any, fut: Future, row: Any, result: ProposeResult, *, replace: bool, who: str) -> str:
    """Store one finished proposal (its own transaction); returns a progress line."""
    err = fut.exception()
    if isinstance(err, SourceStopped):
        result.not_attempted.append(row.name)
        return f"{row.name}: stopped"
    if err is not None:
        reason = (
            str(err)
            if isinstance(err, AttributeSourceError)
            else f"internal error: {type(err).__name__}: {err}"
        )
        result.failures.append((row.name, reason))
        return f"{row.name}: failed"
    prop = fut.result()
    attributes, notes = text.clean_attributes(prop.attributes)  # a control character costs itself only
    if not attributes:
        result.failures.append(
            (row.name, f"nothing usable in the reply of {prop.model} ({'; '.join(notes)})")
        )
        return f"{row.name}: failed"
    try:
        stats = project.replace_attributes(
            [(row.id, attributes)],
            mode="replace" if replace else "merge",
            source="llm",
            origin_model=prop.model,
            prompt_version=prop.prompt_version,
            origin=f"ollama {result.host}",
            who=who,
            create_classes=False,
        )
    except AttributeEditError as e:  # class deleted meanwhile, or an unstorable text
        result.failures.append((row.name, str(e)))
        return f"{row.name}: not saved"
    result.prompt_version = prop.prompt_version
    result.saved.append(
        ClassProposal(
            row.id,
            row.name,
            tuple(attributes),
            stats.attributes_added,
            (*prop.warnings, *notes),
            prop.attempts,
            prop.seconds,
        )
    )
    return f"{row.name}: {len(attributes)} attributes"


# -- names typed by hand ---------------------------------------------------------------------------


@dataclass
class AddedClasses:
    ids: list[int]
    names: list[str]
    warnings: list[str]


def add_classes(project: Any, names: Sequence[object], who: str = "") -> AddedClasses:
    """Add classes, all or none: every name is checked first (normalised, not empty, not given
    twice, not taken), then all are added in one transaction. Warnings: what normalisation changed,
    and names that look like another class."""
    clean, notes = text.clean_names(list(names))
    existing = {normalised(c.name).casefold(): c.name for c in project.list_classes()}
    for raw, name in zip(names, clean, strict=True):
        taken = existing.get(name.casefold())
        if taken is not None:
            same = "" if taken == raw else f" ({raw!r} is {taken!r} once normalised)"
            raise UserError(f"class name {taken!r} already exists{same}; nothing was added")
    warnings = notes + text.lookalikes(clean, existing.values())
    try:
        stats = project.replace_attributes(
            [(name, ()) for name in clean], mode="merge", source="manual", who=who, create_classes=True
        )
    except AttributeEditError as err:
        raise UserError(f"{err}; nothing was added") from err
    ids = [project.get_class(name).id for name in stats.classes_added]
    return AddedClasses(ids, list(stats.classes_added), warnings)


def add_attributes(
    project: Any, class_key: ClassKey, texts: Sequence[object], who: str = ""
) -> tuple[list[int], list[str]]:
    """Add attributes to one class, all or none (each text checked before any is added);
    returns the new ids and notes on what normalisation changed."""
    clean = []
    notes = []
    for i, raw in enumerate(texts, 1):
        try:
            clean.append(clean_attribute_text(raw))
        except AttributeEditError as err:
            raise UserError(f"attribute {i} of {len(texts)} ({raw!r}): {err}; nothing was added") from err
        note = text.changed(raw, clean[-1]) if isinstance(raw, str) else None
        if note:
            notes.append(note)
    try:
        have = {normalised(a.text).casefold() for a in project.list_attributes(class_key)}
    except AttributeEditError as err:
        raise UserError(str(err)) from err
    folded = [t.casefold() for t in clean]
    for i, key in enumerate(folded):
        if key in folded[:i]:
            raise UserError(f"attribute {clean[i]!r} is given twice; nothing was added")
        if key in have:
            raise UserError(f"the class already has the attribute {clean[i]!r}; nothing was added")
    return [project.add_attribute(class_key, t, "manual", who) for t in clean], notes


# -- files -------------------------------------------------------------------------------------


@dataclass
class ImportResult:
    path: str
    format: str
    mode: str
    classes_in_file: int
    classes_added: list[str]
    classes_touched: int
    attributes_added: int
    attributes_removed: int
    duplicates_dropped: list[tuple[str, str]]
    classes_not_in_file: list[str]
    order_note: str
    warnings: list[str]
    attribute_set_version: str


@dataclass
class ExportResult:
    path: str
    format: str
    classes: int
    attributes: int
    attribute_set_version: str


def attribute_formats() -> dict[str, FileAttributeSource]:
    """File formats registered as attribute sources (those with `suffixes` and `read`)."""
    out: dict[str, FileAttributeSource] = {}
    for name in available(ATTRIBUTE_SOURCES):
        obj = load(ATTRIBUTE_SOURCES, name)
        if hasattr(obj, "suffixes") and hasattr(obj, "read") and hasattr(obj, "write"):
            out[name] = obj()
    return out


def _pick_format(path: Path, fmt: str | None) -> tuple[str, FileAttributeSource]:
    formats = attribute_formats()
    if fmt:
        key = fmt.strip().lower()
        for name, src in formats.items():
            if key == name or f".{key.lstrip('.')}" in src.suffixes:
                return name, src
        raise UserError(f"unknown attribute file format {fmt!r} (known: {', '.join(formats)})")
    suffix = path.suffix.lower()
    for name, src in formats.items():
        if suffix in src.suffixes:
            return name, src
    known = ", ".join(f"{n} ({'/'.join(s.suffixes)})" for n, s in formats.items())
    raise UserError(f"cannot tell the format of {path.name} from its suffix; pass a format (known: {known})")


def _read(path: Path, fmt: str | None) -> tuple[str, FileContents]:
    if not path.is_file():
        raise UserError(f"no such file: {path}")
    if fmt in ("txt", "text") or (fmt is None and path.suffix.lower() in (".txt", ".names")):
        name, reader = "text", read_class_list
    else:
        name, src = _pick_format(path, fmt)
        reader = src.read
    try:
        return name, reader(path)
    except AttributeSourceError as err:
        raise UserError(str(err)) from err


def _validate(path: Path, contents: FileContents, existing: Sequence[str]) -> tuple[list[Any], list[str]]:
    """The file's classes with names and texts normalised (`workflows.text`), before anything is
    written: [(name, attributes, line)] and warnings. Names that become equal are merged."""
    warnings: list[str] = []
    merged: dict[str, tuple[str, list[str], int | None]] = {}
    for c in contents.classes:
        where = f"{path}:{c.line}" if c.line else str(path)
        at = f"line {c.line}: " if c.line else ""
        try:
            name = clean_class_name(c.name)
        except AttributeEditError as err:
            raise UserError(f"{where}: class {c.name!r}: {err}") from err
        attrs: list[str] = []
        removed = 0
        for a in c.attributes:
            try:
                attrs.append(clean_attribute_text(a))
            except AttributeEditError as err:
                if not normalised(a):
                    warnings.append(f"{at}class {name!r}: attribute {a!r} is empty once cleaned; skipped")
                    continue
                raise UserError(f"{where}: class {c.name!r}: {err}") from err
            if not (a.isascii() and a.isprintable()):  # only then can the rule have removed anything
                removed += normalise(a)[1]
        if removed:
            warnings.append(f"{at}class {name!r}: {removed} control or invisible characters removed")
        if name != c.name:
            warnings.extend(f"{at}class {n}" for n in text.clean_names([c.name])[1])
        key = name.casefold()
        if key in merged:
            first, first_attrs, first_line = merged[key]
            warnings.append(
                f"{at}class {c.name!r} is the class {first!r}"
                + (f" of line {first_line}" if first_line else "")
                + " once normalised; their attributes are merged"
            )
            first_attrs.extend(attrs)
        else:
            merged[key] = (name, attrs, c.line)
    names = [n for n, _, _ in merged.values()]
    warnings.extend(text.lookalikes(names, [e for e in existing if e.casefold() not in merged]))
    return list(merged.values()), warnings


def import_attributes(
    project: Any,
    path: str | os.PathLike[str],
    fmt: str | None = None,
    mode: str = "merge",
    who: str | None = None,
    *,
    classes_only: bool = False,
) -> ImportResult:
    """Import classes and attributes from a descriptor JSON / CSV (or class names from .txt).

    `merge` appends attributes not already present; `replace` makes each listed class hold
    exactly the file's attributes. Classes absent from the file are left alone (and listed).
    New classes take the file's order, after the existing ones; the result says so.
    """
    if mode not in ("merge", "replace"):
        raise UserError(f"import mode must be merge or replace, not {mode!r}")
    p = Path(path)
    fmt_name, contents = _read(p, fmt)
    before = {normalised(c.name).casefold(): c.name for c in project.list_classes()}
    classes, warnings = _validate(p, contents, list(before.values()))
    who = who or load_settings(project).effective_reviewer
    items = [(name, () if classes_only else attrs) for name, attrs, _ in classes]
    try:
        stats = project.replace_attributes(
            items, mode="merge" if classes_only else mode, source="import", origin=p.name, who=who
        )
    except AttributeEditError as err:
        raise UserError(f"{p}: {err}") from err
    in_file = {name.casefold() for name, _, _ in classes}
    missing = [name for key, name in before.items() if key not in in_file]
    added = len(stats.classes_added)
    if not added:
        order_note = "no new classes; existing classes keep their display order"
    elif before:
        order_note = (
            f"{added} new classes appended after the {len(before)} existing ones, in the file's order "
            "(reorder them in the class list if that order is not what you want)"
        )
    else:
        order_note = f"class display order follows the order of the {added} classes in the file"
    return ImportResult(
        path=str(p),
        format=fmt_name,
        mode=mode,
        classes_in_file=len(contents.classes),
        classes_added=stats.classes_added,
        classes_touched=stats.classes_touched,
        attributes_added=stats.attributes_added,
        attributes_removed=stats.attributes_removed,
        duplicates_dropped=stats.duplicates_dropped,
        classes_not_in_file=missing,
        order_note=order_note,
        warnings=list(contents.warnings) + warnings,
        attribute_set_version=project.attribute_set_version(),
    )


def export_attributes(
    project: Any, path: str | os.PathLike[str], fmt: str | None = None, *, include_inactive: bool = False
) -> ExportResult:
    """Write classes and attributes in display order (by default only what the engine uses),
    atomically: a temporary file beside the target, then a rename."""
    p = Path(path)
    fmt_name, src = _pick_format(p, fmt)
    if not p.parent.is_dir():
        raise UserError(f"folder does not exist: {p.parent}")
    if include_inactive:
        by_class: dict[int, list[str]] = {}
        for a in project.list_attributes():
            by_class.setdefault(a.class_id, []).append(a.text)
        classes = [ClassAttributes(c.name, tuple(by_class.get(c.id, ()))) for c in project.list_classes()]
    else:
        classes = [ClassAttributes(name, attrs) for _cid, name, attrs in project.class_specs()]
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.close(fd)
    try:
        src.write(Path(tmp), classes)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ExportResult(
        str(p),
        fmt_name,
        len(classes),
        sum(len(c.attributes) for c in classes),
        project.attribute_set_version(),
    )


def compare_attribute_sets(project: Any, old: str, new: str) -> dict[str, Any]:
    """What changed between two stored attribute sets (e.g. the versions two runs recorded)."""
    try:
        a = dict(project.get_attribute_set(old))
        b = dict(project.get_attribute_set(new))
    except AttributeEditError as err:
        raise UserError(str(err)) from err
    changed = {}
    for name in a.keys() & b.keys():
        if a[name] != b[name]:
            changed[name] = {
                "removed": [t for t in a[name] if t not in b[name]],
                "added": [t for t in b[name] if t not in a[name]],
                "reordered": set(a[name]) == set(b[name]),
            }
    return {
        "classes_added": [n for n in b if n not in a],
        "classes_removed": [n for n in a if n not in b],
        "changed": changed,
    }
