"""The audit: which labels are probably wrong and why the model disagrees, and what else the dataset
suffers from (duplicates, outliers, overlapping classes, decisions worth a second look).

Zero-shot scores of ALL classes (re-scored from the feature cache) become class probabilities by a
temperature-calibrated softmax; the temperature minimises the NLL of the imported labels (a 1-D
golden-section search on log T). cleanlab finds the label issues on those probabilities
(`cleanlab.filter.find_label_issues`, `filter_by` one of FILTERS; the default was picked on the demo
worlds: scripts/bench_audit.py labels) and ranks them by its label quality score (issue score =
1 - quality). The dataset checks live in their own modules (duplicates, outliers, label_health,
second_opinion) and store their findings through `audit_findings`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from db.store_review import AuditRow, LabelIssueWrite
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, Progress, check

__all__ = [
    "CHECKS",
    "DEFAULT_FILTER",
    "FILTERS",
    "RANKINGS",
    "AuditResult",
    "AuditRow",
    "audit_report",
    "calibrate_temperature",
    "find_label_issues",
    "parse_checks",
    "run_audit",
]


# --- the math: plain tensor functions ------------------------------------------------------


def _nll(scores: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    logp = torch.log_softmax(scores / temperature, dim=1)
    return float(-logp.gather(1, labels[:, None]).mean())


def calibrate_temperature(
    scores: torch.Tensor, labels: torch.Tensor, *, lo: float = 1e-4, hi: float = 10.0, iters: int = 60
) -> float:
    """Temperature T minimising the NLL of `labels` under softmax(scores / T) (golden section on log T).

    NLL(T) is unimodal in practice for these score matrices; the search is bracketed by [lo, hi].
    """
    if scores.ndim != 2 or labels.shape[0] != scores.shape[0] or scores.shape[0] == 0:
        raise ValueError("calibration needs an (n, C) score matrix and n labels, n > 0")
    s = scores.double()
    y = labels.long()
    a, b = math.log(lo), math.log(hi)
    g = (math.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = _nll(s, y, math.exp(c)), _nll(s, y, math.exp(d))
    for _ in range(iters):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = _nll(s, y, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = _nll(s, y, math.exp(d))
    return math.exp((a + b) / 2)


#: cleanlab `filter_by` methods offered (cleanlab.filter.find_label_issues)
FILTERS = (
    "prune_by_noise_rate",
    "prune_by_class",
    "both",
    "confident_learning",
    "low_self_confidence",
    "low_normalized_margin",
    "predicted_neq_given",
)
#: Picked by measurement on the demo worlds of 140 and 1,400 scenes (scripts/bench_audit.py labels).
DEFAULT_FILTER = "low_self_confidence"

#: ranking name -> cleanlab.rank.get_label_quality_scores method (issue score = 1 - label quality)
RANKINGS: dict[str, str] = {
    "self_confidence": "self_confidence",
    "normalized_margin": "normalized_margin",
    "confidence_weighted_entropy": "confidence_weighted_entropy",
}


@dataclass(frozen=True)
class LabelIssues:
    """Per-image audit outcome (tensors of length n)."""

    flagged: torch.Tensor  # bool
    suggested: torch.Tensor  # the most probable class other than the given one
    p_given: torch.Tensor
    issue_score: torch.Tensor  # 1 - cleanlab label quality (higher = more likely wrong)


def find_label_issues(
    probs: torch.Tensor,
    labels: torch.Tensor,
    *,
    filter_by: str = DEFAULT_FILTER,
    ranking: str = "self_confidence",
) -> LabelIssues:
    """cleanlab's label issues and label-quality ranking over an (n, C) probability matrix and the
    given labels (n,)."""
    import warnings

    from cleanlab.filter import find_label_issues as cl_find
    from cleanlab.rank import get_label_quality_scores

    if ranking not in RANKINGS:
        raise ValueError(f"unknown ranking '{ranking}' (one of: {', '.join(RANKINGS)})")
    if filter_by not in FILTERS:
        raise ValueError(f"unknown filter '{filter_by}' (one of: {', '.join(FILTERS)})")
    n, c = probs.shape
    y = labels.long()
    p = probs.double().cpu().numpy()
    p = p / p.sum(axis=1, keepdims=True)
    yn = y.cpu().numpy()
    with warnings.catch_warnings():  # "too few examples in class k": expected on small projects
        warnings.simplefilter("ignore")
        if n >= 2 and len(set(yn.tolist())) >= 2:
            flagged = torch.from_numpy(cl_find(yn, p, filter_by=filter_by, n_jobs=1)).bool()
        else:  # cleanlab needs two labelled classes; nothing can be told apart
            flagged = torch.zeros(n, dtype=torch.bool)
        quality = get_label_quality_scores(yn, p, method=RANKINGS[ranking])
    probs64 = torch.from_numpy(p)
    onehot = torch.nn.functional.one_hot(y, c).bool()
    # the suggestion: the most probable class the image confidently belongs to (p_k at least the
    # mean p_k of the images labelled k, confident learning's per-class threshold), else the most
    # probable other class
    per_class = onehot.sum(0)
    thresholds = torch.where(per_class > 0, (probs64 * onehot).sum(0) / per_class.clamp(min=1),
                             torch.full((c,), math.inf, dtype=probs64.dtype))
    others = probs64.masked_fill(onehot, float("-inf"))
    confident = others.masked_fill(others < thresholds[None, :], float("-inf"))
    suggested = torch.where(torch.isfinite(confident.max(dim=1).values), confident.argmax(dim=1), others.argmax(dim=1))
    p_given = probs64.gather(1, y[:, None])[:, 0]
    return LabelIssues(flagged, suggested, p_given, 1.0 - torch.from_numpy(quality))


# --- the use case ------------------------------------------------------------------------------

#: what `run_audit` can check; `labels` also writes the dataset health summary
CHECKS = ("labels", "duplicates", "outliers", "overlap", "decisions")
_NEED_PROBS = {"labels", "overlap", "decisions"}
#: flagged images explained during the run (most suspicious first); the Audit screen explains the
#: rest when one is opened, so a noisy 10,000-image set is audited in seconds, not minutes
EXPLAIN_TOP = 256


def parse_checks(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """"labels,duplicates" or a list -> the checks in canonical order (None: all of them)."""
    if value is None:
        return CHECKS
    names = value.split(",") if isinstance(value, str) else list(value)
    wanted = {n.strip().lower() for n in names if n.strip()}
    unknown = sorted(wanted - set(CHECKS))
    if unknown or not wanted:
        raise UserError(f"unknown audit check '{','.join(unknown) or value}' (one or more of: {', '.join(CHECKS)})")
    return tuple(c for c in CHECKS if c in wanted)


@dataclass
class AuditResult:
    run_id: int | None
    n_labelled: int  # images with an imported label of an active class
    n_scored: int
    n_flagged: int
    temperature: float
    ranking: str
    missing_features: list[int] = field(default_factory=list)  # image ids never encoded (run pre-label)
    timings: dict[str, float] = field(default_factory=dict)
    message: str = ""
    checks: tuple[str, ...] = ()
    filter_by: str = DEFAULT_FILTER
    skipped: dict[str, str] = field(default_factory=dict)  # check -> why it did not run
    counts: dict[str, int] = field(default_factory=dict)  # check -> issues found
    health: float | None = None  # cleanlab's overall label health score


def audit_report(project: Any, limit: int | None = 100, *, flagged_only: bool = False) -> list[AuditRow]:
    """The newest audit's rows, flagged first, most suspicious first (limit None: all)."""
    return project.label_issues(limit=limit, flagged_only=flagged_only)


