"""Learning from the curators' decisions (issue #17): every decision improves the pre-labels of the
rest, from the feature cache only, and the scores stay explained (docs/architecture.md, "Learning
from decisions").

A learning run is a run: kind 'learn', parent = the pre-label/re-score run it learned over, its
predictions and explanations stored like any run's, so review, export and audit read them. Its
record (`engine_config["learn"]`) holds the method, hyperparameters, seed, the decisions used
(count, latest id), held-out accuracies and the content hash of its parameter file (beside the
cache, never overwritten). Which learning run the images show is a project setting; going back to
an earlier run, or to zero-shot, is undo (`activate`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from db.queries import ImageFilter
from db.store_learning import LEARN_KIND
from db.store_runs import PredictionWrite, RunRow
from engine.evidence import read_evidence
from engine.learn import params as param_files
from engine.learn.learners import (
    LEARNERS,
    ZERO_SHOT,
    AttributeLearner,
    FitReport,
    LearnData,
    get_learner,
    presence_stats,
    select_and_fit,
)
from engine.learn.terms import cached_terms_best, class_sums
from engine.types import LEARN_METHODS
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, Progress, check, drive
from workflows.scoring import SCORE_CHUNK, ScoringContext
from workflows.settings import ProjectSettings

#: project setting: id of the learning run the images show (None/absent: zero-shot)
ACTIVE_SETTING = "active_learning_run"
#: learned weight at or below which an attribute is reported as not helping its class
UNHELPFUL_BELOW = 0.25
PARAMS_FOLDER = "learned"


# ----------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class DecidedExamples:
    """What the decision log says, latest decision per image: positives (image id, class id it is)
    and negatives (image id, class id it is NOT), and the newest decision id at the time."""

    positives: list[tuple[int, int]]
    negatives: list[tuple[int, int]]
    last_decision_id: int | None

    @property
    def n_decisions(self) -> int:
        return len(self.positives) + len(self.negatives)

    def per_class(self) -> dict[int, tuple[int, int]]:
        """class id -> (positives, negatives)."""
        pos = Counter(c for _i, c in self.positives)
        neg = Counter(c for _i, c in self.negatives)
        return {c: (pos.get(c, 0), neg.get(c, 0)) for c in sorted(set(pos) | set(neg))}


def decided_examples(project: Any) -> DecidedExamples:
    """accepted / corrected = positive for the label; rejected = negative for the class it was
    predicted as; confirmed_negative = negative for its class; uncertain, undone and stale say nothing."""
    rows = project.decided_images()
    return DecidedExamples(
        positives=[(d.image_id, d.class_id) for d in rows if d.positive],
        negatives=[(d.image_id, d.class_id) for d in rows if not d.positive],
        last_decision_id=project.latest_decision_id(),
    )


# ----------------------------------------------------------------------------- results


@dataclass
class LearnResult:
    """What a learning run did (or, for a preview, would do)."""

    preview: bool
    run_id: int | None
    parent_run_id: int
    method: str
    explainable: bool
    hyperparameters: dict[str, Any]
    seed: int
    n_decisions: int
    n_positive: int
    n_negative: int
    last_decision_id: int | None
    attribute_set_version: str
    cv_zero_shot: float | None  # held-out (cross-validated) top-1 on the decided images, zero-shot
    cv_learned: float | None  # the same for the learned model
    n_heldout: int
    classes_learned: int  # classes with decisions (only they can change)
    changes: list[tuple[int, int | None, int | None]] = field(default_factory=list)  # image, from, to
    n_scored: int = 0
    params_hash: str | None = None
    kept_zero_shot: bool = False  # no candidate beat the zero-shot scores held out
    timings: dict[str, float] = field(default_factory=dict)
    message: str = ""

    @property
    def n_changed(self) -> int:
        return len(self.changes)

    def change_counts(self) -> dict[tuple[int | None, int | None], int]:
        """(from class, to class) -> images."""
        return dict(Counter((a, b) for _i, a, b in self.changes))

    def named_changes(self, names: dict[int, str]) -> list[tuple[str, str, int]]:
        """(from name, to name, count), most frequent first."""

        def nm(c: int | None) -> str:
            return "(none)" if c is None else names.get(c, f"#{c}")

        return [(nm(a), nm(b), n) for (a, b), n in sorted(self.change_counts().items(), key=lambda kv: -kv[1])]


@dataclass(frozen=True)
class LearningRun:
    """One learning run as `lazlabel learn runs` and the Learn panel list it."""

    id: int
    parent_run_id: int | None
    status: str
    method: str
    hyperparameters: dict[str, Any]
    seed: int
    n_decisions: int
    last_decision_id: int | None
    cv_zero_shot: float | None
    cv_learned: float | None
    n_changed: int
    params_hash: str | None
    attribute_set_version: str
    started_at: Any
    active: bool


@dataclass(frozen=True)
class UnhelpfulAttribute:
    """An attribute whose learned weight says it does not help its class (near zero or negative)."""

    class_id: int
    attribute_id: int
    text: str
    weight: float


# ----------------------------------------------------------------------------- learning


def _params_dir(project: Any) -> Path:
    return Path(project.cache_dir) / PARAMS_FOLDER


def _check_parent(project: Any, ctx: ScoringContext) -> RunRow:
    parent = project.latest_prediction_run()
    if parent is None:
        raise UserError("nothing to learn over: run pre-label first")
    if parent.status != "done":
        raise UserError(f"run #{parent.id} ({parent.kind}) is not finished: finish it first (run it again to resume)")
    if (parent.model_id, parent.engine_config, parent.attribute_set_version) != (
        ctx.model_id, ctx.config_dict(), ctx.attribute_set_version):
        raise UserError(
            f"classes, attributes or settings changed since run #{parent.id}: re-score first (`lazlabel rescore`)")
    return parent


def _attribute_ids(project: Any, ctx: ScoringContext) -> list[int | None]:
    """The attribute id of each text row (class order, attribute order); None for the empty row
    a class without attributes gets."""
    by_class: dict[int, list[int]] = {}
    for a in project.list_attributes():
        if a.active:
            by_class.setdefault(a.class_id, []).append(a.id)
    out: list[int | None] = []
    for cid, spec in zip(ctx.class_ids, ctx.classes):
        ids = by_class.get(cid, [])
        out.extend(ids if spec.attributes else [None])
    return out


def learn(
    project: Any,
    *,
    method: str = "attributes",
    seed: int = 0,
    preview: bool = False,
    hyper: dict[str, Any] | None = None,
    cancel: CancelToken | None = None,
    settings: ProjectSettings | None = None,
) -> Generator[Progress, None, LearnResult]:
    """Learn from the decisions so far over the latest pre-label/re-score run, and (unless
    `preview`) commit the learned model's predictions as a learning run the images then show."""
    t0 = time.perf_counter()
    if method not in LEARN_METHODS:
        raise UserError(f"unknown learning method '{method}' (one of: {', '.join(LEARN_METHODS)})")
    if method == "msci":  # learns from the images themselves, not the feature cache: workflows/learning_msci.py
        from workflows.learning_msci import learn_msci

        return (yield from learn_msci(project, seed=seed, preview=preview, hyper=hyper, cancel=cancel,
                                      settings=settings))
    if method not in LEARNERS:
        raise UserError(f"the learning method '{method}' is not available in this installation")
    yield Progress(0, None, "loading model and classes", stage="prepare")
    ctx = ScoringContext.from_project(project, settings)
    parent = _check_parent(project, ctx)
    learner = get_learner(method)
    if "terms" in learner.needs and ctx.engine_cfg.method not in ("lazsl", "dclip"):
        raise UserError(f"the {method} method learns attribute weights: the scoring method "
                        f"'{ctx.engine_cfg.method}' has no attributes (use lazsl)")
    examples = decided_examples(project)
    index = ctx.class_index
    ids = project.image_ids(ImageFilter(status="ok"))
    hashes = project.content_hashes(ids)
    cached, _missing = ctx.split_cached({i: hashes.get(i) for i in ids})
    if not cached:
        raise UserError(f"no cached features for {ctx.model_id} with this region mode: run pre-label first")
    row_of = {iid: r for r, iid in enumerate(cached)}
    pos = [(row_of[i], index[c]) for i, c in examples.positives if i in row_of and c in index]
    neg = [(row_of[i], index[c]) for i, c in examples.negatives if i in row_of and c in index]
    if not pos and not neg:
        raise UserError("no decisions to learn from yet: accept or correct some predictions first "
                        "(Review, or `lazlabel decide`)")
    timings: dict[str, float] = {}
    decided_rows = sorted({r for r, _c in pos} | {r for r, _c in neg})
    local = {r: k for k, r in enumerate(decided_rows)}
    free = sorted({c for _r, c in pos} | {c for _r, c in neg})

    def chk() -> None:
        check(cancel)

    # 1. what the learner reads for every cached image, and the zero-shot scores it corrects
    t = time.perf_counter()
    terms_all = attr_class = glob_all = best_all = None
    if "terms" in learner.needs:
        yield Progress(0, None, "attribute terms from the cache", stage="terms")
        terms_all, best_all, attr_class = _all_terms(project, ctx, cached, hashes, chk)
        # the terms of a class add up to its zero-shot score (docs/architecture.md, "Learning from decisions")
        zero_shot = class_sums(terms_all, attr_class, len(ctx.classes))
    else:
        _scored, zero_shot, _ = yield from ctx.score_all(project, cached, cancel=cancel, stage="zero-shot")
    _stored_scores(project, parent, row_of, index, zero_shot)
    if "global" in learner.needs:
        glob_all = ctx.cache.global_features([hashes[i] for i in cached])
    timings["features_s"] = time.perf_counter() - t
    rows_t = torch.tensor(decided_rows, dtype=torch.long)
    data = LearnData(
        zero_shot=zero_shot[rows_t],
        pos_rows=torch.tensor([local[r] for r, _c in pos], dtype=torch.long),
        pos_class=torch.tensor([c for _r, c in pos], dtype=torch.long),
        neg_rows=torch.tensor([local[r] for r, _c in neg], dtype=torch.long),
        neg_class=torch.tensor([c for _r, c in neg], dtype=torch.long),
        terms=None if terms_all is None else terms_all[rows_t],
        attr_class=attr_class,
        global_feats=None if glob_all is None else glob_all[rows_t],
        best=None if best_all is None else best_all[rows_t],
        best_stats=None if best_all is None else presence_stats(best_all),  # presence over every image
    )
    # 3. hyperparameters by cross-validation on the decided images, then the fit on all of them
    yield Progress(0, None, f"fitting {method} on {len(decided_rows)} decided images", stage="fit")
    t = time.perf_counter()
    report: FitReport = select_and_fit(learner, data, seed=seed, hyper=hyper, check=chk)
    timings["fit_s"] = time.perf_counter() - t
    # 4. the learned scores of every image
    t = time.perf_counter()
    scores = learner.score(report.params, zero_shot, terms_all, glob_all, best_all)
    timings["score_s"] = time.perf_counter() - t
    before = project.current_top1()
    top1 = [ctx.class_ids[c] for c in scores.argmax(1).tolist()]
    changes = [(iid, before.get(iid), new) for iid, new in zip(cached, top1) if before.get(iid) != new]
    result = LearnResult(
        preview=preview, run_id=None, parent_run_id=parent.id, method=method,
        explainable=LEARN_METHODS[method].explainable, hyperparameters=dict(report.hyper), seed=int(seed),
        n_decisions=len(pos) + len(neg), n_positive=len(pos), n_negative=len(neg),
        last_decision_id=examples.last_decision_id, attribute_set_version=ctx.attribute_set_version,
        cv_zero_shot=report.cv_zero_shot, cv_learned=report.cv_learned, n_heldout=report.n_heldout,
        classes_learned=len(free), changes=changes, n_scored=len(cached),
        kept_zero_shot=report.hyper == ZERO_SHOT, timings=timings,
    )
    if preview:
        result.message = _message(result)
        timings["total_s"] = time.perf_counter() - t0
        yield Progress(1, 1, result.message, stage="done")
        return result
    yield from _commit(project, ctx, parent, learner, report, result, cached, hashes, scores, attr_class, cancel)
    timings["total_s"] = time.perf_counter() - t0
    return result


