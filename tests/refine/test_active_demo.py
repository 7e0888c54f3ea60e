"""Issue #17 item 6 on the demo world (140 scenes, shipped demo model): the active order's first
batch spreads over the classes where lowest margin's bunches in a few confused ones. That spread
is why its first round of learning does not drag the model below zero-shot while lowest margin's
does (`scripts/bench_active.py --splits 5`, 560 scenes: held-out top-1 after 14 decisions, active
80.7 %, lowest margin 75.1 %, zero-shot 80.4 %; docs/architecture.md, "The active review order").
A held-out accuracy of 47 scenes moves 2 points per scene, too coarse for a floor here, so this
test checks the mechanism on the bench's own splits. Measured: true classes among the first 14
picks, active 9/10/10/8/10 vs lowest margin 8/9/8/7/9; predicted classes 11/8/9/8/9 vs 6/7/7/6/7.
"""

from __future__ import annotations

import pytest
import torch

from tests.refine.active_world import load_world, next_batch

pytestmark = pytest.mark.slow


def test_the_first_active_batch_spreads_over_more_classes_than_lowest_margin(demo140):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        zs, _terms, _owner, feats, y, _best = load_world(demo140, 140)
    finally:
        torch.set_num_threads(before)
    n, C = len(y), zs.shape[1]
    for split in range(5):  # the bench's splits
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(1000 + split)).tolist()
        pool = sorted(perm[: 2 * n // 3])
        spread = {}
        for order in ("active", "lowest_margin"):
            batch = torch.as_tensor(next_batch(order, zs, feats, y, pool, [], 14, C, torch.Generator().manual_seed(0)))
            assert len(set(batch.tolist())) == 14 and set(batch.tolist()) <= set(pool)
            spread[order] = (len(set(y[batch].tolist())), len(set(zs[batch].argmax(1).tolist())))
        assert spread["active"][0] > spread["lowest_margin"][0], (split, spread)  # true classes
        assert spread["active"][1] > spread["lowest_margin"][1], (split, spread)  # predicted classes
