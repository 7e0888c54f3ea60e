"""A score threshold the tool can vouch for: Learn-then-Test over a fixed grid, Clopper–Pearson tests.

The curator states a target precision (e.g. 0.98) and a confidence (e.g. 0.95) and labels a uniform
random audit sample of the images still to decide (the *pool*). For every candidate threshold t the
null hypothesis is "the pool's predictions scoring >= t are wrong more often than 1 - target". The
candidates are pool-score quantiles (accept the top 0.5%, 1%, ... of the pool), fixed before any
label is seen, tested from the most to the least selective with the exact one-sided binomial
(Clopper–Pearson) test at level delta = 1 - confidence, stopping at the first one not rejected
(fixed-sequence testing: family-wise error <= delta, Angelopoulos et al., "Learn then Test", 2021).
The lowest rejected threshold is proposed: with probability >= confidence over the audit draw, the
predictions it accepts are right at least `target` of the time. The score only orders the pool;
the guarantee comes from the audited labels alone.

Per-class thresholds: classes whose audit share is large enough to certify on their own (decided
from counts of *predicted* classes, never from the labels) get their own family; the other classes
share one pooled family ("fall back to global"). The error budget delta is split evenly (Bonferroni)
over the families, so the union of the accepted sets keeps the target with the same confidence.

numpy + scipy only: the workflows layer feeds it arrays, the simulation (`simulate`) checks it.
Why this method and not conformal risk control: docs/architecture.md, "Bulk acceptance with a guarantee".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import beta

#: candidate grid: accept the top GRID_STEP, 2*GRID_STEP, ... of each family's pool
GRID_STEP = 0.005
#: fixed-sequence chains start where the expected audited count above the threshold is these
#: multiples of the smallest sample that could certify with no error (delta split over the chains)
START_FACTORS = (1.0, 2.0)
#: a class gets its own threshold when its audit share holds RICH_FACTOR x the smallest sample that
#: could certify the target with no error at all (else it shares the pooled family)
RICH_FACTOR = 2.0


def cp_upper(errors: int, n: int, delta: float) -> float:
    """One-sided Clopper–Pearson upper bound on an error rate (level 1 - delta); 1.0 when n == 0."""
    if n <= 0 or errors >= n:
        return 1.0
    return float(beta.ppf(1.0 - delta, errors + 1, n - errors))


def _cp_upper_many(errors: np.ndarray, n: np.ndarray, delta: float) -> np.ndarray:
    """`cp_upper` over arrays (one scipy call)."""
    ok = n > errors
    out = np.ones(n.shape, dtype=np.float64)
    if ok.any():
        out[ok] = beta.ppf(1.0 - delta, errors[ok] + 1, n[ok] - errors[ok])
    return out


def min_sample(target: float, delta: float) -> int:
    """Fewest audited images (all right) that can certify precision >= target at level delta:
    the smallest n with target**n <= delta."""
    if not 0.0 < target < 1.0 or not 0.0 < delta < 1.0:
        raise ValueError("target and delta must be in (0, 1)")
    return math.ceil(math.log(delta) / math.log(target))


@dataclass(frozen=True)
class FamilyCertificate:
    """The outcome of one family's fixed-sequence test."""

    classes: tuple[int, ...]  # the predicted classes this threshold applies to
    delta: float  # error budget spent on this family
    n_pool: int  # pool images predicted as these classes
    n_sample: int  # audited images among them
    threshold: float | None  # lowest certified threshold; None: nothing could be vouched for
    n_above: int = 0  # audited images at or above the threshold
    n_errors: int = 0  # ... whose prediction was wrong
    precision_bound: float = 0.0  # Clopper-Pearson lower bound on precision at the threshold
    n_accept: int = 0  # pool images at or above the threshold


@dataclass(frozen=True)
class Proposal:
    """Thresholds per predicted class with their certificates; `accept` marks the pool images."""

    target: float
    confidence: float
    method: str  # "ltt-clopper-pearson"
    mode: str  # "global" or "per-class"
    families: list[FamilyCertificate]
    thresholds: dict[int, float | None]  # class id -> threshold (None: not accepted)
    accept: np.ndarray = field(repr=False)  # bool mask over the pool
    n_sample: int = 0
    n_needed: int = 0  # smallest all-correct audit share that could certify the target at all

    @property
    def n_accept(self) -> int:
        return int(self.accept.sum())


