#!/usr/bin/env python
"""Active review order vs lowest margin vs random on the demo world (issue #17 item 6): how many
decisions a simulated curator needs before the learned model reaches 90% of its final accuracy.

    .venv/bin/python scripts/bench_active.py                       # 560 scenes, 3 splits, K = 14
    .venv/bin/python scripts/bench_active.py --images 280 --splits 1 --dir /tmp/w
    .venv/bin/python scripts/bench_active.py --images 140 --splits 2 --budget 70   # the floor test's world

The demo project (`lazlabel demo --images N`: grid regions, the shipped demo model; built or
reused) gives, from its feature cache only, the zero-shot LaZSL scores against the world's full
attribute set, the per-attribute LaZSL terms and the global features. Each split puts two thirds
of the scenes in the pool the curator reviews and one third aside as held-out scenes. For each
order, the curator decides (with the ground truth) the first K images of the queue, the
`attributes` learner (cross-validated, as `lazlabel learn` runs it) learns from every decision so
far, the queue is ranked again on the new scores, and so on up to the budget. Reported per order:
held-out top-1 after each round, and the decisions needed to reach 90% of the final accuracy
(the learner trained on the whole pool), 98% of it, and 90% of the gain of the final accuracy
over zero-shot. On the demo world zero-shot alone is about 96% of the final accuracy, so the
first target is met by the first round of any order that does not make things worse; the other
two tell the orders apart. Orders: `active` (workflows.active_order: uncertainty + class balance
+ diversity), `lowest_margin`, `random` (mean of 3 seeds); `--orders active --weights U,B,D`
compares weightings. Ties and failures to reach a target are reported as they are. The steps
live in tests/refine/active_world.py, which the floor test (tests/refine/test_active_demo.py)
runs too.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.refine.active_world import first_reaching, fit_scores, load_world, simulate  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=560)
    ap.add_argument("--splits", type=int, default=3)
    ap.add_argument("--k", type=int, default=14, help="decisions per round (learning after each round)")
    ap.add_argument("--budget", type=int, default=224, help="decisions per order (default 16 per class)")
    ap.add_argument("--dir", type=Path, help="demo folder to build or reuse (default: a temporary one)")
    ap.add_argument("--weights", help="active order weights U,B,D (default: workflows.active_order's)")
    ap.add_argument("--orders", default="active,lowest_margin,random",
                    help="orders to simulate, comma-separated (e.g. only 'active' to compare weights)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from workflows.active_order import ActiveWeights

    weights = ActiveWeights(*map(float, args.weights.split(","))) if args.weights else ActiveWeights()
    print(f"active order weights: {weights}")
    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-active-"))
    zs, terms, owner, feats, y, best = load_world(work, args.images)
    n = len(y)
    orders = tuple(o.strip() for o in args.orders.split(",") if o.strip())
    unknown = set(orders) - {"active", "lowest_margin", "random"}
    if unknown or not orders:
        ap.error(f"--orders: unknown {sorted(unknown)}; choose from active, lowest_margin, random")
    table: dict[str, dict[str, list]] = {o: {"a": [], "b": [], "c": [], "curves": []} for o in orders}
    finals, zeros = [], []
    t0 = time.perf_counter()
    for split in range(args.splits):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(1000 + split)).tolist()
        pool, test = perm[: 2 * n // 3], perm[2 * n // 3:]
        t_test = torch.as_tensor(test)
        zero = float((zs[t_test].argmax(1) == y[t_test]).float().mean())
        final = float((fit_scores(zs, terms, owner, y, pool, seed=0, best=best)[t_test].argmax(1) == y[t_test]).float().mean())
        zeros.append(zero)
        finals.append(final)
        budget = min(args.budget, len(pool))
        for o in orders:
            seeds = (0, 1, 2) if o == "random" else (0,)
            for s in seeds:
                curve = simulate(o, zs, terms, owner, feats, y, pool, test, budget, args.k, seed=split * 10 + s,
                                 weights=weights, best=best)
                table[o]["curves"].append(curve)
                table[o]["a"].append(first_reaching(curve, 0.9 * final))
                table[o]["b"].append(first_reaching(curve, zero + 0.9 * (final - zero)))
                table[o]["c"].append(first_reaching(curve, 0.98 * final))
        print(f"split {split}: zero-shot {100 * zero:.1f} %, final (whole pool of {len(pool)} decided) "
              f"{100 * final:.1f} % ({time.perf_counter() - t0:.0f} s)")

    def mean(xs):
        got = [x for x in xs if x is not None]
        missed = len(xs) - len(got)
        s = f"{sum(got) / len(got):6.1f}" if got else "     -"
        return s + (f" ({missed} never)" if missed else "")

    print(f"\nzero-shot held-out top-1 {100 * sum(zeros) / len(zeros):.1f} %, final "
          f"{100 * sum(finals) / len(finals):.1f} % (mean of {args.splits} splits; K = {args.k}, budget {args.budget})")
    print(f"{'order':<15}{'decisions to 90% of final acc':>32}{'to 98% of final':>18}"
          f"{'to 90% of the gain':>22}{'mean top-1 over the rounds %':>31}")
    for o in orders:
        auc = [sum(a for _n, a in c) / len(c) for c in table[o]["curves"]]
        print(f"{o:<15}{mean(table[o]['a']):>32}{mean(table[o]['c']):>18}{mean(table[o]['b']):>22}"
              f"{100 * sum(auc) / len(auc):>31.1f}")
    print("\nheld-out top-1 % after N decisions (mean over splits, random over 3 seeds)")
    steps = [n for n, _ in table[orders[0]]["curves"][0]]
    print(f"{'N':>5}" + "".join(f"{o:>15}" for o in orders))
    for j, n_dec in enumerate(steps):
        row = []
        for o in orders:
            vals = [c[j][1] for c in table[o]["curves"] if j < len(c)]
            row.append(f"{100 * sum(vals) / len(vals):15.1f}")
        print(f"{n_dec:>5}" + "".join(row))
    return 0


if __name__ == "__main__":
    sys.exit(main())
