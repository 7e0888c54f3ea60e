#!/usr/bin/env python
"""Confusion refinement on the demo world (issue #17 item 5): accuracy on the confused pairs before
and after the LLM's distinguishing attributes are accepted.

    .venv/bin/python scripts/bench_refine.py                      # 280 scenes, 4 decided per class
    .venv/bin/python scripts/bench_refine.py --images 140 --decided 3   # the floor test's world
    .venv/bin/python scripts/bench_refine.py --images 420 --decided 6 --pairs 3 --dir /tmp/w
    .venv/bin/python scripts/bench_refine.py --accept helpful       # keep what the preview shows helps

1. The demo project (`lazlabel demo --images N`, grid regions, the shipped demo model), then its
   attribute set degraded the way an incomplete LLM answer would be: every class keeps only its
   first part (so zorbit and morvex, kappimon and fennick, ... share their only attribute), and a
   re-score from the cache.
2. A simulated curator decides the first `--decided` scenes of each class with the ground truth
   (accept or correct); the other scenes are held out (never decided).
3. `confused_pairs` picks the pairs; for each, `propose_distinguishing` asks the test suite's
   loopback Ollama server (real `ollama` client, real HTTP) scripted to answer like a model that
   knows the classes: the parts of A that B does not have (from the world's class definitions);
   `preview_refinement` gives accuracy on the decided images from the cache; `--accept all` keeps
   every proposal, `--accept helpful` only those whose preview alone fixes more decided images
   than it breaks (what a curator reading the preview would keep); `rescore` applies them.
   Reported: the pair's accuracy on decided and on held-out scenes, before and after, and the
   whole project's held-out accuracy.

The demo folder's project is changed (attribute set, decisions): use a temporary or throw-away
`--dir`. One world, one seed; the numbers depend on the scenes drawn. The steps live in
tests/refine/demo_world.py, which the floor test (tests/refine/test_refine_demo.py) runs too.
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

from tests.refine.demo_world import refine_demo  # noqa: E402


def pct(x: float | None) -> str:
    return "   -" if x is None else f"{100 * x:5.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=280)
    ap.add_argument("--decided", type=int, default=4, help="decided scenes per class")
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--dir", type=Path, help="demo folder to build or reuse (default: a temporary one)")
    ap.add_argument("--accept", choices=("all", "helpful"), default="all",
                    help="which proposals to accept: all, or those whose preview fixes more than it breaks")
    args = ap.parse_args()
    torch.set_num_threads(1)

    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-refine-"))
    t0 = time.perf_counter()
    res = refine_demo(work, args.images, decided=args.decided, pairs=args.pairs, accept=args.accept)
    print(f"demo world: {args.images} scenes in {work} ({time.perf_counter() - t0:.0f} s in all)")
    print(f"{res.n_decided} decided ({args.decided} per class), {res.n_held} held out; held-out accuracy "
          f"with the degraded attribute set: {pct(res.held_before)} %; accept: {args.accept}; "
          f"{res.chats} requests to the loopback Ollama server")
    print()
    print(f"{'pair':<22}{'decided confusions':>19}{'kept':>7}{'decided pair % (n)':>26}"
          f"{'held-out pair % (n)':>26}{'propose+preview s':>19}")
    for r in res.pairs:
        pv = r.preview
        print(f"{r.pair.label:<22}{r.pair.decided:>19}{f'{len(r.kept)}/{len(r.refinement.attributes)}':>7}"
              f"{pct(pv.before.pair_accuracy):>11} -> {pct(r.decided_after)} ({pv.n_pair:>3})"
              f"{pct(r.held_before):>11} -> {pct(r.held_after)} ({r.n_held:>3}){r.seconds:>19.1f}")
        for p, eff in pv.per_attribute:
            print(f"    {p.class_name}: {p.text:<34} decided pair % alone: {pct(eff.pair_accuracy)}"
                  f"  fixed {eff.fixed} broken {eff.broken}  {'kept' if p in r.kept else 'left out'}")
    print(f"\nheld-out accuracy, all classes: {pct(res.held_before)} -> {pct(res.held_after)} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
