"""Issue #17 item 6 on the demo world (140 scenes, shipped demo model, the `attributes` learner as
`lazlabel learn` runs it): after the first round of 14 decisions, the learned model trained on
the active order's picks keeps the zero-shot accuracy, where lowest margin's picks (the most
uncertain images, bunched in a few classes) drag it down. The same steps as
`scripts/bench_active.py --images 140 --splits 2 --budget 70`; floors sit below what a run
measured on split 0 (docs/architecture.md, "The active review order": held-out top-1 after 14
decisions, active 87.2 %, lowest margin 59.6 %, zero-shot 87.2 %, 47 held-out scenes)."""

from __future__ import annotations

import pytest
import torch

from tests.refine.active_world import load_world, simulate

pytestmark = pytest.mark.slow


def test_the_first_round_of_active_picks_teaches_more_than_lowest_margin(demo140):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        zs, terms, owner, feats, y, best = load_world(demo140, 140)
        n = len(y)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(1000)).tolist()  # the bench's split 0
        pool, test = perm[: 2 * n // 3], perm[2 * n // 3:]
        t = torch.as_tensor(test)
        zero = float((zs[t].argmax(1) == y[t]).float().mean())
        curves = {o: simulate(o, zs, terms, owner, feats, y, pool, test, 14, 14, seed=0, best=best)
                  for o in ("active", "lowest_margin")}
    finally:
        torch.set_num_threads(before)
    (n_a, active), = curves["active"]
    (n_m, lowest), = curves["lowest_margin"]
    assert n_a == n_m == 14 and len(test) == 47
    print(f"zero-shot {zero:.3f} active {active:.3f} lowest margin {lowest:.3f}")
    assert active >= zero - 0.03  # one held-out scene at most below zero-shot (measured: equal)
    assert active >= lowest + 0.15  # measured +27.7 points