def _terms_key(ctx: ScoringContext) -> str:
    import hashlib
    import json

    raw = json.dumps([ctx.model_id, ctx.config_dict(), ctx.attribute_set_version], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _all_terms(project: Any, ctx: ScoringContext, cached: list[int], hashes: dict[int, str | None],
               chk: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(terms, best-region similarities, attribute class) of every class's attributes for the cached
    images, kept beside the cache per (model, settings, attribute set), so learning again after more
    decisions only computes new images'. A file from before the best-region cue is computed again."""
    folder = _params_dir(project) / "terms"
    path = folder / f"{_terms_key(ctx)}.pt"
    want = [str(hashes[i]) for i in cached]
    known: dict[str, int] = {}
    stored = stored_best = None
    try:
        blob = torch.load(path, weights_only=True)
        stored, stored_best = blob["terms"], blob["best"]
        known = {h: k for k, h in enumerate(blob["hashes"])}
    except (OSError, KeyError, RuntimeError, ValueError):
        stored = stored_best = None
        known = {}
    todo = [h for h in want if h not in known]
    new, new_best, owner = cached_terms_best(ctx.model, ctx.cache, todo, ctx.classes, ctx.engine_cfg, check=chk)
    if stored is None or stored_best is None or stored.shape[1] != new.shape[1]:
        stored, stored_best, known = new[:0], new_best[:0], {}
    at = {h: k for k, h in enumerate(todo)}
    out = torch.empty(len(want), new.shape[1])
    best = torch.empty(len(want), new.shape[1])
    old_rows = [(r, known[h]) for r, h in enumerate(want) if h in known]
    if old_rows:
        dst, src = torch.tensor([r for r, _ in old_rows]), torch.tensor([k for _, k in old_rows])
        out[dst], best[dst] = stored[src], stored_best[src]
    new_rows = [(r, at[h]) for r, h in enumerate(want) if h in at]
    if new_rows:
        dst, src = torch.tensor([r for r, _ in new_rows]), torch.tensor([k for _, k in new_rows])
        out[dst], best[dst] = new[src], new_best[src]
    if todo and not getattr(project, "read_only", False):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"hashes": want, "terms": out, "best": best}, tmp)
        tmp.replace(path)
    return out, best, owner


