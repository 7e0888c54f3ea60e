"""Confident-learning flags and temperature calibration on planted data (pure tensors)."""

from __future__ import annotations

import math

import pytest
import torch

from workflows.audit import calibrate_temperature, find_label_issues


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


def test_flags_planted_label_errors():
    scores, true, given, flipped = _planted()
    t = calibrate_temperature(scores, given)
    probs = torch.softmax(scores / t, dim=1)
    res = find_label_issues(probs, given)
    tp = int((res.flagged & flipped).sum())
    precision = tp / max(1, int(res.flagged.sum()))
    recall = tp / int(flipped.sum())
    assert precision > 0.7 and recall > 0.7
    # flagged images suggest the true class
    assert float((res.suggested[res.flagged & flipped] == true[res.flagged & flipped]).float().mean()) > 0.9
    assert math.isinf(float(res.thresholds.max())) is False


def test_class_without_labels_is_never_suggested_as_confident():
    probs = torch.tensor([[0.1, 0.1, 0.8], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]])
    labels = torch.tensor([0, 0, 1])
    res = find_label_issues(probs, labels, ranking="normalized_margin")
    assert math.isinf(float(res.thresholds[2]))
    assert res.flagged.tolist() == [False, False, False]
    assert float(res.issue_score[0]) > float(res.issue_score[1])
    with pytest.raises(ValueError, match="unknown ranking"):
        find_label_issues(probs, labels, ranking="vibes")
