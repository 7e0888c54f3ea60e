"""Compositional zero-shot (CZSL) evaluation: seen, unseen, harmonic mean and AUC of the bias curve.

The protocol is the one of the CZSL literature's common evaluator (Purushwalkam et al. 2019, kept
by Mancini et al.'s `czsl` code, used by CSP, DFSP, Troika and MSCI): every test image is scored
against a candidate set of pairs; a calibration bias is *added to the scores of unseen pairs*
(pairs absent from training) and swept. At each bias, *seen accuracy* is top-1 accuracy on images
of seen pairs and *unseen accuracy* on images of unseen pairs. The sweep's biases are the score
gaps that flip unseen images to correct (sorted, every len/20-th kept, like the reference code),
plus the end point "unseen pairs always win" (bias 1e3). Reported, as in the papers' tables:

* **S** best seen accuracy, **U** best unseen accuracy over the curve;
* **HM** the best harmonic mean of a point of the curve (with the seen/unseen accuracy there);
* **AUC** the area under the seen-vs-unseen curve (trapezoids over the unseen axis).

Closed world: the candidates are the pairs that occur in the test set. Open world: every
state x object pair, optionally filtered by a feasibility mask (pairs judged impossible are
removed, as in Mancini et al.'s CompCos / KG-SP). Scores are per-image, per-pair arrays of
any monotone score (logits, probabilities, log-probabilities); nothing here learns or needs SQL
(docs/architecture.md, "Compositional labels").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The reference code's bias for "unseen pairs always win" and its number of curve bins.
BIAS_MAX = 1e3
CURVE_BINS = 20
_MASKED = -1e10


@dataclass(frozen=True)
class CZSLResult:
    """The standard numbers for one candidate setting (fractions in [0, 1])."""

    seen: float  # best seen accuracy on the curve
    unseen: float  # best unseen accuracy on the curve
    hm: float  # best harmonic mean on the curve
    auc: float  # area under the seen-unseen curve
    hm_seen: float  # seen accuracy at the best-HM point
    hm_unseen: float  # unseen accuracy at the best-HM point
    hm_bias: float  # the bias at the best-HM point
    unbiased_seen: float  # bias 0: the scores as they are
    unbiased_unseen: float
    state_acc: float  # bias 0: the predicted pair has the true state
    object_acc: float  # bias 0: the predicted pair has the true object
    n_seen: int  # test images of seen pairs
    n_unseen: int  # test images of unseen pairs
    curve_seen: tuple[float, ...] = field(default=(), repr=False)
    curve_unseen: tuple[float, ...] = field(default=(), repr=False)
    biases: tuple[float, ...] = field(default=(), repr=False)

    def as_row(self) -> dict[str, float]:
        """The four headline numbers in percent (tables, JSON)."""
        return {"S": 100 * self.seen, "U": 100 * self.unseen, "HM": 100 * self.hm, "AUC": 100 * self.auc}


def _array(x: object, dtype: type | None = None) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _top1(scores: np.ndarray, unseen_pair: np.ndarray, bias: float) -> np.ndarray:
    biased = scores + bias * unseen_pair[None, :]
    pred: np.ndarray = biased.argmax(axis=1)  # numpy's stubs type argmax(axis=...) as Any
    return pred


def harmonic_mean(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Element-wise harmonic mean, 0 where either is 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    s = a + b
    return np.where(s > 0, 2 * a * b / np.where(s > 0, s, 1.0), 0.0)


def evaluate(scores: object, labels: object, seen_pairs: object, candidates: object | None = None, *,
             pair_states: object | None = None, pair_objects: object | None = None) -> CZSLResult:
    """The CZSL numbers of `scores` [N, P] for true pair indices `labels` [N].

    ``seen_pairs``: bool [P], the training pairs. ``candidates``: bool [P], the pairs a prediction
    may be (None: all P, the open world); an image whose true pair is not one counts as wrong. ``pair_states`` / ``pair_objects``: int [P] primitive
    indices of each pair, for the state and object accuracies (omitted: reported as NaN).
    """
    s = _array(scores, np.float64)
    y = _array(labels, np.int64)
    seen = _array(seen_pairs, bool)
    if s.ndim != 2 or y.shape != (s.shape[0],) or seen.shape != (s.shape[1],):
        raise ValueError(f"shapes do not match: scores {s.shape}, labels {y.shape}, seen {seen.shape}")
    # an image whose true pair is not a candidate (filtered out as infeasible) is simply wrong
    cand = np.ones_like(seen) if candidates is None else _array(candidates, bool)
    s = np.where(cand[None, :], s, _MASKED)
    unseen_pair = (~seen & cand).astype(np.float64)
    img_seen = seen[y]
    img_unseen = ~img_seen
    n = np.arange(len(y))

    def accuracies(bias: float) -> tuple[float, float, np.ndarray]:
        pred = _top1(s, unseen_pair, bias)
        hit = pred == y
        acc_s = float(hit[img_seen].mean()) if img_seen.any() else 0.0
        acc_u = float(hit[img_unseen].mean()) if img_unseen.any() else 0.0
        return acc_s, acc_u, pred

    # the sweep: gaps between the best seen pair and the true unseen pair, for unseen images that
    # are right when unseen pairs always win (the reference code's `correct_unseen_score_diff`)
    _, _, pred_max = accuracies(BIAS_MAX)
    seen_scores = np.where(seen[None, :], s, -np.inf)
    max_seen = seen_scores.max(axis=1) if seen.any() else np.full(len(y), -np.inf)
    gaps = max_seen - s[n, y]
    usable = img_unseen & (pred_max == y)
    diffs = np.sort(gaps[usable]) - 1e-4
    skip = max(len(diffs) // CURVE_BINS, 1)
    biases = [float(b) for b in diffs[::skip] if np.isfinite(b)]
    curve_s, curve_u = [], []
    for b in biases:
        a_s, a_u, _ = accuracies(b)
        curve_s.append(a_s)
        curve_u.append(a_u)
    a_s, a_u, _ = accuracies(BIAS_MAX)
    curve_s.append(a_s)
    curve_u.append(a_u)
    biases.append(BIAS_MAX)
    cs, cu = np.array(curve_s), np.array(curve_u)
    hms = harmonic_mean(cs, cu)
    best = int(np.argmax(hms))
    # biases ascend, so unseen accuracy never falls and seen accuracy never rises along the curve
    auc = float(np.trapezoid(cs, cu)) if len(cs) > 1 else 0.0

    u_s, u_u, pred0 = accuracies(0.0)
    if pair_states is not None and pair_objects is not None:
        st, ob = _array(pair_states, np.int64), _array(pair_objects, np.int64)
        state_acc = float((st[pred0] == st[y]).mean())
        object_acc = float((ob[pred0] == ob[y]).mean())
    else:
        state_acc = object_acc = float("nan")
    return CZSLResult(
        seen=float(cs.max()), unseen=float(cu.max()), hm=float(hms[best]), auc=auc,
        hm_seen=float(cs[best]), hm_unseen=float(cu[best]), hm_bias=biases[best],
        unbiased_seen=u_s, unbiased_unseen=u_u, state_acc=state_acc, object_acc=object_acc,
        n_seen=int(img_seen.sum()), n_unseen=int(img_unseen.sum()),
        curve_seen=tuple(curve_s), curve_unseen=tuple(curve_u), biases=tuple(biases),
    )


def closed_world(scores: object, labels: object, seen_pairs: object, test_pairs: object, **kw: object
                 ) -> CZSLResult:
    """Closed world: the candidates are the pairs that occur in the test set (``test_pairs`` bool [P])."""
    return evaluate(scores, labels, seen_pairs, _array(test_pairs, bool), **kw)


def open_world(scores: object, labels: object, seen_pairs: object, feasible: object | None = None,
               **kw: object) -> CZSLResult:
    """Open world: every state x object pair is a candidate, minus those ``feasible`` (bool [P]) rules out.

    Seen pairs always stay candidates (they were observed, so they are feasible).
    """
    cand = None if feasible is None else _array(feasible, bool) | _array(seen_pairs, bool)
    return evaluate(scores, labels, seen_pairs, cand, **kw)


def feasibility_mask(feasibility: object, seen_pairs: object, threshold: float) -> np.ndarray:
    """Pairs kept in the open world: seen pairs, and unseen pairs whose feasibility score is at
    least ``threshold`` (e.g. CompCos's cosine feasibility, or a model's own)."""
    keep: np.ndarray = (_array(feasibility, np.float64) >= threshold) | _array(seen_pairs, bool)
    return keep


def product_of_marginals(state_probs: object, object_probs: object, pair_states: object,
                         pair_objects: object) -> np.ndarray:
    """p(pair) = p(state) * p(object) for every pair [N, P] from the marginals [N, S] and [N, O]."""
    ps, po = _array(state_probs, np.float64), _array(object_probs, np.float64)
    joint: np.ndarray = ps[:, _array(pair_states, np.int64)] * po[:, _array(pair_objects, np.int64)]
    return joint