def _stored_scores(project: Any, parent: RunRow, row_of: dict[int, int], index: dict[int, int],
                   zero_shot: torch.Tensor) -> None:
    """Put the parent run's stored top-k scores into the recomputed zero-shot matrix, so what the
    images showed is carried bit for bit (re-scoring from the half-precision cache can differ from
    the pre-label's scores in the last float bits) and a class learning leaves alone keeps them."""
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for iid, tk in project.run_topk(parent.id).items():
        r = row_of.get(iid)
        if r is None:
            continue
        for cid, v in tk:
            c = index.get(cid)
            if c is not None:
                rows.append(r)
                cols.append(c)
                vals.append(v)
    if rows:
        zero_shot[torch.tensor(rows), torch.tensor(cols)] = torch.tensor(vals, dtype=zero_shot.dtype)


def _message(r: LearnResult) -> str:
    what = "would change" if r.preview else "changed"
    held = ""
    if r.cv_learned is not None and r.cv_zero_shot is not None:
        held = (f"; held-out top-1 on {r.n_heldout} decided images: zero-shot {100 * r.cv_zero_shot:.1f}%, "
                f"learned {100 * r.cv_learned:.1f}%")
    kept = " (no setting beat zero-shot held out: zero-shot kept)" if r.kept_zero_shot else ""
    return (f"{r.method} learned from {r.n_decisions} decisions ({r.classes_learned} classes){kept}: "
            f"{r.n_changed} of {r.n_scored} top-1 labels {what}{held}")


