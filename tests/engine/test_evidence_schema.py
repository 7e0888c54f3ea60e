"""The evidence schema's rules as properties over many random explanations (no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evidence import (
    FOUND_AT,
    WEAK_AT,
    AttributeEvidence,
    ClassEvidence,
    PresenceCalibration,
    calibration_key,
    contrast,
    honest_shares,
)


def _random_evidence(rng: np.random.Generator, name: str, m: int, calibrate: bool):
    attrs = tuple(
        AttributeEvidence(j, f"{name}-attr{j}", float(mass), float(rng.normal(0.2, 0.1)),
                          best_similarity=float(rng.normal(0.25, 0.1)))
        for j, mass in enumerate(rng.dirichlet(np.ones(m)))
    )
    ev = ClassEvidence(name, 0, float(rng.normal(0.3, 0.1)), (64, 48), attrs)
    cal = None
    if calibrate:
        cal = PresenceCalibration({calibration_key(name, a.text): (float(rng.normal(0.25, 0.05)),
                                                                     float(rng.uniform(0.001, 0.2)))
                                   for a in attrs if rng.random() < 0.8})
    return ev.calibrated(cal)


@pytest.mark.parametrize("calibrate", [False, True])
def test_shares_are_in_0_1_and_add_up_over_the_support(calibrate):
    rng = np.random.default_rng(7)
    for _ in range(500):
        ev = _random_evidence(rng, "c", int(rng.integers(1, 12)), calibrate)
        shares = np.array([a.share for a in ev.attributes])
        assert ((shares >= 0) & (shares <= 1)).all()
        assert abs(shares.sum() - (1.0 if ev.support else 0.0)) < 1e-9
        for a in ev.attributes:  # evidence against never has a share, and a share needs a positive part
            assert (a.share > 0) == (a.contribution > 0) and a.against == (a.contribution < 0)
            assert a.presence.label == ("found" if a.presence.score >= FOUND_AT else a.presence.label)
            assert (a.share > 0) == (a.presence.label != "not found" and a.presence.score > WEAK_AT)
        main = ev.main_reason
        assert main is None or (main.presence.label != "not found" and main.share == max(shares))
        # support first, largest share first
        assert [a.share for a in ev.support] == sorted((a.share for a in ev.support), reverse=True)


def test_honest_shares_ignore_non_finite_and_negative_parts():
    assert honest_shares([2.0, -1.0, float("nan"), 2.0]) == [0.5, 0.0, 0.0, 0.5]
    assert honest_shares([-1.0, 0.0]) == [0.0, 0.0]
    assert honest_shares([]) == []


def test_contrast_lists_missing_and_separating_attributes():
    rng = np.random.default_rng(3)
    for _ in range(200):
        a = _random_evidence(rng, "a", int(rng.integers(1, 6)), True)
        b = _random_evidence(rng, "b", int(rng.integers(1, 6)), True)
        c = contrast(a, b)
        assert all(x.presence.label == "not found" for x in c.b_missing)
        assert {x.text for x in c.for_a} <= {x.text for x in a.attributes}
        assert all(x.presence.label != "not found" for x in c.for_a + c.for_b)
        assert c.gap == pytest.approx(a.score - b.score)
