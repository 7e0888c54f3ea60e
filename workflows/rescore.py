"""Instant re-score: after attribute or class edits, score again from cached features only.

Never re-encodes an image. `preview=True` reports how many top-1 labels would change (per
from -> to class pair) and writes nothing; `preview=False` writes the result as a new run
(kind 'rescore', parent = the run whose labels it replaces), batch by batch, resumably.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from db.queries import ImageFilter
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, Progress, check
from workflows.scoring import ScoringContext
from workflows.settings import ProjectSettings


@dataclass
class RescoreResult:
    preview: bool
    run_id: int | None  # the new run (None for a preview or when nothing changed)
    parent_run_id: int | None
    attribute_set_version: str
    n_scored: int = 0
    n_changed: int = 0
    changes: dict[tuple[int | None, int | None], int] = field(default_factory=dict)  # (from, to) -> images
    changed_ids: list[int] = field(default_factory=list)
    missing: list[int] = field(default_factory=list)  # images with no cached features (run pre-label)
    nothing_to_do: bool = False
    from_preview: bool = False  # a commit that reused the scores of the preview just before it
    timings: dict[str, float] = field(default_factory=dict)
    message: str = ""

    def named_changes(self, names: dict[int, str]) -> list[tuple[str, str, int]]:
        """(from name, to name, count), most frequent first."""

        def nm(c: int | None) -> str:
            return "(none)" if c is None else names.get(c, f"#{c}")

        return [(nm(a), nm(b), n) for (a, b), n in sorted(self.changes.items(), key=lambda kv: -kv[1])]


def rescore(
    project: Any,
    *,
    preview: bool,
    settings: ProjectSettings | None = None,
    cancel: CancelToken | None = None,
) -> Generator[Progress, None, RescoreResult]:
    """Re-score every readable image whose features are cached against the current classes."""
    t0 = time.perf_counter()
    parent = project.latest_prediction_run()
    if parent is None:
        raise UserError("nothing to re-score: run pre-label first")
    yield Progress(0, None, "loading model and classes", stage="prepare")
    ctx = ScoringContext.from_project(project, settings)
    config = ctx.config_dict()
    result = RescoreResult(preview, None, parent.id, ctx.attribute_set_version)
    if (parent.model_id, parent.engine_config, parent.attribute_set_version) == (
        ctx.model_id,
        config,
        ctx.attribute_set_version,
    ) and parent.status == "done":
        result.nothing_to_do = True
        result.message = (
            f"nothing to re-score: run #{parent.id} already used the current classes and attributes"
        )
        yield Progress(0, 0, result.message, stage="done")
        return result
    ids = project.image_ids(ImageFilter(status="ok"))
    hashes = project.content_hashes(ids)
    cached, result.missing = ctx.split_cached({i: hashes.get(i) for i in ids})
    if not cached:
        raise UserError(f"no cached features for {ctx.model_id} with this region mode: run pre-label first")
    before = project.current_top1()
    run_id = None
    done: set[int] = set()
    if not preview:
        resumable = parent.kind == "rescore" and (
            parent.model_id,
            parent.engine_config,
            parent.attribute_set_version,
        ) == (ctx.model_id, config, ctx.attribute_set_version)
        if resumable:  # an interrupted commit of this same re-score: continue it
            run_id = parent.id
            result.parent_run_id = parent.parent_run_id
            done = project.predicted_image_ids(run_id)
            before = (
                {i: c for i, c in project.run_top1(parent.parent_run_id).items()}
                if parent.parent_run_id
                else before
            )
            project.update_run(run_id, status="running", message="")
        else:
            run_id = project.create_run(
                kind="rescore",
                parent_run_id=parent.id,
                model_id=ctx.model_id,
                engine_config=config,
                attribute_set_version=project.snapshot_attribute_set(),
                n_images=len(cached),
            )
        result.run_id = run_id
    todo = [i for i in cached if i not in done]
    key = _memo_key(project, ctx, todo, hashes)
    remembered = None if preview else _last_preview.take(key)
    chunks = remembered if remembered is not None else ctx.score_chunks(todo, hashes, cancel=cancel)
    keep: list[tuple[list[int], Any]] | None = [] if preview else None
    moves: Counter[tuple[int | None, int | None]] = Counter()
    started = time.monotonic()
    t_store = 0.0
    try:
        for n_done, (chunk, res) in _numbered(chunks):
            check(cancel)
            if keep is not None:
                keep.append((chunk, res))
            top1 = [ctx.class_ids[c] for c in res.topk_idx[:, 0].tolist()]
            for iid, new in zip(chunk, top1):
                old = before.get(iid)
                if old != new:
                    moves[(old, new)] += 1
                    result.changed_ids.append(iid)
            if run_id is not None:
                ts = time.perf_counter()
                project.write_prediction_batch(run_id, ctx.to_writes(chunk, res))
                t_store += time.perf_counter() - ts
            result.n_scored += len(chunk)
            yield Progress(
                n_done,
                len(todo),
                f"re-scored {n_done}/{len(todo)}, {len(result.changed_ids)} change",
                stage="rescore",
                started=started,
            )
        check(cancel)
    except (Cancelled, GeneratorExit, KeyboardInterrupt):  # stopped by the user or the caller
        if run_id is not None:
            project.update_run(run_id, status="cancelled", message="cancelled; run re-score again to resume")
        raise
    except BaseException as err:
        if run_id is not None:
            project.update_run(run_id, status="failed", message=f"{type(err).__name__}: {err}")
        raise
    if keep is not None:
        _last_preview.put(key, keep)
    result.from_preview = remembered is not None
    result.changes = dict(moves)
    result.n_changed = len(result.changed_ids)
    total = time.perf_counter() - t0
    result.timings = {"total_s": total, "store_s": t_store}
    what = "would change" if preview else "changed"
    result.message = (
        f"{result.n_scored} images re-scored from cache: {result.n_changed} top-1 labels {what}"
        + (
            f"; {len(result.missing)} images have no cached features (run pre-label)"
            if result.missing
            else ""
        )
    )
    if run_id is not None:
        project.update_run(
            run_id, status="done", timings=result.timings, message=result.message, finished=True
        )
    yield Progress(len(todo), len(todo), result.message, stage="done")
    return result


class _Memo:
    """The last preview's engine results, so committing right after a preview does not score twice."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: str | None = None
        self._value: list[tuple[list[int], Any]] | None = None

    def put(self, key: str, value: list[tuple[list[int], Any]]) -> None:
        with self._lock:
            self._key, self._value = key, value

    def take(self, key: str) -> list[tuple[list[int], Any]] | None:
        with self._lock:
            value = self._value if self._key == key else None
            self._key, self._value = None, None
            return value


_last_preview = _Memo()


def _memo_key(project: Any, ctx: ScoringContext, ids: list[int], hashes: dict[int, str | None]) -> str:
    """Everything the scores depend on: project, model, config, classes and attributes, image features."""
    h = hashlib.sha256()
    h.update(
        repr(
            (
                str(project.path),
                ctx.model_id,
                ctx.config_dict(),
                ctx.engine_cfg.topk,
                ctx.engine_cfg.explain_top,
                ctx.attribute_set_version,
                ctx.class_ids,
            )
        ).encode()
    )
    for i in ids:
        h.update(f"{i}:{hashes.get(i)};".encode())
    return h.hexdigest()


def _numbered(chunks: Generator[tuple[list[int], Any], None, None]):
    n = 0
    for ids, res in chunks:
        n += len(ids)
        yield n, (ids, res)
