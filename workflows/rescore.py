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
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from db.queries import ImageFilter
from engine.explain import paused_gc
from engine.pipeline import ScoreResult, score_cached
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, Progress, check, drive
from workflows.scoring import SCORE_CHUNK, ScoringContext
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
    classes_rescored: int | None = None  # only these classes went through OT (None: all of them)
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
            project.claim_run(run_id)  # the run lease: refuses if a live process is committing it
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
    delta = None if done else _delta_plan(project, ctx, parent)
    if delta is not None:
        result.classes_rescored = len(delta.changed)
    if remembered is not None:
        chunks = remembered
    elif delta is not None:  # a preview only needs the ranking: evidence is gathered when committing
        chunks = _delta_chunks(project, ctx, delta, todo, hashes, cancel, explain=not preview)
    else:
        chunks = ctx.score_chunks(todo, hashes, cancel=cancel)
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
                with paused_gc():  # tens of thousands of small objects per chunk, none in a cycle
                    if delta is not None and not res.explanations:
                        kx = min(ctx.engine_cfg.explain_top, res.topk_idx.shape[1])
                        res.explanations = _delta_explanations(project, ctx, delta, chunk, res.topk_idx[:, :kx])
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


@dataclass
class _Delta:
    """What changed since the parent run: only `changed` classes need scoring again."""

    parent: Any  # RunRow
    changed: list[int]  # current class indices whose name/attributes differ from the parent's
    unchanged: dict[int, int]  # class id -> current index, for classes scored identically then and now
    parent_k: int  # entries the parent stored per image
    parent_classes: int


def _delta_plan(project: Any, ctx: ScoringContext, parent: Any) -> _Delta | None:
    """Carry the parent's scores over for classes that did not change, when that is exact.

    A LaZSL (or dclip/clip) score of one class depends only on the image features and that class's
    own name and attributes, so with the same model and configuration an unchanged class scores the
    same. Not used when class identities moved (rename/merge/delete) since the parent started.
    """
    if parent.status != "done" or (parent.model_id, parent.engine_config) != (
        ctx.model_id,
        ctx.config_dict(),
    ):
        return None
    if ctx.engine_cfg.prefilter_k:  # candidate pre-filtering couples the classes
        return None
    if project.class_identity_changed_since(parent.started_at):
        return None
    try:
        old = dict(project.get_attribute_set(parent.attribute_set_version))
    except Exception:  # noqa: BLE001 - no snapshot: score everything
        return None
    changed, unchanged = [], {}
    for i, (cid, spec) in enumerate(zip(ctx.class_ids, ctx.classes)):
        if old.get(spec.name) == tuple(spec.attributes):
            unchanged[cid] = i
        else:
            changed.append(i)
    parent_topk = int((parent.engine_config.get("engine") or {}).get("topk", 0))
    return _Delta(parent, changed, unchanged, min(parent_topk, len(old)), len(old))


def _delta_chunks(
    project: Any,
    ctx: ScoringContext,
    delta: _Delta,
    todo: list[int],
    hashes: dict[int, str | None],
    cancel: CancelToken | None,
    *,
    explain: bool = True,
) -> Generator[tuple[list[int], ScoreResult], None, None]:
    """Like `ScoringContext.score_chunks`, scoring only the changed classes and taking the others
    from the parent run. An image whose new top-k could involve a class the parent did not store
    (its score is only bounded by the parent's k-th score) is scored against every class."""
    C = len(ctx.classes)
    k = min(ctx.engine_cfg.topk, C)
    kx = min(ctx.engine_cfg.explain_top, C)
    parent_topk = project.run_topk(delta.parent.id)
    sub = ScoringContext(
        **{
            **ctx.__dict__,
            "class_ids": [ctx.class_ids[i] for i in delta.changed],
            "classes": [ctx.classes[i] for i in delta.changed],
        }
    )
    scores_only = replace(ctx.engine_cfg, topk=1, explain_top=0, prefilter_k=None)
    changed_cols = torch.tensor(delta.changed, dtype=torch.long)
    for start in range(0, len(todo), SCORE_CHUNK):
        check(cancel)
        ids = todo[start : start + SCORE_CHUNK]
        n = len(ids)
        known = torch.full((n, C), float("-inf"))
        bound = torch.full((n,), float("inf"))  # no parent prediction: score everything
        rows, cols, vals = [], [], []
        for r, iid in enumerate(ids):
            tk = parent_topk.get(iid)
            if tk is None:
                continue
            bound[r] = tk[-1][1] if len(tk) < delta.parent_classes else float("-inf")
            for cid, s in tk:
                col = delta.unchanged.get(cid)
                if col is not None:
                    rows.append(r)
                    cols.append(col)
                    vals.append(s)
        if rows:
            known[torch.tensor(rows), torch.tensor(cols)] = torch.tensor(vals)
        if delta.changed:
            part = score_cached(
                sub.model, sub.cache, [hashes[i] for i in ids], sub.classes, scores_only, return_all=True
            )
            known[:, changed_cols] = part.all_scores.float().cpu()
        full = ((known >= bound[:, None]).sum(1) < k).nonzero()[:, 0]
        if len(full):
            redo = score_cached(
                ctx.model,
                ctx.cache,
                [hashes[ids[r]] for r in full.tolist()],
                ctx.classes,
                scores_only,
                return_all=True,
            )
            known[full] = redo.all_scores.float().cpu()
        top = known.topk(k, dim=1)
        margin = top.values[:, 0] - (top.values[:, 1] if k > 1 else top.values[:, 0])
        yield (
            ids,
            ScoreResult(
                top.indices,
                top.values,
                margin,
                _delta_explanations(project, ctx, delta, ids, top.indices[:, :kx]) if explain else [],
            ),
        )


def _delta_explanations(
    project: Any, ctx: ScoringContext, delta: _Delta, ids: list[int], top: torch.Tensor
) -> list[list[_Carried]]:
    """Evidence for each image's new top classes: the parent's where the class is unchanged and it
    was stored, computed from the cache otherwise."""
    stored = project.run_explanations(delta.parent.id, ids)
    want = [[ctx.class_ids[c] for c in row] for row in top.tolist()]
    missing = {
        iid: cids
        for iid, cids in zip(ids, want)
        if any(c not in delta.unchanged or (iid, c) not in stored for c in cids)
    }
    fresh = drive(ctx.explain_pairs(project, missing)) if missing else {}
    index = ctx.class_index
    out = []
    for iid, cids in zip(ids, want):
        row = []
        for c in cids:
            data = fresh.get(iid, {}).get(c) or stored.get((iid, c))
            if data is not None:
                row.append(_Carried(data, index[c]))
        out.append(row)
    return out


@dataclass
class _Carried:
    """Evidence carried into the new run as stored (no parse into dataclasses and back), re-indexed:
    it only goes back to the store, through `to_json`."""

    data: dict[str, Any]
    class_index: int

    def to_json(self) -> dict[str, Any]:
        return {**self.data, "class_index": self.class_index}


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
