"""Audit of imported labels: which given labels are probably wrong, and why the model disagrees.

Zero-shot scores of ALL classes (re-scored from the feature cache) become class probabilities by a
temperature-calibrated softmax; the temperature minimises the NLL of the imported labels (a 1-D
golden-section search on log T). Confident learning (the idea behind cleanlab's
`find_label_issues`): class j's threshold t_j is the mean p_j over images labelled j; an image
labelled y is flagged when some other class k has p_k >= t_k and p_k > p_y. Images are ranked by
self-confidence (1 - p_y) or by normalised margin ((1 - (p_y - max_{k!=y} p_k)) / 2).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import torch

from db.store_review import AuditRow, LabelIssueWrite
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, Progress, check

__all__ = [
    "AuditResult",
    "AuditRow",
    "RANKINGS",
    "audit_report",
    "calibrate_temperature",
    "find_label_issues",
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


def _self_confidence(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return 1.0 - probs.gather(1, labels[:, None])[:, 0]


def _normalized_margin(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    p_given = probs.gather(1, labels[:, None])[:, 0]
    others = probs.scatter(1, labels[:, None], float("-inf"))
    return (1.0 - (p_given - others.max(dim=1).values)) / 2.0


#: ranking name -> issue score (higher = more likely wrong)
RANKINGS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "self_confidence": _self_confidence,
    "normalized_margin": _normalized_margin,
}


@dataclass(frozen=True)
class LabelIssues:
    """Per-image audit outcome (tensors of length n)."""

    flagged: torch.Tensor  # bool
    suggested: torch.Tensor  # class index the model prefers over the given one
    p_given: torch.Tensor
    issue_score: torch.Tensor
    thresholds: torch.Tensor  # (C,) per-class t_j (inf where no image carries label j)


def find_label_issues(
    probs: torch.Tensor, labels: torch.Tensor, *, ranking: str = "self_confidence"
) -> LabelIssues:
    """Confident-learning flags over an (n, C) probability matrix and the given labels (n,)."""
    if ranking not in RANKINGS:
        raise ValueError(f"unknown ranking '{ranking}' (one of: {', '.join(RANKINGS)})")
    n, c = probs.shape
    y = labels.long()
    onehot = torch.nn.functional.one_hot(y, c).to(probs.dtype)
    per_class = onehot.sum(0)
    thresholds = torch.where(
        per_class > 0, (probs * onehot).sum(0) / per_class.clamp(min=1), torch.full_like(per_class, math.inf)
    )
    p_given = probs.gather(1, y[:, None])[:, 0]
    confident = (probs >= thresholds[None, :]) & (probs > p_given[:, None])
    confident &= ~onehot.bool()
    flagged = confident.any(dim=1)
    others = probs.masked_fill(onehot.bool(), float("-inf"))
    # flagged: the most probable confident class; otherwise the most probable other class
    suggested = torch.where(
        flagged, probs.masked_fill(~confident, float("-inf")).argmax(dim=1), others.argmax(dim=1)
    )
    return LabelIssues(flagged, suggested, p_given, RANKINGS[ranking](probs, y), thresholds)


# --- the use case ------------------------------------------------------------------------------


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


def audit_report(project: Any, limit: int | None = 100, *, flagged_only: bool = False) -> list[AuditRow]:
    """The newest audit's rows, flagged first, most suspicious first."""
    return project.label_issues(limit=limit, flagged_only=flagged_only)


def run_audit(
    project: Any,
    *,
    temperature: float | None = None,
    ranking: str = "self_confidence",
    settings: Any = None,
    cancel: CancelToken | None = None,
) -> Generator[Progress, None, AuditResult]:
    """Score every labelled image against all active classes from cached features, calibrate,
    flag likely label errors and store them (with explanations of suggested vs given class)."""
    from workflows.scoring import ScoringContext

    if ranking not in RANKINGS:
        raise UserError(f"unknown ranking '{ranking}' (one of: {', '.join(RANKINGS)})")
    t0 = time.perf_counter()
    ctx = ScoringContext.from_project(project, settings)
    labelled = project.imported_label_ids()  # image id -> class id (active classes only)
    index = ctx.class_index
    labelled = {i: c for i, c in labelled.items() if c in index}
    if not labelled:
        raise UserError("no imported labels of active classes to audit (import labels first)")
    yield Progress(0, len(labelled), "scoring labelled images", stage="score")
    ids = sorted(labelled)
    scored_ids, all_scores, missing = yield from ctx.score_all(project, ids, cancel=cancel, stage="score")
    check(cancel)
    if not scored_ids:
        raise UserError(
            f"none of the {len(ids)} labelled images has cached features for {ctx.model_id}; run pre-label first"
        )
    t_score = time.perf_counter()
    labels = torch.tensor([index[labelled[i]] for i in scored_ids], dtype=torch.long)
    temp = float(temperature) if temperature is not None else calibrate_temperature(all_scores, labels)
    probs = torch.softmax(all_scores.double() / temp, dim=1)
    issues = find_label_issues(probs, labels, ranking=ranking)
    yield Progress(len(scored_ids), len(labelled), "explaining flagged images", stage="explain")
    run_id = project.create_run(
        kind="audit",
        model_id=ctx.model_id,
        engine_config={**ctx.config_dict(), "temperature": temp, "ranking": ranking},
        attribute_set_version=ctx.attribute_set_version,
        n_images=len(ids),
    )
    try:
        cids = ctx.class_ids
        given = [cids[c] for c in labels.tolist()]
        suggested = [cids[c] for c in issues.suggested.tolist()]
        flags, p_given, scores = issues.flagged.tolist(), issues.p_given.tolist(), issues.issue_score.tolist()
        pairs = {iid: (suggested[p], given[p]) for p, iid in enumerate(scored_ids) if flags[p]}
        expl = yield from ctx.explain_pairs(project, pairs, cancel=cancel, stage="explain")
        rows = [
            LabelIssueWrite(iid, given[p], suggested[p], p_given[p], scores[p], flags[p], expl.get(iid))
            for p, iid in enumerate(scored_ids)
        ]
        project.write_label_issues(run_id, rows)
    except BaseException as err:
        stopped = isinstance(err, (Cancelled, GeneratorExit, KeyboardInterrupt))
        project.update_run(
            run_id, status="cancelled" if stopped else "failed", message=f"{type(err).__name__}: {err}"
        )
        raise
    timings = {"score_s": t_score - t0, "total_s": time.perf_counter() - t0}
    n_flagged = sum(flags)
    msg = f"{n_flagged} of {len(scored_ids)} labelled images flagged (T={temp:.4g})"
    if missing:
        msg += f"; {len(missing)} without cached features skipped (run pre-label)"
    project.update_run(run_id, status="done", timings=timings, message=msg, finished=True)
    yield Progress(len(scored_ids), len(labelled), msg, stage="done")
    return AuditResult(
        run_id=run_id,
        n_labelled=len(labelled),
        n_scored=len(scored_ids),
        n_flagged=n_flagged,
        temperature=temp,
        ranking=ranking,
        missing_features=missing,
        timings=timings,
        message=msg,
    )
