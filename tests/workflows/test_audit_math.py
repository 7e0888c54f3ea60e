"""Label issues from the real cleanlab on planted probabilities, and temperature calibration (tensors only)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from workflows.audit import DEFAULT_FILTER, FILTERS, calibrate_temperature, find_label_issues


def _planted(n: int = 600, c: int = 6, flip: float = 0.1, seed: int = 0, noise: float = 0.02):
    """Scores like LaZSL's (close together, ~0.25) with the true class ahead by a small margin."""
    g = torch.Generator().manual_seed(seed)
    true = torch.randint(0, c, (n,), generator=g)
    scores = 0.25 + noise * torch.randn(n, c, generator=g)
    scores[torch.arange(n), true] += 0.05
    given = true.clone()
    flipped = torch.rand(n, generator=g) < flip
    given[flipped] = (true[flipped] + torch.randint(1, c, (int(flipped.sum()),), generator=g)) % c
    return scores, true, given, flipped


def test_calibration_finds_the_generating_temperature():
    g = torch.Generator().manual_seed(1)
    logits = 3.0 * torch.randn(4000, 5, generator=g)
    labels = torch.multinomial(torch.softmax(logits, 1), 1, generator=g)[:, 0]
    t = calibrate_temperature(logits * 0.02, labels)  # true T for the scaled scores is 0.02
    assert t == pytest.approx(0.02, rel=0.15)


def _pr(flagged: torch.Tensor, flipped: torch.Tensor) -> tuple[float, float]:
    tp = int((flagged & flipped).sum())
    return tp / max(1, int(flagged.sum())), tp / int(flipped.sum())


def test_default_filter_flags_planted_label_errors_and_suggests_the_true_class():
    scores, true, given, flipped = _planted()
    probs = torch.softmax(scores / calibrate_temperature(scores, given), dim=1)
    res = find_label_issues(probs, given)
    precision, recall = _pr(res.flagged, flipped)
    assert precision > 0.7 and recall > 0.7
    hit = res.flagged & flipped
    assert float((res.suggested[hit] == true[hit]).float().mean()) > 0.8  # measured 0.85
    assert not bool((res.suggested == given).any())  # the suggestion is always another class


def test_every_filter_is_cleanlab_on_the_same_probabilities():
    from cleanlab.filter import find_label_issues as cl_find

    scores, _true, given, _flipped = _planted(seed=3)
    probs = torch.softmax(scores / calibrate_temperature(scores, given), dim=1)
    for f in FILTERS:
        ours = find_label_issues(probs, given, filter_by=f).flagged.numpy()
        theirs = cl_find(given.numpy(), probs.double().numpy(), filter_by=f)
        assert np.array_equal(ours, theirs), f
    assert DEFAULT_FILTER in FILTERS


def test_rankings_are_one_minus_cleanlab_label_quality():
    probs = torch.tensor([[0.1, 0.1, 0.8], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1])
    sc = find_label_issues(probs, labels, ranking="self_confidence")
    assert sc.issue_score.tolist() == pytest.approx([0.9, 0.4, 0.3])
    nm = find_label_issues(probs, labels, ranking="normalized_margin")
    assert nm.issue_score.tolist() == pytest.approx([(1 - (0.1 - 0.8)) / 2, (1 - (0.6 - 0.3)) / 2, (1 - (0.7 - 0.2)) / 2])
    assert nm.suggested.tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match="unknown ranking"):
        find_label_issues(probs, labels, ranking="vibes")
    with pytest.raises(ValueError, match="unknown filter"):
        find_label_issues(probs, labels, filter_by="vibes")


def test_one_labelled_class_flags_nothing_instead_of_failing():
    probs = torch.tensor([[0.2, 0.8], [0.9, 0.1]], dtype=torch.float64)
    res = find_label_issues(probs, torch.tensor([0, 0]))
    assert res.flagged.tolist() == [False, False] and res.suggested.tolist() == [1, 1]