def _commit(project: Any, ctx: ScoringContext, parent: RunRow, learner: Any, report: FitReport,
            result: LearnResult, cached: list[int], hashes: dict[int, str | None], scores: torch.Tensor,
            attr_class: torch.Tensor | None, cancel: CancelToken | None) -> Generator[Progress, None, None]:
    attr_ids = _attribute_ids(project, ctx)
    meta = {
        "method": result.method, "hyperparameters": result.hyperparameters, "seed": result.seed,
        "class_ids": ctx.class_ids, "attribute_ids": attr_ids,
        "attribute_set_version": ctx.attribute_set_version, "model_id": ctx.model_id,
    }
    digest, _path = param_files.save(_params_dir(project), report.params, meta)
    result.params_hash = digest
    record = {
        "method": result.method, "explainable": result.explainable, "hyperparameters": result.hyperparameters,
        "seed": result.seed, "n_decisions": result.n_decisions, "n_positive": result.n_positive,
        "n_negative": result.n_negative, "last_decision_id": result.last_decision_id,
        "attribute_set_version": result.attribute_set_version, "params_hash": digest,
        "cv": {"zero_shot": result.cv_zero_shot, "learned": result.cv_learned, "n_heldout": result.n_heldout,
               "folds": report.folds, "grid": [[c, a] for c, a in report.grid]},
        "classes_learned": result.classes_learned, "n_changed": result.n_changed,
    }
    run_id = project.create_run(
        kind=LEARN_KIND, parent_run_id=parent.id, model_id=ctx.model_id,
        engine_config={**ctx.config_dict(), "learn": record},
        attribute_set_version=project.snapshot_attribute_set(), n_images=len(cached),
    )
    result.run_id = run_id
    weights = _weights_by_class(report.params, attr_class, ctx) if result.explainable else {}
    kx = min(ctx.engine_cfg.explain_top, len(ctx.classes))
    t = time.perf_counter()
    yield from store_learned_scores(
        project, run_id, cached, scores, ctx, cancel,
        explain=lambda ids, idx, vals: _explanations(project, ctx, parent, ids, [row[:kx] for row in idx], vals,
                                                     weights),
    )
    result.timings["store_s"] = time.perf_counter() - t
    result.message = _message(result)
    project.update_run(run_id, status="done", timings=result.timings, message=result.message, finished=True)
    activate(project, run_id)
    yield Progress(len(cached), len(cached), result.message, stage="done")


