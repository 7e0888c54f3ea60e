"""Bulk acceptance the tool can vouch for (issue #21): audit sample -> proposed threshold -> accept.

1. `draw_audit_sample`: a uniform random draw (seeded; the seed is recorded, fresh from the OS
   unless given) of the images still to decide. The review queue serves it (order `audit_sample`).
2. The curator decides the sample's images like any others.
3. `propose`: from the audited decisions, thresholds with a finite-sample guarantee
   (`engine.guarantee`: Learn-then-Test, Clopper–Pearson) and how many images they would accept.
   `with_overrides` applies a curator's own thresholds (then shown as a bound, not a guarantee).
4. `accept_vouched`: accepts them in one transaction with a `vouch` record (target, bound, the
   sample's images and decisions, the run); the decisions point at it, exports carry its statement.

A sample vouches for one acceptance only, and only for the predictions it was drawn under: after a
re-score or a learning run (which may have learned from the sample itself) a new sample is needed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from db.store_review import ReviewError
from engine.guarantee import Proposal, bound_at, min_sample
from engine.guarantee import propose as _propose
from workflows.errors import UserError
from workflows.settings import load_settings

AUDIT_ORDER = "audit_sample"
# review statuses whose label can be compared with the prediction; others in the sample count as
# errors (uncertain: the curator could not confirm it; rejected: none of the classes)
_LABELLED = ("accepted", "corrected")

__all__ = [
    "AUDIT_ORDER",
    "AuditSample",
    "ClassRow",
    "VouchProposal",
    "accept_vouched",
    "audit_queue",
    "draw_audit_sample",
    "latest_sample",
    "propose",
    "statement",
    "with_overrides",
]


@dataclass(frozen=True)
class AuditSample:
    """A recorded audit draw and how far the curator got with it."""

    id: int
    seed: int
    n_pool: int
    image_ids: list[int]  # in draw order (the order the review queue serves them)
    pending: list[int]  # not decided yet
    changed: list[int]  # predictions changed since the draw (re-score, learning)
    vouched_by: int | None  # the vouch record that already used this sample

    @property
    def n_decided(self) -> int:
        return len(self.image_ids) - len(self.pending)


@dataclass(frozen=True)
class ClassRow:
    """One line of the per-class table."""

    class_id: int
    name: str
    threshold: float | None
    own: bool  # its own family (else it shares the pooled one)
    n_audited: int  # audited images in its family
    n_errors: int  # ... whose prediction was wrong
    bound: float  # Clopper-Pearson lower bound on precision of its family at its threshold
    n_accept: int  # images of this class the thresholds accept
    overridden: bool = False


@dataclass
class VouchProposal:
    """Thresholds, their certificates and the images they would accept."""

    sample: AuditSample
    target: float
    confidence: float
    proposal: Proposal
    thresholds: dict[int, float | None]
    rows: list[ClassRow]
    accept_ids: list[int]  # unreviewed images that would be accepted
    expected: dict[int, tuple[int, float]]  # image id -> (class, score) the proposal saw
    sample_decision_ids: list[int]
    run_id: int | None
    n_errors: int
    bound: float  # smallest family bound (every family reaches the target when not overridden)
    n_pool: int  # unreviewed predicted images now
    overridden: bool = False
    notes: list[str] = field(default_factory=list)
    _pool: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def n_accept(self) -> int:
        return len(self.accept_ids)

    @property
    def vouched(self) -> bool:
        """True when the accepted set carries the guarantee (no curator override)."""
        return not self.overridden and bool(self.accept_ids)

    def summary(self) -> str:
        """One line: what is accepted under which bound."""
        if not self.accept_ids:
            return (f"no threshold reaches {self.target:.1%} precision at {self.confidence:.0%} confidence "
                    f"from {self.sample_size} audited images ({self.n_errors} wrong)")
        kind = "curator's thresholds, not a guarantee" if self.overridden else "guaranteed"
        return (f"{self.n_accept} of {self.n_pool} images at precision >= {self.target:.1%} "
                f"({kind}; Clopper-Pearson lower bound {self.bound:.1%} at {self.confidence:.0%} confidence) "
                f"from {self.sample_size} audited images, {self.n_errors} wrong")

    @property
    def sample_size(self) -> int:
        return len(self.sample.image_ids)


def _reviewer(project: Any, reviewer: str | None) -> str:
    return reviewer or load_settings(project).effective_reviewer


def draw_audit_sample(project: Any, size: int, *, seed: int | None = None, reviewer: str | None = None) -> AuditSample:
    """Draw `size` images uniformly at random from the unreviewed predicted ones and record the draw."""
    if size < 1:
        raise UserError(f"an audit sample needs at least one image, not {size}")
    pool = project.decision_pool()
    if not pool:
        raise UserError("nothing to audit: no unreviewed image has a prediction (run pre-label first)")
    if seed is None:
        seed = secrets.randbits(48)  # really random, recorded so the draw can be reproduced
    rng = np.random.default_rng(int(seed))
    pick = rng.choice(len(pool), size=min(int(size), len(pool)), replace=False)
    items = [[pool[i].image_id, pool[i].run_id, pool[i].class_id, pool[i].score] for i in pick]
    sid = project.add_audit_sample(int(seed), len(pool), items, reviewer=_reviewer(project, reviewer))
    s = latest_sample(project, sid)
    assert s is not None
    return s


def latest_sample(project: Any, sample_id: int | None = None) -> AuditSample | None:
    """The newest audit sample (or one by id) with its progress; None when there is none."""
    row = project.audit_sample(sample_id)
    if row is None:
        if sample_id is not None:
            raise UserError(f"no audit sample #{sample_id}")
        return None
    ids = [int(x[0]) for x in row.items]
    states = project.review_states(ids)
    pending = [i for i in ids if states.get(i, ("unreviewed",))[0] == "unreviewed"]
    changed = [
        int(x[0]) for x in row.items
        if int(x[0]) in states and (states[int(x[0])][2] != x[2] or states[int(x[0])][3] != x[1])
    ]
    used = [v["id"] for v in project.vouches() if v["sample_id"] == row.id]
    return AuditSample(row.id, row.seed, row.n_pool, ids, pending, changed, used[0] if used else None)


def audit_queue(project: Any, sample_id: int | None = None) -> list[int]:
    """The audit sample's images still to decide, in draw order (the review queue's `audit_sample`)."""
    s = latest_sample(project, sample_id)
    return [] if s is None else list(s.pending)


def _usable(s: AuditSample | None) -> AuditSample:
    if s is None:
        raise UserError("no audit sample yet: draw one first (lazlabel review --sample 200)")
    if s.vouched_by is not None:
        raise UserError(f"audit sample #{s.id} already vouched for acceptance #{s.vouched_by}: draw a new one "
                        "(lazlabel review --sample N)")
    if s.pending:
        raise UserError(f"{len(s.pending)} of {len(s.image_ids)} images of audit sample #{s.id} are not decided "
                        "yet: review them first (lazlabel review --order audit_sample)")
    if s.changed:
        raise UserError(f"the predictions of {len(s.changed)} audited image(s) changed since sample #{s.id} was "
                        "drawn (re-score or learning): draw a new sample (lazlabel review --sample N)")
    return s


def propose(
    project: Any,
    target: float,
    confidence: float = 0.95,
    *,
    per_class: bool | None = None,
    sample_id: int | None = None,
) -> VouchProposal:
    """Thresholds that accept as many unreviewed predictions as the audit sample can vouch for."""
    if not 0.5 <= target < 1.0:
        raise UserError(f"the target precision must be at least 0.5 and below 1 (e.g. 0.98), not {target:g}")
    if not 0.5 <= confidence < 1.0:
        raise UserError(f"the confidence must be at least 0.5 and below 1 (e.g. 0.95), not {confidence:g}")
    s = _usable(latest_sample(project, sample_id))
    row = project.audit_sample(s.id)
    drawn = {int(x[0]): (int(x[2]), float(x[3]), x[1]) for x in row.items}
    states = project.review_states(s.image_ids)
    correct = np.array(
        [states[i][0] in _LABELLED and states[i][1] == drawn[i][0] for i in s.image_ids], dtype=bool
    )
    pool = project.decision_pool()
    sample_set = set(s.image_ids)
    pool = [p for p in pool if p.image_id not in sample_set]
    scores = np.array([p.score for p in pool] + [drawn[i][1] for i in s.image_ids], dtype=np.float64)
    classes = np.array([p.class_id for p in pool] + [drawn[i][0] for i in s.image_ids], dtype=np.int64)
    ids = np.array([p.image_id for p in pool] + s.image_ids, dtype=np.int64)
    sample_idx = np.arange(len(pool), len(pool) + len(s.image_ids))
    prop = _propose(scores, classes, sample_idx, correct, target=target, confidence=confidence, per_class=per_class)
    runs = [p.run_id for p in pool if p.run_id is not None]
    vp = VouchProposal(
        sample=s, target=target, confidence=confidence, proposal=prop, thresholds=dict(prop.thresholds), rows=[],
        accept_ids=[], expected={p.image_id: (p.class_id, p.score) for p in pool},
        sample_decision_ids=[int(states[i][4]) for i in s.image_ids if states[i][4] is not None],
        run_id=max(runs) if runs else None, n_errors=int((~correct).sum()), bound=0.0, n_pool=len(pool),
        _pool={"scores": scores, "classes": classes, "ids": ids, "sample": sample_idx, "correct": correct},
    )
    if len(s.image_ids) < prop.n_needed:
        vp.notes.append(
            f"{len(s.image_ids)} audited images cannot certify {target:.1%} at {confidence:.0%} confidence even "
            f"with no error: at least {prop.n_needed} are needed"
        )
    _fill(project, vp, overrides=None)
    return vp


def with_overrides(project: Any, vp: VouchProposal, overrides: dict[int, float | None]) -> VouchProposal:
    """The same proposal with some classes' thresholds set by the curator (None: accept none of that
    class). Their bound is recomputed at the chosen thresholds; the acceptance is then recorded as
    overridden (a threshold picked after seeing the sample is not covered by the guarantee)."""
    out = VouchProposal(**{**vp.__dict__, "rows": [], "notes": list(vp.notes)})
    out.thresholds = {**vp.proposal.thresholds, **{int(k): v for k, v in overrides.items()}}
    _fill(project, out, overrides={int(k) for k in overrides})
    return out


def _fill(project: Any, vp: VouchProposal, overrides: set[int] | None) -> None:
    """Accepted ids, per-class rows and the bound from `vp.thresholds`."""
    p = vp._pool
    scores, classes, ids, sample = p["scores"], p["classes"], p["ids"], p["sample"]
    changed = bool(overrides) and any(vp.thresholds.get(c) != vp.proposal.thresholds.get(c) for c in overrides or ())
    t = np.array([np.inf if vp.thresholds.get(int(c)) is None else vp.thresholds[int(c)] for c in classes])
    acc = scores >= t
    acc[sample] = False
    vp.accept_ids = [int(i) for i in ids[acc]]
    vp.overridden = changed
    names = project.class_names_by_id()
    fam_of = {c: f for f in vp.proposal.families for c in f.classes}
    rows = []
    for cid in sorted(fam_of, key=lambda c: list(names).index(c) if c in names else 10**9):
        fam = fam_of[cid]
        own = len(fam.classes) == 1 and vp.proposal.mode == "per-class"
        over = changed and cid in (overrides or ()) and vp.thresholds.get(cid) != vp.proposal.thresholds.get(cid)
        if over:
            n, k, b = bound_at(scores, classes, sample, p["correct"], {cid: vp.thresholds.get(cid)}, vp.confidence)
        else:
            n, k, b = fam.n_above, fam.n_errors, fam.precision_bound
        rows.append(ClassRow(cid, names.get(cid, f"#{cid}"), vp.thresholds.get(cid), own, n, k, b,
                             int((acc & (classes == cid)).sum()), over))
    vp.rows = rows
    if changed:
        n, k, b = bound_at(scores, classes, sample, p["correct"], vp.thresholds, vp.confidence)
        vp.bound = b
    else:
        bounds = [f.precision_bound for f in vp.proposal.families if f.threshold is not None]
        vp.bound = min(bounds) if bounds else 0.0


def statement(n_accepted: int, target: float, confidence: float, n_sample: int, *, overridden: bool = False,
              bound: float | None = None) -> str:
    """The one line a dataset card carries."""
    if overridden:
        return (f"{n_accepted} labels accepted at curator-set thresholds (precision lower bound {bound or 0:.1%} "
                f"at {confidence:.0%} confidence from {n_sample} audited images; not vouched for)")
    return (f"{n_accepted} labels accepted under a {target:.0%} precision bound at {confidence:.0%} confidence "
            f"from {n_sample} audited images (Learn-then-Test, Clopper-Pearson)")


@dataclass(frozen=True)
class VouchResult:
    vouch_id: int
    n_accepted: int
    statement: str


def accept_vouched(
    project: Any, vp: VouchProposal, *, reviewer: str | None = None, keys: int = 0, clicks: int = 0,
    commands: int = 0,
) -> VouchResult:
    """Accept what the proposal accepts, with its vouch record, in one transaction."""
    if not vp.accept_ids:
        raise UserError(vp.summary())
    text = statement(vp.n_accept, vp.target, vp.confidence, vp.sample_size, overridden=vp.overridden, bound=vp.bound)
    record = {
        "sample_id": vp.sample.id,
        "run_id": vp.run_id,
        "target": float(vp.target),
        "confidence": float(vp.confidence),
        "method": vp.proposal.method,
        "mode": vp.proposal.mode,
        "thresholds": {str(k): v for k, v in vp.thresholds.items()},
        "families": [
            {"classes": list(f.classes), "delta": f.delta, "n_pool": f.n_pool, "n_sample": f.n_sample,
             "threshold": f.threshold, "n_above": f.n_above, "n_errors": f.n_errors,
             "precision_bound": f.precision_bound}
            for f in vp.proposal.families
        ],
        "sample_image_ids": list(vp.sample.image_ids),
        "sample_decision_ids": list(vp.sample_decision_ids),
        "n_sample": vp.sample_size,
        "n_errors": vp.n_errors,
        "precision_bound": float(vp.bound),
        "overridden": bool(vp.overridden),
        "statement": text,
    }
    expected = {i: vp.expected[i] for i in vp.accept_ids}
    try:
        vid, n = project.accept_vouched(vp.accept_ids, record, expected=expected, reviewer=_reviewer(project, reviewer),
                                        keys=keys, clicks=clicks, commands=commands)
    except ReviewError as err:
        raise UserError(str(err)) from err
    return VouchResult(vid, n, text)


def minimum_sample(target: float, confidence: float = 0.95) -> int:
    """Fewest audited images that could vouch for `target` (all of them right)."""
    return min_sample(target, 1.0 - confidence)


def export_vouches(project: Any, image_ids: list[int]) -> list[dict[str, Any]]:
    """For an export: each vouch record behind some of `image_ids`' labels, with the line a dataset
    card carries (counting only the exported images)."""
    by_vouch: dict[int, int] = {}
    for v in project.vouch_ids_of_images(image_ids).values():
        by_vouch[v] = by_vouch.get(v, 0) + 1
    if not by_vouch:
        return []
    out = []
    for v in project.vouches():
        n = by_vouch.get(int(v["id"]))
        if not n:
            continue
        out.append({
            "vouch": int(v["id"]), "images": n, "target": v["target"], "confidence": v["confidence"],
            "precision_bound": v["precision_bound"], "n_sample": v["n_sample"], "method": v["method"],
            "mode": v["mode"], "overridden": bool(v["overridden"]), "run_id": v["run_id"],
            "sample_image_ids": v["sample_image_ids"], "created_at": str(v["created_at"]),
            "statement": statement(n, v["target"], v["confidence"], v["n_sample"], overridden=bool(v["overridden"]),
                                   bound=v["precision_bound"]),
        })
    return out
