#!/usr/bin/env python
"""Confusion refinement on the demo world (issue #17 item 5): accuracy on the confused pairs before
and after the LLM's distinguishing attributes are accepted.

    .venv/bin/python scripts/bench_refine.py                      # 280 scenes, 4 decided per class
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
   than it breaks (what a curator reading the preview would keep); `rescore` applies them. Reported: the pair's accuracy on decided and on held-out scenes, before
   and after, and the whole project's held-out accuracy.

The demo folder's project is changed (attribute set, decisions): use a temporary or throw-away
`--dir`. Not a test: one world, one seed; the numbers depend on the scenes drawn.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.attributes.conftest import FakeOllama, Reply  # noqa: E402

_ASKED = re.compile(r"tell an? (.+?) apart from an? (.+?) in a photo")


def responder(body: dict) -> Reply:
    """Answer the confusion prompt with A's parts that B lacks (what a model that knows them says)."""
    from engine.demo_world.classes import CLASSES

    m = _ASKED.search(body["messages"][-1]["content"])
    if not m:
        return Reply(json.dumps({"attributes": ["a plain background"]}))
    a, b = m.group(1), m.group(2)
    parts = [p.description for p in CLASSES.get(a, ()) if p not in set(CLASSES.get(b, ()))]
    return Reply(json.dumps({"attributes": parts or ["a plain background"]}))


def degrade(project) -> None:
    """Every class keeps only its first attribute."""
    specs = project.class_specs()
    project.replace_attributes([(cid, list(attrs[:1])) for cid, _n, attrs in specs], mode="replace",
                               source="import", origin="bench_refine: first part only", who="bench")


def accuracy(pred: dict, truth: dict, ids) -> float | None:
    ids = [i for i in ids if i in truth]
    return sum(pred.get(i) == truth[i] for i in ids) / len(ids) if ids else None


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

    from db import Project
    from workflows.demo import PROJECT_NAME, build_demo_project
    from workflows.progress import drive
    from workflows.refine import accept_refinement, confused_pairs, preview_refinement, propose_distinguishing
    from workflows.rescore import rescore
    from workflows.review import decide
    from workflows.settings import load_settings, save_settings

    work = args.dir or Path(tempfile.mkdtemp(prefix="bench-refine-"))
    t0 = time.perf_counter()
    drive(build_demo_project(work, args.images))
    print(f"demo world: {args.images} scenes in {work} ({time.perf_counter() - t0:.0f} s)")
    truth_by_path = {r["path"]: r["class"] for r in json.loads((work / "ground_truth.json").read_text())["images"]}
    server = FakeOllama()
    server.responder = responder
    try:
        with Project.open(work / PROJECT_NAME) as project:
            degrade(project)  # also undoes what an earlier run of this script accepted
            settings = load_settings(project)
            settings.ollama_model = "llama3.2"
            save_settings(project, settings)
            drive(rescore(project, preview=False))
            names = project.class_names_by_id()
            by_name = {n: c for c, n in names.items()}
            rows = project.images(project.image_ids())
            truth = {r.id: by_name[truth_by_path[r.rel_path]] for r in rows if r.rel_path in truth_by_path}
            per_class: dict[int, list[int]] = {}
            for iid in sorted(truth):
                per_class.setdefault(truth[iid], []).append(iid)
            decided = [i for ids in per_class.values() for i in ids[: args.decided]]
            held = [i for i in truth if i not in set(decided)]
            for iid in decided:
                if project.image(iid).review_status != "unreviewed":
                    continue
                pred = project.latest_prediction(iid)
                action = "accepted" if pred is not None and pred.class_id == truth[iid] else "corrected"
                decide(project, [iid], action, class_id=truth[iid], reviewer="bench")
            before_all = project.current_top1()
            print(f"{len(decided)} decided ({args.decided} per class), {len(held)} held out; held-out accuracy "
                  f"with the degraded attribute set: {pct(accuracy(before_all, truth, held))} %")
            pairs = confused_pairs(project, top=args.pairs)
            results = []
            for pair in pairs:
                t1 = time.perf_counter()
                ref = propose_distinguishing(project, pair, host=server.url)
                pv = drive(preview_refinement(project, ref))
                t_preview = time.perf_counter() - t1
                cur = project.current_top1()
                pair_ids = {pair.a, pair.b}
                held_pair = [i for i in held if truth[i] in pair_ids]
                held_before = accuracy(cur, truth, held_pair)
                keep = None if args.accept == "all" else [p for p, eff in pv.per_attribute if eff.fixed > eff.broken]
                if keep is None:
                    kept_pair = pv.together.pair_accuracy
                else:  # the preview of what is kept (nothing kept: as before)
                    kept_pair = drive(preview_refinement(project, keep)).together.pair_accuracy if keep \
                        else pv.before.pair_accuracy
                accept_refinement(project, ref, keep, who="bench")
                drive(rescore(project, preview=False))
                held_after = accuracy(project.current_top1(), truth, held_pair)
                results.append((pair, ref, pv, held_before, held_after, len(held_pair), t_preview, keep, kept_pair))
            after_all = project.current_top1()
    finally:
        server.close()
    print()
    print(f"accept: {args.accept}")
    print(f"{'pair':<22}{'decided confusions':>19}{'new attrs':>10}{'decided pair % (n)':>26}"
          f"{'held-out pair % (n)':>26}{'propose+preview s':>19}")
    for pair, ref, pv, hb, ha, n_held, t, keep, kept_pair in results:
        n_kept = len(ref.attributes) if keep is None else len(keep)
        print(f"{pair.label:<22}{pair.decided:>19}{f'{n_kept}/{len(ref.attributes)}':>10}"
              f"{pct(pv.before.pair_accuracy):>11} -> {pct(kept_pair)} ({pv.n_pair:>3})"
              f"{pct(hb):>11} -> {pct(ha)} ({n_held:>3}){t:>19.1f}")
        for p, eff in pv.per_attribute:
            mark = "kept" if keep is None or p in keep else "left out"
            print(f"    {p.class_name}: {p.text:<34} decided pair % alone: {pct(eff.pair_accuracy)}"
                  f"  fixed {eff.fixed} broken {eff.broken}  {mark}")
    print(f"\nheld-out accuracy, all classes: {pct(accuracy(before_all, truth, held))} -> "
          f"{pct(accuracy(after_all, truth, held))} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