def store_learned_scores(
    project: Any, run_id: int, image_ids: list[int], scores: torch.Tensor, ctx: ScoringContext,
    cancel: CancelToken | None,
    explain: Callable[[list[int], list[list[int]], list[list[float]]], dict[int, Any]] | None = None,
) -> Generator[Progress, None, None]:
    """Write a learning run's top-k predictions (rows of `scores` follow `image_ids`) chunk by chunk,
    with `explain(ids, topk indices, topk values)` -> {image id: explanations} where the method has
    evidence. An interruption marks the run cancelled or failed; finishing it is the caller's."""
    k = min(ctx.engine_cfg.topk, len(ctx.class_ids))
    started = time.monotonic()
    try:
        for s in range(0, len(image_ids), SCORE_CHUNK):
            check(cancel)
            ids = image_ids[s:s + SCORE_CHUNK]
            top = scores[s:s + len(ids)].topk(k, dim=1)
            idx, vals = top.indices.tolist(), top.values.tolist()
            expl = explain(ids, idx, vals) if explain is not None else {}
            rows = []
            for r, iid in enumerate(ids):
                tk = [(ctx.class_ids[c], v) for c, v in zip(idx[r], vals[r])]
                margin = vals[r][0] - vals[r][1] if k > 1 else 0.0
                rows.append(PredictionWrite(iid, tk[0][0], vals[r][0], margin, tk, expl.get(iid, {})))
            project.write_prediction_batch(run_id, rows)
            done = s + len(ids)
            yield Progress(done, len(image_ids), f"stored {done}/{len(image_ids)}", stage="store", started=started)
    except (Cancelled, GeneratorExit, KeyboardInterrupt):
        project.update_run(run_id, status="cancelled", message="cancelled; learn again")
        raise
    except BaseException as err:
        project.update_run(run_id, status="failed", message=f"{type(err).__name__}: {err}")
        raise


