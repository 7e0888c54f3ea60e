"""Pre-label run: encode what the feature cache lacks, score every image against every active class,
store top-k predictions and the evidence for the top classes.

Resumable and idempotent: each engine batch is written in its own transaction; a re-run with the
same model, engine/view configuration and attribute set continues the newest run (images already
predicted are skipped), and does nothing at all when that run already covers every image.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from db.connection import ProjectError
from db.queries import ImageFilter
from engine.explain import paused_gc
from engine.pipeline import ImageItem
from engine.pipeline import prelabel as engine_prelabel
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, Progress, check
from workflows.scan import ensure_content_hash
from workflows.scoring import ScoringContext
from workflows.settings import ProjectSettings

#: images per engine call; between calls, what another process stored meanwhile is skipped
SLICE = 256

#: (project, ctx, run id, items, cancel, from_end) -> the engine's batch results over the items
BatchSource = Callable[[Any, ScoringContext, int, list[ImageItem], "CancelToken | None", bool], Iterator[Any]]

#: scope name -> filter of the images a run covers
SCOPES: dict[str, ImageFilter] = {
    "all": ImageFilter(status="ok"),
    "unlabelled": ImageFilter(status="ok", review_status="unreviewed"),
}


@dataclass
class RunSummary:
    run_id: int | None
    resumed: bool = False
    nothing_to_do: bool = False
    n_images: int = 0  # images the run covers
    n_skipped: int = 0  # already predicted by this run before this call
    n_scored: int = 0  # predicted by this call
    n_errors: int = 0
    errors: dict[int, str] = field(default_factory=dict)  # image id -> reason
    timings: dict[str, float] = field(default_factory=dict)
    message: str = ""
    notes: list[str] = field(default_factory=list)  # cache repairs, re-encodes: shown before the message


def _targets(project: Any, scope: str, image_ids: Sequence[int] | None) -> list[int]:
    if image_ids is not None:
        return [r.id for r in project.images(list(dict.fromkeys(image_ids))) if r.status == "ok"]
    if scope == "selected":
        raise UserError("scope 'selected' needs the selected image ids")
    if scope not in SCOPES:
        raise UserError(f"unknown scope '{scope}' (one of: {', '.join(SCOPES)}, or pass image ids)")
    return project.image_ids(SCOPES[scope])


def ensure_hashes(project: Any, image_ids: Sequence[int]) -> dict[int, str]:
    """Hash images that lack a content hash (the feature-cache key); returns id -> why it has none."""
    hashes = ensure_content_hash(project, list(image_ids))
    return {
        i: "unreadable, or changed since the last scan (re-scan the folder)"
        for i, h in hashes.items()
        if not h
    }


def run_prelabel(
    project: Any,
    *,
    image_ids: Sequence[int] | None = None,
    scope: str = "all",
    settings: ProjectSettings | None = None,
    cancel: CancelToken | None = None,
    join: bool = False,
    force: bool = False,
    source: BatchSource | None = None,
) -> Generator[Progress, None, RunSummary]:
    """Pre-label the images of `scope` (or `image_ids`) with the project's model and attributes.

    A run is leased to the process running it: a second process gets RunInProgress ("run #N is
    in progress (pid P on HOST)"), or with `join` works on the same run from the other end of
    the list (slice by slice, skipping what either process stored). `force`: a new run that
    re-encodes every image (their cached features are dropped first). `source`: where the engine
    batches come from (default: this process, `_sliced`; workflows/prelabel_ray.py: a Ray cluster).
    """
    t0 = time.perf_counter()
    yield Progress(0, None, "loading model and classes", stage="prepare")
    ctx = ScoringContext.from_project(project, settings)
    ids = _targets(project, scope, image_ids)
    if not ids:
        raise UserError("no readable images to pre-label (scan the image folder first)")
    yield Progress(0, None, "hashing new images", stage="hash")
    hash_errors = ensure_hashes(project, ids)
    check(cancel)
    config = ctx.config_dict()
    notes: list[str] = list(ctx.cache.repairs)
    # the newest pre-label/re-score run continues when it used this very model, config and attribute set
    match = None if force else project.latest_prediction_run()
    resumed = match is not None and (match.model_id, match.engine_config, match.attribute_set_version) == (
        ctx.model_id,
        config,
        ctx.attribute_set_version,
    )
    owned = True
    if resumed:
        run_id = match.id
        done = project.predicted_image_ids(run_id, current_only=True)
        project.forget_predictions(run_id, project.predicted_image_ids(run_id) - done)  # files changed since
        todo = [i for i in ids if i not in done]
        lost = _features_lost(project, ctx, [i for i in ids if i in done])
        if lost:  # predicted, but their cached features are gone or were damaged: encode them again
            notes.append(f"re-encoding {len(lost)} image(s) whose cached features are missing or damaged")
            todo = sorted(set(todo) | set(lost), key={i: k for k, i in enumerate(ids)}.__getitem__)
        if not todo:
            msg = (
                f"nothing to do: run #{run_id} already pre-labelled these {len(ids)} images with "
                f"{ctx.model_id} and the current attributes"
            )
            if match.status != "done":
                project.update_run(run_id, status="done", finished=True)
            yield Progress(len(ids), len(ids), msg, stage="done")
            return RunSummary(
                run_id, resumed=True, nothing_to_do=True, n_images=len(ids), n_skipped=len(ids), message=msg,
                notes=notes,
            )
        owned = project.claim_run(run_id, join=join)
        covered = len(done | set(ids))
        if owned:
            project.update_run(run_id, status="running", n_images=covered, message="")
    else:
        version = project.snapshot_attribute_set()
        run_id = project.create_run(  # RunInProgress if another process runs one (before any drop)
            kind="prelabel",
            model_id=ctx.model_id,
            engine_config=config,
            attribute_set_version=version,
            n_images=len(ids),
        )
        if force:
            dropped = ctx.cache.drop([h for h in project.content_hashes(ids).values() if h])
            if dropped:
                notes.append(f"--force: {dropped} cached feature rows dropped, every image is encoded again")
        done, todo = set(), ids
    for note in notes:
        yield Progress(0, None, note, stage="prepare")
    summary = RunSummary(
        run_id, resumed=resumed, n_images=len(done | set(ids)), n_skipped=len(ids) - len(todo), notes=notes
    )
    try:
        yield from _predict(project, ctx, run_id, todo, hash_errors, summary, cancel, t0, from_end=not owned,
                            source=source or _sliced)
    except (Cancelled, GeneratorExit, KeyboardInterrupt):  # stopped by the user or the caller
        if owned:
            project.update_run(
                run_id,
                status="cancelled",
                timings=summary.timings,
                message=f"cancelled after {summary.n_scored} images; run pre-label again to resume",
            )
        raise
    except BaseException as err:
        full = isinstance(err, OSError) and err.errno == errno.ENOSPC
        if owned:
            why = "disk full" if full else f"{type(err).__name__}: {err}"
            try:
                project.update_run(run_id, status="failed", timings=summary.timings, message=why)
            except ProjectError:
                pass  # the store cannot write either (disk full): the run shows interrupted
        if full:
            raise UserError(
                f"disk full while writing the feature cache ({getattr(err, 'filename', None) or ctx.cache.dir}); "
                f"{summary.n_scored} images were stored: free some space and run pre-label again to resume"
            ) from err
        raise
    verb = "resumed run" if resumed and owned else ("joined run" if not owned else "run")
    summary.message = (
        f"{verb} #{run_id}: {summary.n_scored} images pre-labelled"
        + (f", {summary.n_skipped} already done" if summary.n_skipped else "")
        + (f", {summary.n_errors} could not be read" if summary.n_errors else "")
        + f" ({summary.timings.get('images_per_s', 0):.1f} images/s)"
    )
    if owned:
        project.update_run(run_id, status="done", timings=summary.timings, message=summary.message, finished=True)
    yield Progress(len(todo), len(todo), summary.message, stage="done")
    return summary


def _features_lost(project: Any, ctx: ScoringContext, ids: Sequence[int]) -> list[int]:
    """Images predicted already whose features the cache no longer has (deleted or damaged cache)."""
    if not ids:
        return []
    hashes = project.content_hashes(ids)
    known = {i: h for i, h in hashes.items() if h}
    gone = set(ctx.cache.missing(known.values()))
    return [i for i in ids if known.get(i) in gone]


def _predict(
    project: Any,
    ctx: ScoringContext,
    run_id: int,
    todo: list[int],
    hash_errors: dict[int, str],
    summary: RunSummary,
    cancel: CancelToken | None,
    t0: float,
    *,
    from_end: bool = False,
    source: BatchSource,
) -> Generator[Progress, None, None]:
    """Drive the engine over `todo`, one store transaction per engine batch (`from_end`: a joining
    process, last images first)."""
    rows = project.images(todo)
    paths = project.image_paths(todo)
    items = [ImageItem(r.id, paths[r.id], r.content_hash) for r in rows if r.content_hash and r.id in paths]
    errors = {
        i: hash_errors.get(i, "no content hash (file unreadable)")
        for i in todo
        if i not in {it.key for it in items}
    }
    if errors:
        project.write_prediction_batch(run_id, [], errors=errors.items())
        summary.errors.update(errors)
        summary.n_errors += len(errors)
    started = time.monotonic()
    t_engine = t_store = 0.0
    processed = len(errors)
    mark = time.perf_counter()
    for br in source(project, ctx, run_id, items, cancel, from_end):
        now = time.perf_counter()
        t_engine += now - mark
        if not (br.items or br.errors or br.in_flight):  # cancelled: encoded and cached, scored on resume
            continue
        writes = []
        if br.items or br.errors:  # an in-flight event (images inside the encoder) writes nothing
            with paused_gc():  # tens of thousands of small objects per batch, none in a cycle
                writes = ctx.to_writes([it.key for it in br.items], br.result) if br.result is not None else []
                project.write_prediction_batch(run_id, writes, errors=br.errors.items())
        summary.errors.update(br.errors)
        summary.n_errors += len(br.errors)
        summary.n_scored += len(writes)
        processed += len(writes) + len(br.errors)
        mark = time.perf_counter()
        t_store += mark - now
        elapsed = time.perf_counter() - t0
        summary.timings = {
            "engine_s": t_engine,
            "store_s": t_store,
            "total_s": elapsed,
            "images_per_s": summary.n_scored / elapsed if elapsed > 0 else 0.0,
        }
        # images inside the encoder count as done for the bar, so it moves within a batch
        shown = min(processed + br.in_flight, len(todo))
        p = Progress(
            shown,
            len(todo),
            "",
            stage="prelabel",
            started=started,
            extra={"run_id": run_id, "errors": summary.n_errors, "stored": processed, "in_flight": br.in_flight},
        )
        eta = p.eta_s
        p.message = f"{shown}/{len(todo)} images, {p.rate:.1f}/s" + (
            f", ETA {eta:.0f}s" if eta is not None else ""
        )
        p.extra.update(images_per_s=p.rate, eta_s=eta)
        yield p
        if not br.in_flight:  # the engine stops within one pass and stores what it encoded whole
            check(cancel)
        mark = time.perf_counter()
    check(cancel)


def _sliced(
    project: Any, ctx: ScoringContext, run_id: int, items: list[ImageItem], cancel: CancelToken | None, from_end: bool
) -> Iterator[Any]:
    """The engine's batch results over `items`, SLICE images at a time; before each slice, images
    another process stored in this run meanwhile (a joiner, or the owner) are skipped."""
    order = list(reversed(items)) if from_end else items
    before = project.predicted_image_ids(run_id)
    for start in range(0, len(order), SLICE):
        if cancel is not None and cancel.cancelled:
            return
        part = order[start : start + SLICE]
        if start:
            taken = project.predicted_image_ids(run_id) - before
            part = [it for it in part if it.key not in taken]
        if part:
            yield from engine_prelabel(
                ctx.model, part, ctx.classes, ctx.engine_cfg, ctx.view_cfg, ctx.cache, cancel=cancel
            )