def _decided_labels(project: Any, index: dict[int, int]) -> dict[int, int]:
    """image id -> class id a curator decided (accepted or corrected), active classes only."""
    from db.queries import ImageFilter

    ids = project.image_ids(ImageFilter(status="ok", review_status=("accepted", "corrected")))
    rows = project.images(ids)
    return {r.id: r.label_class_id for r in rows if r.label_class_id is not None and r.label_class_id in index}


def _fail_run(project: Any, run_id: int, err: BaseException) -> None:
    stopped = isinstance(err, (Cancelled, GeneratorExit, KeyboardInterrupt))
    project.update_run(run_id, status="cancelled" if stopped else "failed", message=f"{type(err).__name__}: {err}")


def run_audit(
    project: Any,
    *,
    checks: str | Sequence[str] | None = None,
    filter_by: str = DEFAULT_FILTER,
    temperature: float | None = None,
    ranking: str = "self_confidence",
    duplicate_threshold: float | None = None,
    settings: Any = None,
    cancel: CancelToken | None = None,
) -> Generator[Progress, None, AuditResult]:
    """Run the chosen checks (default: all) and store what they find.

    labels: score every labelled image against all active classes from cached features, calibrate
    a softmax temperature, let cleanlab flag likely label errors (`filter_by`) and rank them, and
    store them with the evidence of the suggested and the given class; also the health summary.
    overlap: class pairs the labels and the model confuse. decisions: curators' decisions the model
    strongly contradicts. duplicates, outliers: from the cached global features only (no model).
    With no `checks` given, label checks are skipped (and said so) when nothing is labelled.
    """
    from workflows import audit_findings as findings

    explicit = checks is not None
    todo = parse_checks(checks)
    if ranking not in RANKINGS:
        raise UserError(f"unknown ranking '{ranking}' (one of: {', '.join(RANKINGS)})")
    if filter_by not in FILTERS:
        raise UserError(f"unknown filter '{filter_by}' (one of: {', '.join(FILTERS)})")
    dup_thr = None
    if "duplicates" in todo:
        from workflows.duplicates import DEFAULT_THRESHOLD, check_threshold

        dup_thr = check_threshold(DEFAULT_THRESHOLD if duplicate_threshold is None else duplicate_threshold)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    skipped: dict[str, str] = {}
    counts: dict[str, int] = {}
    res = AuditResult(None, 0, 0, 0, float("nan"), ranking, checks=todo, filter_by=filter_by)

    probs_state = None
    if _NEED_PROBS & set(todo):
        probs_state = yield from _score_for_labels(project, todo, explicit, temperature, settings, cancel, skipped)
        timings["score_s"] = time.perf_counter() - t0
    has_labels = probs_state is not None and probs_state["labelled_rows"].numel() > 0
    kind = "audit" if "labels" in todo and has_labels else "audit-data"
    ctx = probs_state["ctx"] if probs_state else None
    run_id = project.create_run(
        kind=kind,
        model_id=ctx.model_id if ctx else _model_id(project, settings),
        engine_config={
            **(ctx.config_dict() if ctx else {}),
            "checks": list(todo),
            "filter_by": filter_by,
            "ranking": ranking,
            "temperature": probs_state["temperature"] if probs_state else None,
            "duplicate_threshold": dup_thr,
        },
        attribute_set_version=ctx.attribute_set_version if ctx else project.attribute_set_version(),
        n_images=len(probs_state["scored_ids"]) if probs_state else 0,
    )
    res.run_id = run_id
    try:
        if probs_state is not None:
            res.temperature = probs_state["temperature"]
            res.missing_features = probs_state["missing"]
            if "labels" in todo and has_labels:
                t = time.perf_counter()
                yield from _label_issues(project, run_id, probs_state, filter_by, ranking, res, timings, cancel)
                timings["labels_s"] = time.perf_counter() - t - timings.get("explain_s", 0.0)
                counts["labels"] = res.n_flagged
                counts["health"] = len(probs_state.get("health_classes", []))
            if "overlap" in todo and has_labels:
                t = time.perf_counter()
                from workflows.label_health import overlapping_classes

                lab, pr, cids = probs_state["labels_np"], probs_state["probs_np"], ctx.class_ids
                pairs = overlapping_classes(lab, pr, cids)
                findings.save_findings(project, "overlap", run_id, {"pairs": pairs})
                counts["overlap"] = len(pairs)
                timings["overlap_s"] = time.perf_counter() - t
            if "decisions" in todo:
                t = time.perf_counter()
                from workflows.second_opinion import second_opinion

                items = second_opinion(project, probs_state)
                findings.save_findings(project, "decisions", run_id, {
                    "n_decided": len(probs_state["decided"]), "strong": _strong(), "items": items})
                counts["decisions"] = len(items)
                timings["decisions_s"] = time.perf_counter() - t
        if {"duplicates", "outliers"} & set(todo):
            yield from _dataset_checks(project, run_id, todo, dup_thr, settings, ctx, counts, timings, cancel)
    except BaseException as err:
        _fail_run(project, run_id, err)
        raise
    timings["total_s"] = time.perf_counter() - t0
    res.timings, res.skipped, res.counts = timings, skipped, counts
    res.message = _message(res)
    project.update_run(run_id, status="done", timings=timings, message=res.message, finished=True)
    yield Progress(1, 1, res.message, stage="done")
    return res


