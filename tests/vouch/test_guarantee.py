"""The threshold guarantee (engine/guarantee.py): exact bounds, and it holds over repeated audit draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from engine import guarantee as g


def _pool(n=1400, steep=30.0, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0, 1, n)
    classes = rng.integers(0, 14, n)
    correct = rng.uniform(size=n) < 1 / (1 + np.exp(-steep * (scores - 0.35)))
    return scores, classes, correct


def test_clopper_pearson_is_the_exact_binomial_test():
    # the upper bound u satisfies P(X <= k; n, u) = delta: the binomial test's boundary
    for k, n in [(0, 50), (2, 150), (7, 300)]:
        u = g.cp_upper(k, n, 0.05)
        assert binom.cdf(k, n, u) == pytest.approx(0.05, abs=1e-9)
    assert g.cp_upper(0, 0, 0.05) == 1.0 and g.cp_upper(5, 5, 0.05) == 1.0
    # 149 audited images, all right, are the fewest that certify 98% at 95%
    assert g.min_sample(0.98, 0.05) == 149 and 0.98**149 <= 0.05 < 0.98**148


def test_nothing_is_vouched_from_a_sample_too_small_to_certify():
    scores, classes, correct = _pool()
    sample = np.arange(40)
    prop = g.propose(scores, classes, sample, np.ones(40, bool), target=0.98)
    assert prop.n_accept == 0 and prop.n_needed == 149
    assert all(f.threshold is None for f in prop.families)


def test_a_threshold_accepts_only_above_it_and_its_bound_reaches_the_target():
    scores, classes, correct = _pool()
    rng = np.random.default_rng(3)
    sample = rng.choice(scores.size, 500, replace=False)
    prop = g.propose(scores, classes, sample, correct[sample], target=0.95, per_class=False)
    (fam,) = prop.families
    assert fam.threshold is not None and prop.n_accept == int((scores >= fam.threshold).sum())
    assert fam.precision_bound >= 0.95
    # the certificate counts what the sample shows above the threshold
    above = scores[sample] >= fam.threshold
    assert fam.n_above == int(above.sum()) and fam.n_errors == int((~correct[sample][above]).sum())


def test_the_guarantee_holds_over_repeated_audit_draws():
    """Realised precision of the accepted (non-audited) images >= target in >= 95% of draws."""
    scores, classes, correct = _pool()
    cov = g.simulate(scores, classes, correct, n_sample=400, target=0.97, confidence=0.95, draws=60, seed=7)
    assert cov.vouched >= 30  # it does accept something in most draws: the check is not vacuous
    assert cov.share_met >= 0.95


def test_the_check_can_fail_a_threshold_chosen_without_a_bound():
    """The same check rejects the naive rule (largest set whose sample precision >= target)."""
    scores, classes, correct = _pool()
    rng = np.random.default_rng(11)
    met = 0
    draws = 60
    for _ in range(draws):
        sample = rng.choice(scores.size, 400, replace=False)
        order = np.argsort(-scores[sample])
        run = np.cumsum(correct[sample][order]) / np.arange(1, order.size + 1)
        ok = np.flatnonzero(run >= 0.97)
        t = scores[sample][order][ok[-1]]
        acc = scores >= t
        acc[sample] = False
        met += correct[acc].mean() >= 0.97
    assert met / draws < 0.95