def _weights_by_class(params: dict[str, torch.Tensor], attr_class: torch.Tensor | None,
                      ctx: ScoringContext) -> dict[int, dict[int, float]]:
    """class id -> {attribute index within the class: learned weight}, for classes that learned."""
    if attr_class is None or "attr_class" not in params:
        return {}
    w = AttributeLearner.weights(params).tolist()
    learned = _learned_classes(params)
    out: dict[int, dict[int, float]] = {}
    pos_in_class: dict[int, int] = {}
    for j, c in enumerate(attr_class.tolist()):
        p = pos_in_class.get(c, 0)
        pos_in_class[c] = p + 1
        if learned[c]:
            out.setdefault(ctx.class_ids[c], {})[p] = w[j]
    return out


def _learned_classes(params: dict[str, torch.Tensor]) -> list[bool]:
    """Which classes had decisions (free parameters) in an attributes fit."""
    if "learned" in params:
        return [bool(v) for v in params["learned"].tolist()]
    c = params["attr_class"][params["gain" if "gain" in params else "delta"] != 0].tolist()
    return [bool(params["bias"][k] != 0) or k in c for k in range(len(params["bias"]))]


def _explanations(project: Any, ctx: ScoringContext, parent: RunRow, ids: list[int], top: list[list[int]],
                  values: list[list[float]], weights: dict[int, dict[int, float]]
                  ) -> dict[int, dict[int, dict[str, Any]]]:
    """Evidence of each image's learned top classes: the parent run's (same model, attributes and
    settings, so the same plans) where stored, computed from the cache otherwise; under learned
    weights, with each attribute's weight and the learned score."""
    stored = project.run_explanations(parent.id, ids)
    want = {iid: [ctx.class_ids[c] for c in row] for iid, row in zip(ids, top)}
    missing = {iid: [c for c in cids if (iid, c) not in stored] for iid, cids in want.items()}
    missing = {i: c for i, c in missing.items() if c}
    fresh = drive(ctx.explain_pairs(project, missing)) if missing else {}
    out: dict[int, dict[int, dict[str, Any]]] = {}
    for r, (iid, cids) in enumerate(want.items()):
        for pos, c in enumerate(cids):
            data = fresh.get(iid, {}).get(c) or stored.get((iid, c))
            if data is None:
                continue
            score = values[r][pos]
            ev = read_evidence(data, c)
            if ev is None:
                continue
            ev = ev.weighted(weights.get(c, {}), score)
            out.setdefault(iid, {})[c] = {**ev.to_json(), "class_index": ctx.class_index[c]}
    return out


# ----------------------------------------------------------------------------- runs, undo


def _record(run: RunRow) -> dict[str, Any]:
    return dict((run.engine_config or {}).get("learn") or {})


def learning_runs(project: Any) -> list[LearningRun]:
    """Every learning run, newest first, with its record and whether the images show it."""
    active = active_learning_run(project)
    out = []
    for run in project.runs(kind=LEARN_KIND):
        rec = _record(run)
        cv = rec.get("cv") or {}
        out.append(LearningRun(
            id=run.id, parent_run_id=run.parent_run_id, status=run.status, method=str(rec.get("method", "?")),
            hyperparameters=dict(rec.get("hyperparameters") or {}), seed=int(rec.get("seed", 0)),
            n_decisions=int(rec.get("n_decisions", 0)), last_decision_id=rec.get("last_decision_id"),
            cv_zero_shot=cv.get("zero_shot"), cv_learned=cv.get("learned"), n_changed=int(rec.get("n_changed", 0)),
            params_hash=rec.get("params_hash"), attribute_set_version=run.attribute_set_version,
            started_at=run.started_at, active=active is not None and active.id == run.id,
        ))
    return out


def active_learning_run(project: Any) -> RunRow | None:
    """The learning run the images show, or None (zero-shot). A learning run stops being active
    when a newer pre-label or re-score replaced the run it learned over (learn again then)."""
    rid = project.get_setting(ACTIVE_SETTING)
    if rid is None:
        return None
    run = project.run(int(rid))
    latest = project.latest_prediction_run()
    if run is None or run.kind != LEARN_KIND or run.status != "done" or latest is None \
            or run.parent_run_id != latest.id:
        return None
    return run