def _strong() -> float:
    from workflows.second_opinion import STRONG

    return STRONG


def _model_id(project: Any, settings: Any) -> str:
    from workflows.neighbours import feature_cache

    return feature_cache(project, settings).model_id


def _score_for_labels(
    project: Any, todo: tuple[str, ...], explicit: bool, temperature: float | None, settings: Any,
    cancel: CancelToken | None, skipped: dict[str, str],
) -> Generator[Progress, None, dict[str, Any] | None]:
    """Calibrated probabilities of every labelled and every decided image (None: nothing to score)."""
    from workflows.scoring import ScoringContext

    ctx = ScoringContext.from_project(project, settings)
    index = ctx.class_index
    labelled = {i: c for i, c in project.imported_label_ids().items() if c in index}
    decided = _decided_labels(project, index) if "decisions" in todo else {}
    if not labelled:
        why = "no imported labels of active classes to audit (import labels first)"
        wanted = [c for c in ("labels", "overlap") if c in todo]
        if explicit and wanted:
            raise UserError(why)
        skipped.update({c: "no imported labels" for c in wanted})
    if not labelled and not decided:
        if "decisions" in todo:
            skipped["decisions"] = "no decided labels"
        return None
    ids = sorted(set(labelled) | set(decided))
    yield Progress(0, len(ids), "scoring labelled images", stage="score")
    scored_ids, all_scores, missing = yield from ctx.score_all(project, ids, cancel=cancel, stage="score")
    check(cancel)
    if not scored_ids:
        raise UserError(
            f"none of the {len(ids)} labelled images has cached features for {ctx.model_id}; run pre-label first"
        )
    pos = {iid: p for p, iid in enumerate(scored_ids)}
    lab_ids = [i for i in scored_ids if i in labelled]
    lab_rows = torch.tensor([pos[i] for i in lab_ids], dtype=torch.long)
    lab = torch.tensor([index[labelled[i]] for i in lab_ids], dtype=torch.long)
    dec_ids = [i for i in scored_ids if i in decided]
    dec_rows = torch.tensor([pos[i] for i in dec_ids], dtype=torch.long)
    dec = torch.tensor([index[decided[i]] for i in dec_ids], dtype=torch.long)
    if temperature is not None:
        temp = float(temperature)
    elif len(lab_ids):
        temp = calibrate_temperature(all_scores[lab_rows], lab)
    else:
        temp = calibrate_temperature(all_scores[dec_rows], dec)
    probs = torch.softmax(all_scores.double() / temp, dim=1)
    return {
        "ctx": ctx, "temperature": temp, "missing": [i for i in missing if i in labelled],
        "scored_ids": scored_ids, "probs": probs,
        "labelled_ids": lab_ids, "labelled_rows": lab_rows, "labels": lab,
        "labels_np": lab.numpy(), "probs_np": probs[lab_rows].numpy() if len(lab_ids) else None,
        "decided": {i: decided[i] for i in dec_ids}, "decided_rows": dec_rows, "decided_labels": dec,
    }