def _chain(
    cand: np.ndarray, n_above: np.ndarray, k: np.ndarray, start: int, target: float, delta: float
) -> int | None:
    """Fixed-sequence test from candidate `start` on (strictest first): index of the last rejected null."""
    ucb = _cp_upper_many(k[start:], n_above[start:], delta)
    passed = ucb <= 1.0 - target
    stop = int(np.argmin(passed)) if not passed.all() else passed.size
    return start + stop - 1 if stop > 0 else None


def _family(
    scores: np.ndarray, sample: np.ndarray, wrong: np.ndarray, target: float, delta: float,
    classes: tuple[int, ...],
) -> tuple[FamilyCertificate, float | None]:
    """One family: START_FACTORS chains of fixed-sequence tests at delta / len(START_FACTORS) each
    (Bonferroni), the lowest threshold any chain reaches. `sample` indexes `scores`; `wrong` is per
    sample item. Every choice (grid, starts) depends on the pool and the sample size only."""
    n_pool, n_s = int(scores.size), int(sample.size)
    if n_pool == 0 or n_s == 0:
        return FamilyCertificate(classes, delta, n_pool, n_s, None), None
    d = delta / len(START_FACTORS)
    fracs = np.arange(GRID_STEP, 1.0 + 1e-9, GRID_STEP)
    order = np.sort(scores)[::-1]
    cand = order[np.minimum(np.ceil(fracs * n_pool).astype(np.int64), n_pool) - 1]
    cand = np.unique(cand)[::-1]  # strictest first, distinct
    s_scores = scores[sample]
    s_sorted = np.sort(s_scores)[::-1]
    cum_wrong = np.concatenate([[0], np.cumsum(wrong[np.argsort(-s_scores, kind="stable")])])
    # number of sample items with score >= t, for every candidate at once
    n_above = np.searchsorted(-s_sorted, -cand, side="right")
    k = cum_wrong[n_above]
    # chain starts: the first candidate whose expected audited count reaches factor x the minimum
    expected = np.array([(scores >= t).mean() * n_s for t in cand])
    need = min_sample(target, d)
    best: int | None = None
    for f in START_FACTORS:
        reach = np.flatnonzero(expected >= f * need)
        if reach.size == 0:
            continue
        j = _chain(cand, n_above, k, int(reach[0]), target, d)
        if j is not None and (best is None or j > best):
            best = j
    if best is None:
        return FamilyCertificate(classes, delta, n_pool, n_s, None), None
    t = float(cand[best])
    bound = 1.0 - cp_upper(int(k[best]), int(n_above[best]), d)
    cert = FamilyCertificate(
        classes, delta, n_pool, n_s, t, int(n_above[best]), int(k[best]), bound, int((scores >= t).sum())
    )
    return cert, t


