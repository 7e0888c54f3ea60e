"""Explanations: the batched builder's scores, masses and honest shares; maps and their peaks;
the JSON schema's round trip and version check."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.alignment import lazsl_scores
from engine.evidence import ClassEvidence, EvidenceFormatError
from engine.explain import explain_batch, paused_gc
from engine.localize import runs_from_peak
from tests.engine.conftest import make_problem


def _batch(seed: int = 21, B: int = 3, N: int = 12, with_maps: bool = True):
    P0, R, T, ac, C = make_problem(seed=seed, B=B, N=N)
    which = torch.tensor([[0, 1]] * B)
    res = lazsl_scores(P0, R, T, ac, n_classes=C, return_plans_for=which)
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(B, N, 2, generator=g) * 60
    boxes = torch.cat([xy, xy + 20 + torch.rand(B, N, 1, generator=g) * 20], -1)
    texts, idx, names, cls = [], [], [], []
    for i in range(B):
        t_row, i_row = [], []
        for j in range(2):
            cols = [int(x) for x in res.attr_index[i, j] if x >= 0]
            t_row.append([f"attr{x}" for x in cols])
            i_row.append(cols)
        texts.append(t_row)
        idx.append(i_row)
        names.append(["c0", "c1"])
        cls.append([0, 1])
    tf = T[res.attr_index.clamp_min(0)]
    region_sims = torch.einsum("bnd,bkmd->bknm", R, tf)
    kw = dict(region_sims=region_sims, map_method="rise") if with_maps else {}
    return res, explain_batch(res.plans, res.sims, boxes, texts, idx, names, cls, [(100, 80)] * B, **kw)


def test_batch_scores_masses_and_honest_shares():
    res, batch = _batch()
    for i in range(3):
        for j in range(2):
            b = batch[i][j]
            assert abs(b.score - float(res.scores[i, j])) < 1e-5
            assert abs(sum(a.mass for a in b.attributes) - 1) < 1e-5  # columns carry b = 1/M each
            shares = [a.share for a in b.attributes]
            assert all(0.0 <= s <= 1.0 for s in shares)
            # they add up to 1 over the support; a class with no attribute above its usual level has none
            assert abs(sum(shares) - (1.0 if b.support else 0.0)) < 1e-6
            # support first, then evidence against; an attribute below its usual level has no share
            assert all(a.share == 0 for a in b.against)
            assert b.main_reason is None or b.main_reason.presence.label != "not found"


def test_maps_peaks_and_boxes_lie_in_the_image():
    _res, batch = _batch()
    for row in batch:
        for ev in row:
            for a in ev.attributes:
                m = a.map
                assert m is not None and m.values.shape == (24, 24)
                assert m.values.min() >= 0 and m.values.max() == pytest.approx(1.0)
                x0, y0, x1, y1 = m.box
                assert 0 <= x0 <= m.peak[0] <= x1 <= 100 and 0 <= y0 <= m.peak[1] <= y1 <= 80


def test_json_round_trip_and_version_check():
    _res, batch = _batch()
    ev = batch[0][0]
    back = ClassEvidence.from_json(json.loads(json.dumps(ev.to_json())))
    assert back.to_json() == ClassEvidence.from_json(back.to_json()).to_json()  # stable after one trip
    assert [a.text for a in back.attributes] == [a.text for a in ev.attributes]
    assert np.abs(back.attributes[0].map.values - ev.attributes[0].map.values).max() <= 1 / 255 + 1e-6
    with pytest.raises(EvidenceFormatError):
        ClassEvidence.from_json({**ev.to_json(), "version": 99})


def test_version_1_rows_read_with_honest_shares():
    old = {"class_name": "x", "class_index": 0, "score": 0.2, "image_size": [10, 10], "attributes": [
        {"index": 0, "text": "a", "share": 1.08, "mass": 0.5, "similarity": 0.3, "regions": []},
        {"index": 1, "text": "b", "share": -0.08, "mass": 0.5, "similarity": -0.02, "regions": []}]}
    ev = ClassEvidence.from_json(old)
    assert [a.text for a in ev.support] == ["a"] and ev.support[0].share == 1.0
    assert [a.text for a in ev.against] == ["b"]


def test_runs_from_peak_measure_the_blob_around_the_peak():
    above = np.zeros((1, 6, 6), dtype=bool)
    above[0, 1:4, 2:5] = True  # a 3x3 blob
    above[0, 5, 0] = True  # a separate cell
    left, right, up, down = runs_from_peak(above, np.array([2]), np.array([3]))
    assert (left[0], right[0], up[0], down[0]) == (1, 1, 1, 1)


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
