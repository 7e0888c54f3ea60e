"""Issue #17 item 6: the "active" review order is deterministic, covers every image, prefers
uncertain images of classes with few decisions, and does not queue near-duplicates together."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cli.main import main as cli_main
from db.queries import ImageFilter
from workflows.active_order import ActiveWeights, active_rank
from workflows.review import QUEUE_ORDERS, review_queue


def _world(n: int = 300, C: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    margin = torch.rand(n, generator=g)
    pred = torch.randint(0, C, (n,), generator=g)
    feats = F.normalize(torch.randn(n, 16, generator=g), dim=1)
    return margin, pred, feats, C


def test_a_permutation_of_every_candidate_and_deterministic():
    margin, pred, feats, C = _world()
    margin[[3, 50]] = float("nan")  # no prediction: last
    pred[[3, 50]] = -1
    a = active_rank(margin, pred, C, features=feats, greedy=64)
    b = active_rank(margin.clone(), pred.clone(), C, features=feats.clone(), greedy=64)
    assert torch.equal(a, b)
    assert sorted(a.tolist()) == list(range(len(margin)))
    assert set(a[-2:].tolist()) == {3, 50}


def test_classes_with_few_decisions_come_first_among_equally_uncertain_images():
    n, C = 120, 3
    margin = torch.full((n,), 0.1)
    pred = torch.arange(n) % C
    counts = torch.tensor([50.0, 0.0, 5.0])  # class 0 has many decisions, class 1 none
    order = active_rank(margin, pred, C, decided_counts=counts, weights=ActiveWeights(1, 1, 0))
    first = pred[order[:30]]
    assert (first == 1).sum() > (first == 2).sum() > (first == 0).sum()
    # and the queue keeps balancing as it goes: class 1 does not take every early place
    assert (pred[order[:60]] == 2).sum() > 0


def test_uncertainty_dominates_with_only_that_weight():
    margin, pred, feats, C = _world()
    order = active_rank(margin, pred, C, features=feats, weights=ActiveWeights(1, 0, 0))
    assert torch.equal(order, torch.argsort(margin, stable=True))


def test_near_duplicates_are_not_queued_together():
    margin, pred, feats, C = _world(n=200)
    feats[1] = feats[0]  # an exact duplicate pair, both among the most uncertain
    margin[0], margin[1] = 0.0, 0.0001
    order = active_rank(margin, pred, C, features=feats, weights=ActiveWeights(1, 0, 1), step=1).tolist()
    assert order[0] == 0 and order.index(1) > 10
    no_div = active_rank(margin, pred, C, features=feats, weights=ActiveWeights(1, 0, 0)).tolist()
    assert no_div.index(1) == 1


def test_the_review_queue_offers_it_and_pages_through_all_images(confused, capsys):
    project, _ = confused
    assert "active" in QUEUE_ORDERS
    todo = set(project.image_ids(ImageFilter(status="ok", review_status="unreviewed")))
    pages = [review_queue(project, "active", offset=o, limit=10) for o in range(0, len(todo) + 10, 10)]
    ids = [r.id for page in pages for r in page]
    assert len(ids) == len(set(ids)) and set(ids) == todo
    assert [r.id for r in review_queue(project, "active", limit=500)] == ids
    assert cli_main(["review", "--order", "active", "--limit", "5", "--project", str(project.path)]) == 0
    out = capsys.readouterr().out
    assert project.image(ids[0]).rel_path in out
