"""Explanations: single and batched builders agree; JSON round trip; heat maps weight boxes by mass."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.alignment import lazsl_scores
from engine.explain import ClassExplanation, explain, explain_batch, heatmap, paused_gc
from tests.engine.conftest import make_problem


def test_single_and_batch_agree_and_round_trip():
    P0, R, T, ac, C = make_problem(seed=21, B=3, N=12)
    which = torch.tensor([[0, 1]] * 3)
    res = lazsl_scores(P0, R, T, ac, n_classes=C, return_plans_for=which)
    boxes = torch.rand(3, 12, 2).mul(50).repeat(1, 1, 2) + torch.tensor([0, 0, 20, 20.0])
    texts, idx, names, cls = [], [], [], []
    for i in range(3):
        t_row, i_row = [], []
        for j in range(2):
            cols = [int(x) for x in res.attr_index[i, j] if x >= 0]
            t_row.append([f"attr{x}" for x in cols])
            i_row.append(cols)
        texts.append(t_row)
        idx.append(i_row)
        names.append(["c0", "c1"])
        cls.append([0, 1])
    batch = explain_batch(res.plans, res.sims, boxes, texts, idx, names, cls, [(100, 80)] * 3)
    for i in range(3):
        for j in range(2):
            one = explain(res.plans[i, j], res.sims[i, j], boxes[i], texts[i][j], attr_indices=idx[i][j],
                          class_name=names[i][j], class_index=j, image_size=(100, 80))
            b = batch[i][j]
            assert abs(one.score - b.score) < 1e-6 and abs(b.score - float(res.scores[i, j])) < 1e-5
            assert [a.index for a in one.attributes] == [a.index for a in b.attributes]
            for x, y in zip(one.attributes, b.attributes):
                assert abs(x.share - y.share) < 1e-6 and abs(x.mass - y.mass) < 1e-6
                assert [r.box for r in x.regions] == [r.box for r in y.regions]
            assert abs(sum(a.share for a in b.attributes) - 1) < 1e-5
            assert abs(sum(a.mass for a in b.attributes) - 1) < 1e-5  # columns carry b = 1/M each
            assert ClassExplanation.from_json(json.loads(json.dumps(b.to_json()))) == b


def test_heatmap_paints_boxes_by_mass():
    from engine.explain import AttributeEvidence, RegionEvidence

    e = ClassExplanation("x", 0, 0.3, (100, 50), [
        AttributeEvidence(0, "a", 0.7, 0.5, 0.3, [RegionEvidence((0, 0, 50, 50), 0.4, 0.3)]),
        AttributeEvidence(1, "b", 0.3, 0.5, 0.2, [RegionEvidence((50, 0, 100, 50), 0.1, 0.2)]),
    ])
    h = heatmap(e)
    assert h.shape == (50, 100) and h[10, 10] == 1.0 and np.isclose(h[10, 80], 0.25)
    h1 = heatmap(e, (20, 10), attribute=1)
    assert h1.shape == (10, 20) and h1[5, 2] == 0 and h1[5, 15] == 1.0
    assert heatmap(ClassExplanation("x", 0, 0.0, (0, 0))).shape == (1, 1)


def test_paused_gc_restores_the_collector_state():
    import gc

    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():  # nested: the inner exit must not switch it back on early
            pass
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # it was off before: stays off
    finally:
        gc.enable()
    with pytest.raises(RuntimeError):
        with paused_gc():
            raise RuntimeError("boom")
    assert gc.isenabled()