def activate(project: Any, run_id: int | None) -> RunRow | None:
    """Show a learning run's predictions (None: zero-shot, the pre-label/re-score predictions).
    Going back to an earlier learning run, or to zero-shot, is the undo of learning; nothing is
    deleted, so any run can be shown again."""
    if run_id is None:
        project.show_zero_shot_predictions()
        project.set_setting(ACTIVE_SETTING, None)
        return None
    run = project.run(int(run_id))
    if run is None or run.kind != LEARN_KIND:
        raise UserError(f"no learning run #{run_id} (see `lazlabel learn runs`)")
    if run.status != "done":
        raise UserError(f"learning run #{run.id} is {run.status}, not finished: learn again")
    latest = project.latest_prediction_run()
    if latest is None or run.parent_run_id != latest.id:
        raise UserError(f"learning run #{run.id} learned over run #{run.parent_run_id}, which a newer "
                        f"run replaced: learn again (`lazlabel learn`)")
    project.show_zero_shot_predictions()
    project.show_run_predictions(run.id)
    project.set_setting(ACTIVE_SETTING, run.id)
    return run


def _learning_run(project: Any, run_id: int | None) -> RunRow | None:
    if run_id is not None:
        run = project.run(int(run_id))
        if run is None or run.kind != LEARN_KIND:
            raise UserError(f"no learning run #{run_id} (see `lazlabel learn runs`)")
        return run
    run = active_learning_run(project)
    if run is None:
        done = [r for r in project.runs(kind=LEARN_KIND) if r.status == "done"]
        run = done[0] if done else None
    return run


def load_learned(project: Any, run_id: int | None = None) -> tuple[RunRow, dict[str, torch.Tensor], dict[str, Any]]:
    """(run, parameters, metadata) of a learning run (default: the active one, else the newest)."""
    run = _learning_run(project, run_id)
    if run is None:
        raise UserError("no learning run yet: run `lazlabel learn` first")
    digest = _record(run).get("params_hash")
    if not digest:
        raise UserError(f"learning run #{run.id} has no stored parameters")
    try:
        params, meta = param_files.load(_params_dir(project), digest)
    except ValueError as err:
        raise UserError(str(err)) from None
    return run, params, meta


def attribute_weights(project: Any, run_id: int | None = None) -> dict[int, dict[int, float]]:
    """class id -> {attribute id: learned weight} of a learning run (default: the active one, else
    the newest). Classes without decisions are not listed (their weights are all 1). Empty for a
    method that learns no attribute weights (adapter)."""
    _run, params, meta = load_learned(project, run_id)
    if "attr_class" not in params:
        return {}
    class_ids = meta.get("class_ids") or []
    attr_ids = meta.get("attribute_ids") or []
    weight = AttributeLearner.weights(params).tolist()
    learned = _learned_classes(params)
    out: dict[int, dict[int, float]] = {}
    for j, (c, aid) in enumerate(zip(params["attr_class"].tolist(), attr_ids)):
        if aid is None or not learned[c]:
            continue
        out.setdefault(int(class_ids[c]), {})[int(aid)] = float(weight[j])
    return out


def unhelpful_attributes(project: Any, run_id: int | None = None, *, below: float = UNHELPFUL_BELOW
                         ) -> list[UnhelpfulAttribute]:
    """Attributes whose learned weight is near zero or negative (<= `below`): they do not help
    their class on the decided images. Lowest weight first."""
    weights = attribute_weights(project, run_id)
    texts = {a.id: a.text for a in project.list_attributes()}
    out = [UnhelpfulAttribute(cid, aid, texts.get(aid, f"#{aid}"), w)
           for cid, ws in weights.items() for aid, w in ws.items() if w <= below]
    return sorted(out, key=lambda u: (u.weight, u.class_id, u.attribute_id))


__all__ = [
    "ACTIVE_SETTING", "DecidedExamples", "LearnResult", "LearningRun", "UnhelpfulAttribute", "activate",
    "active_learning_run", "attribute_weights", "decided_examples", "learn", "learning_runs", "load_learned",
    "unhelpful_attributes",
]