def propose(
    scores: np.ndarray,
    classes: np.ndarray,
    sample: np.ndarray,
    correct: np.ndarray,
    *,
    target: float,
    confidence: float = 0.95,
    per_class: bool | None = None,
) -> Proposal:
    """Propose thresholds for a pool of predictions.

    scores, classes: the pool's top-1 scores and predicted class ids. sample: indices into the pool
    of the audited images (a uniform random draw); correct: whether each audited prediction was right.
    per_class None = own thresholds for the classes with enough audit share (else global only);
    False = one global threshold; True = same as None (classes without enough share stay pooled).
    """
    scores = np.asarray(scores, dtype=np.float64)
    classes = np.asarray(classes, dtype=np.int64)
    sample = np.asarray(sample, dtype=np.int64)
    wrong = ~np.asarray(correct, dtype=bool)
    if not 0.5 <= target < 1.0:
        raise ValueError("target precision must be in [0.5, 1)")
    if not 0.5 <= confidence < 1.0:
        raise ValueError("confidence must be in [0.5, 1)")
    delta = 1.0 - confidence
    ids = [int(c) for c in np.unique(classes)]
    sample_cls = classes[sample]
    rich: list[int] = []
    if per_class is not False and ids:
        need = RICH_FACTOR * min_sample(target, delta / (len(ids) + 1))
        rich = [c for c in ids if int((sample_cls == c).sum()) >= need]
    rest = [c for c in ids if c not in rich]
    groups: list[tuple[int, ...]] = [(c,) for c in rich] + ([tuple(rest)] if rest else [])
    d = delta / max(len(groups), 1)
    fams: list[FamilyCertificate] = []
    thresholds: dict[int, float | None] = {}
    accept = np.zeros(scores.size, dtype=bool)
    for g in groups:
        in_pool = np.isin(classes, np.asarray(g))
        where = np.flatnonzero(in_pool)
        remap = np.full(scores.size, -1, dtype=np.int64)
        remap[where] = np.arange(where.size)
        s_in = in_pool[sample]
        cert, t = _family(scores[where], remap[sample[s_in]], wrong[s_in], target, d, g)
        fams.append(cert)
        for c in g:
            thresholds[c] = t
        if t is not None:
            accept |= in_pool & (scores >= t)
    return Proposal(
        target=target, confidence=confidence, method="ltt-clopper-pearson",
        mode="per-class" if rich else "global", families=fams, thresholds=thresholds, accept=accept,
        n_sample=int(sample.size), n_needed=min_sample(target, delta),
    )


def bound_at(
    scores: np.ndarray, classes: np.ndarray, sample: np.ndarray, correct: np.ndarray,
    thresholds: dict[int, float | None], confidence: float,
) -> tuple[int, int, float]:
    """(audited images accepted, errors among them, Clopper–Pearson lower bound on precision) for
    given thresholds, e.g. a curator's override. A bound at one threshold, not a guarantee: a
    threshold picked after looking at the sample is not covered by the fixed-sequence test."""
    scores = np.asarray(scores, dtype=np.float64)
    classes = np.asarray(classes, dtype=np.int64)
    sample = np.asarray(sample, dtype=np.int64)
    t = np.array([thresholds.get(int(c)) if thresholds.get(int(c)) is not None else np.inf for c in classes[sample]])
    hit = scores[sample] >= t
    n = int(hit.sum())
    k = int((~np.asarray(correct, dtype=bool))[hit].sum())
    return n, k, 1.0 - cp_upper(k, n, 1.0 - confidence)


@dataclass(frozen=True)
class Coverage:
    """How often the accepted set met the target over repeated audit draws."""

    draws: int
    met: int  # draws whose accepted (non-audited) set had precision >= target, or accepted nothing
    vouched: int  # draws that accepted anything
    mean_accepted: float  # mean share of the pool accepted
    worst_precision: float

    @property
    def share_met(self) -> float:
        return self.met / self.draws if self.draws else 1.0


def simulate(
    scores: np.ndarray, classes: np.ndarray, correct: np.ndarray, *, n_sample: int, target: float,
    confidence: float = 0.95, draws: int = 200, seed: int = 0, per_class: bool | None = None,
) -> Coverage:
    """Draw `draws` uniform audit samples from a pool with known correctness, propose each time and
    measure the realised precision of what would be bulk-accepted (the audited images excluded:
    the curator already decided those)."""
    rng = np.random.default_rng(seed)
    correct = np.asarray(correct, dtype=bool)
    n = int(np.asarray(scores).size)
    met = vouched = 0
    acc_share: list[float] = []
    worst = 1.0
    for _ in range(draws):
        sample = rng.choice(n, size=min(n_sample, n), replace=False)
        prop = propose(scores, classes, sample, correct[sample], target=target, confidence=confidence,
                       per_class=per_class)
        acc = prop.accept.copy()
        acc[sample] = False
        m = int(acc.sum())
        acc_share.append(m / n)
        if m == 0:
            met += 1
            continue
        vouched += 1
        prec = float(correct[acc].mean())
        worst = min(worst, prec)
        met += prec >= target
    return Coverage(draws, met, vouched, float(np.mean(acc_share)) if acc_share else 0.0, worst)
