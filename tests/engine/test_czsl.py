"""The CZSL metrics against a hand-computed example (engine/czsl.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.czsl import (
    closed_world,
    evaluate,
    feasibility_mask,
    harmonic_mean,
    open_world,
    product_of_marginals,
)

# pairs 0, 1 seen; 2 unseen. Images A (pair 0), B (pair 1), C and D (pair 2).
SCORES = np.array([
    [0.9, 0.1, 0.5],
    [0.6, 0.4, 0.3],
    [0.7, 0.2, 0.5],
    [0.3, 0.1, 0.6],
])
LABELS = np.array([0, 1, 2, 2])
SEEN = np.array([True, True, False])
STATES = np.array([0, 0, 1])
OBJECTS = np.array([0, 1, 1])


def test_hand_computed_curve():
    # unseen images right when unseen pairs always win: C (gap 0.2) and D (gap -0.3), so the
    # sweep is -0.3001, 0.1999, then 1e3, giving (S, U) = (.5, 0), (.5, .5), (0, 1)
    r = evaluate(SCORES, LABELS, SEEN, pair_states=STATES, pair_objects=OBJECTS)
    assert r.biases == pytest.approx((-0.3001, 0.1999, 1e3))
    assert r.curve_seen == pytest.approx((0.5, 0.5, 0.0))
    assert r.curve_unseen == pytest.approx((0.0, 0.5, 1.0))
    assert r.seen == pytest.approx(0.5) and r.unseen == pytest.approx(1.0)
    assert r.hm == pytest.approx(0.5) and r.hm_bias == pytest.approx(0.1999)
    assert (r.hm_seen, r.hm_unseen) == pytest.approx((0.5, 0.5))
    assert r.auc == pytest.approx(0.5 * 0.5 + 0.5 * 0.25)  # trapezoids over the unseen axis: 0.375
    assert (r.unbiased_seen, r.unbiased_unseen) == pytest.approx((0.5, 0.5))
    # bias 0 predicts 0, 0, 0, 2: states right for A, B, D; objects for A, D
    assert (r.state_acc, r.object_acc) == pytest.approx((0.75, 0.5))
    assert (r.n_seen, r.n_unseen) == (2, 2)
    assert r.as_row()["HM"] == pytest.approx(50.0)


def test_closed_world_ignores_pairs_outside_the_test_set_and_open_world_does_not():
    # a 4th pair (unseen, never in the test set) that beats everything on image A
    scores = np.hstack([SCORES, np.array([[2.0], [0.0], [0.0], [0.0]])])
    seen = np.append(SEEN, False)
    test_pairs = np.array([True, True, True, False])
    closed = closed_world(scores, LABELS, seen, test_pairs)
    assert closed.hm == pytest.approx(0.5) and closed.auc == pytest.approx(0.375)
    opened = open_world(scores, LABELS, seen)
    assert opened.seen < closed.seen  # image A is lost to the distractor pair
    feasible = feasibility_mask(np.array([0.0, 0.0, 0.9, 0.1]), seen, threshold=0.5)
    assert feasible.tolist() == [True, True, True, False]  # seen pairs always stay
    filtered = open_world(scores, LABELS, seen, feasible)
    assert filtered.hm == pytest.approx(closed.hm) and filtered.auc == pytest.approx(closed.auc)


def test_an_image_whose_pair_is_filtered_out_is_wrong_and_shapes_are_checked():
    r = evaluate(SCORES, LABELS, SEEN, np.array([True, True, False]))  # the unseen pair filtered out
    assert r.unseen == 0.0 and r.curve_unseen == (0.0,) and r.seen == pytest.approx(0.5)
    with pytest.raises(ValueError, match="shapes"):
        evaluate(SCORES, LABELS[:3], SEEN)


def test_no_unseen_image_right_leaves_the_single_end_point():
    r = evaluate(np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([0, 1]), np.array([True, False]))
    assert r.curve_unseen[-1] == pytest.approx(1.0)  # bias 1e3: the unseen image is right
    r2 = evaluate(np.array([[1.0, 0.0]]), np.array([0]), np.array([True, False]))
    assert r2.n_unseen == 0 and r2.unseen == 0.0 and r2.hm == 0.0 and math.isnan(r2.state_acc)


def test_harmonic_mean_and_product_of_marginals():
    assert harmonic_mean(0.5, 0.5) == pytest.approx(0.5)
    assert float(harmonic_mean(0.0, 1.0)) == 0.0
    ps = np.array([[0.25, 0.75]])
    po = np.array([[0.5, 0.5]])
    pairs = product_of_marginals(ps, po, STATES, OBJECTS)
    assert pairs.tolist() == [[0.125, 0.125, 0.375]]