def _label_issues(
    project: Any, run_id: int, st: dict[str, Any], filter_by: str, ranking: str, res: AuditResult,
    timings: dict[str, float], cancel: CancelToken | None,
) -> Generator[Progress, None, None]:
    from workflows import audit_findings as findings
    from workflows.label_health import health_summary

    ctx = st["ctx"]
    ids, labels = st["labelled_ids"], st["labels"]
    probs = st["probs"][st["labelled_rows"]]
    issues = find_label_issues(probs, labels, filter_by=filter_by, ranking=ranking)
    health = health_summary(st["labels_np"], st["probs_np"], ctx.class_ids)
    st["health_classes"] = health["classes"]
    findings.save_findings(project, "health", run_id, {**health, "filter_by": filter_by})
    res.health = health["overall"]
    yield Progress(len(ids), len(ids), "explaining flagged images", stage="explain")
    cids = ctx.class_ids
    given = [cids[c] for c in labels.tolist()]
    suggested = [cids[c] for c in issues.suggested.tolist()]
    flags, p_given, scores = issues.flagged.tolist(), issues.p_given.tolist(), issues.issue_score.tolist()
    t = time.perf_counter()
    top = sorted((p for p in range(len(ids)) if flags[p]), key=lambda p: -scores[p])[:EXPLAIN_TOP]
    pairs = {ids[p]: (suggested[p], given[p]) for p in top}
    expl = yield from ctx.explain_pairs(project, pairs, cancel=cancel, stage="explain")
    timings["explain_s"] = time.perf_counter() - t
    rows = [
        LabelIssueWrite(iid, given[p], suggested[p], p_given[p], scores[p], flags[p], expl.get(iid))
        for p, iid in enumerate(ids)
    ]
    project.write_label_issues(run_id, rows)
    res.n_labelled = len(ids) + len(st["missing"])
    res.n_scored = len(ids)
    res.n_flagged = sum(flags)


def _dataset_checks(
    project: Any, run_id: int, todo: tuple[str, ...], dup_thr: float | None, settings: Any, ctx: Any,
    counts: dict[str, int], timings: dict[str, float], cancel: CancelToken | None,
) -> Generator[Progress, None, None]:
    from workflows import audit_findings as findings
    from workflows.duplicates import K_CANDIDATES, find_duplicates
    from workflows.neighbours import cached_features, neighbour_pass
    from workflows.outliers import K_NEIGHBOURS, find_outliers

    t = time.perf_counter()
    yield Progress(0, 1, "reading cached image features", stage="features")
    feats = cached_features(project, ctx.settings if ctx else settings)
    check(cancel)
    timings["features_s"] = time.perf_counter() - t
    t = time.perf_counter()
    yield Progress(0, 1, f"comparing {len(feats.image_ids)} images", stage="neighbours")
    k = max(K_CANDIDATES if "duplicates" in todo else 0, K_NEIGHBOURS if "outliers" in todo else 0)
    npass = neighbour_pass(feats.features, k=k)
    check(cancel)
    timings["neighbours_s"] = time.perf_counter() - t
    base = {"n_images": len(feats.image_ids), "n_without_features": len(feats.missing)}
    if "duplicates" in todo:
        t = time.perf_counter()
        yield Progress(0, 1, "comparing candidate duplicates region by region", stage="duplicates")
        groups, stats = find_duplicates(feats, dup_thr, npass)
        findings.save_findings(project, "duplicates", run_id, {
            **base, **stats, "threshold": dup_thr, "groups": [g.to_json() for g in groups]})
        counts["duplicates"] = len(groups)
        timings["duplicates_s"] = time.perf_counter() - t
    if "outliers" in todo:
        t = time.perf_counter()
        items, thresholds = find_outliers(feats, npass, k=K_NEIGHBOURS)
        findings.save_findings(project, "outliers", run_id, {
            **base, "k": K_NEIGHBOURS, "thresholds": thresholds, "items": [o.to_json() for o in items]})
        counts["outliers"] = sum(1 for o in items if o.flagged)
        timings["outliers_s"] = time.perf_counter() - t


def _message(res: AuditResult) -> str:
    parts = []
    if "labels" in res.counts:
        parts.append(f"{res.n_flagged} of {res.n_scored} labelled images flagged "
                     f"({res.filter_by}, T={res.temperature:.4g}; label health {res.health:.2f})")
    names = {"duplicates": "duplicate groups", "outliers": "outliers",
             "overlap": "overlapping class pairs", "decisions": "decisions to look at again"}
    parts += [f"{res.counts[c]} {label}" for c, label in names.items() if c in res.counts]
    msg = "; ".join(parts) or "nothing checked"
    if res.missing_features:
        msg += f"; {len(res.missing_features)} without cached features skipped (run pre-label)"
    if res.skipped:
        msg += "; skipped: " + ", ".join(f"{c} ({why})" for c, why in res.skipped.items())
    return msg
