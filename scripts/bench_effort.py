"""Least effort per correct label (issue #21): a simulated curator who knows the ground truth works
through a demo project with the tool's own use cases, at the key costs the GUI really has.

    .venv/bin/python scripts/bench_effort.py --dir /tmp/demo1400 --images 1400

1. The GUI's costs are MEASURED first: the real Review screen (offscreen Qt) is driven with
   synthetic key presses, and the keys its work accounting stores per decision are read back:
   accept, pick from the top-k, correct by typing (per class: "/" + the shortest prefix the class
   search accepts + Enter), and the clicks of the "Bulk accept with a guarantee" dialog.
2. Scenarios, each on a fresh copy of the demo project (1,400 images, grid mode):
   - type every label: the cost in a tool without pre-labels (typing each image's class);
   - zero-shot only: review every image in the queue order (accept, pick 1-9, or type);
   - + proposed threshold: random audit sample -> vouched threshold -> bulk accept -> review the rest;
   - + learning: audit sample -> learn from it (workflows.learning) -> new random audit sample ->
     vouched threshold -> bulk accept -> review the rest;
   - + active order: as + learning, but the images learned from are the first of the "active"
     queue order (workflows.active_order) instead of a random draw.
   Keys per image = all keys and clicks / images; final accuracy = labels vs ground truth.
3. The guarantee over 200 random audit draws on the demo pool (realised precision of the accepted
   images >= target in at least the promised share of draws).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


# --- 1. the GUI's key costs, measured on the real widgets ------------------------------------------

@dataclass
class Costs:
    accept: int
    pick: int  # a class shown in the top-k (keys 1-9)
    reject: int
    typing: dict[str, int]  # class name -> keys to correct to it by typing
    bulk: int  # clicks of one vouched bulk acceptance (open, draw, propose, accept)
    prefixes: dict[str, str] = field(default_factory=dict)


def measure_gui_costs(class_names: list[str], work: Path) -> Costs:
    from PIL import Image
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication
    from sqlalchemy import select

    from db import Project, ScanRecord
    from db.models import EffortEvent
    from db.store_runs import PredictionWrite
    from desktop.context import AppContext
    from desktop.dialogs.vouch import VouchDialog
    from desktop.review.view import ReviewView

    app = QApplication.instance() or QApplication([])
    root = work / "gui" / "images"
    root.mkdir(parents=True)
    n = len(class_names) + 4
    for i in range(n):
        Image.new("RGB", (64, 48), (40 * (i % 6), 90, 160)).save(root / f"img_{i:03d}.png")
    project = Project.create(work / "gui" / "gui.lazlabel", root)
    ids = project.write_scan_batch([ScanRecord(f"img_{i:03d}.png", 1, 0, width=64, height=48, format="PNG", mode="RGB")
                                    for i in range(n)])
    cids = [project.add_class(c) for c in class_names]
    run = project.create_run(kind="prelabel", model_id="bench", engine_config={}, attribute_set_version="v", n_images=n)
    rows = []
    for k, iid in enumerate(ids):
        order = [cids[(k + j) % len(cids)] for j in range(min(9, len(cids)))]
        rows.append(PredictionWrite(iid, order[0], 0.5, 0.1, [(c, 0.5 - 0.01 * j) for j, c in enumerate(order)]))
    project.write_prediction_batch(run, rows)
    project.update_run(run, status="done", finished=True)
    ctx = AppContext(interactive=False)
    ctx.set_project(project)
    view = ReviewView(ctx)
    view.resize(1200, 800)
    view.show()
    view.activateWindow()
    view.activate()
    app.processEvents()

    def events() -> list[tuple[str, int, int]]:
        with project.session() as s:
            return [(e.action, e.keys, e.clicks) for e in s.scalars(select(EffortEvent).order_by(EffortEvent.id))]

    def key(k: Qt.Key, widget=None) -> None:
        QTest.keyClick(widget or view, k)
        app.processEvents()

    key(Qt.Key.Key_Return)  # accept
    key(Qt.Key.Key_2)  # pick the runner-up
    key(Qt.Key.Key_R)  # reject
    typing: dict[str, int] = {}
    prefixes: dict[str, str] = {}
    for name, cid in zip(class_names, cids):
        state = view.controller.state
        if state is None:
            break
        moved = 0
        if cid == state.predicted_id:  # typing the predicted class would be an accept: next image
            key(Qt.Key.Key_J)
            moved = 1  # the move is stored with the next decision; it is not part of typing
        prefix = next(name[:m] for m in range(1, len(name) + 1) if view.search.match(name[:m]) == cid)
        prefixes[name] = prefix
        before = len(events())
        key(Qt.Key.Key_Slash)
        QTest.keyClicks(view.search, prefix)
        key(Qt.Key.Key_Return, view.search)
        new = events()[before:]
        typing[name] = sum(k + c for _a, k, c in new) - moved
    ev = events()
    accept, pick, reject = (k + c for _a, k, c in ev[:3])
    # the vouched bulk acceptance: the dialog's own clicks (draw, propose) + opening it + accepting
    dlg = VouchDialog(ctx)
    dlg.show()
    app.processEvents()
    QTest.mouseClick(dlg.draw_button, Qt.MouseButton.LeftButton)
    app.processEvents()
    for i in dlg.model.sample.image_ids:
        project.record_decisions([i], "accepted", reviewer="bench")
    dlg.refresh()
    QTest.mouseClick(dlg.propose_button, Qt.MouseButton.LeftButton)
    app.processEvents()
    bulk = dlg.effort.keys + dlg.effort.clicks + 2  # + the button that opens it + the OK button
    dlg.close()
    view.close()
    ctx.cancel_all()
    project.close()
    return Costs(accept, pick, reject, typing, bulk, prefixes)


# --- 2. the simulated curator ------------------------------------------------------------------------

class Curator:
    """Decides images with the ground truth at the measured GUI costs, through the tool's use cases."""

    def __init__(self, project, truth: dict[str, str], costs: Costs) -> None:
        self.p = project
        self.truth = truth
        self.costs = costs
        self.names = project.class_names_by_id()
        self.by_name = {v: k for k, v in self.names.items()}
        self.keys = 0
        self.decided = 0

    def decide(self, image_ids: list[int]) -> None:
        from workflows.review import decide

        if not image_ids:
            return
        rows = {r.id: r for r in self.p.images(image_ids)}
        accept: list[int] = []
        correct: dict[int, list[int]] = {}
        for i in image_ids:
            r = rows[i]
            true = self.by_name[self.truth[r.rel_path]]
            if r.pred_class_id == true:
                accept.append(i)
                self.keys += self.costs.accept
                continue
            topk = [t[0] for t in (self.p.latest_prediction(i).topk or [])][:9]
            self.keys += self.costs.pick if true in topk else self.costs.typing[self.truth[r.rel_path]]
            correct.setdefault(true, []).append(i)
        decide(self.p, accept, "accepted", reviewer="curator")
        for cid, ids in correct.items():
            decide(self.p, ids, "corrected", class_id=cid, reviewer="curator")
        self.decided += len(image_ids)

    def review_rest(self, order: str) -> None:
        from workflows.review import review_queue

        while True:
            rows = review_queue(self.p, order, limit=100_000)
            if not rows:
                return
            self.decide([r.id for r in rows])

    def accuracy(self) -> float:
        rows = self.p.images(self.p.image_ids())
        ok = [r for r in rows if r.status == "ok"]
        right = 0
        for r in ok:
            label = r.label_class_id if r.review_status in ("accepted", "corrected") else r.pred_class_id
            right += self.names.get(label) == self.truth.get(r.rel_path)
        return right / len(ok)


def _copy(src: Path, dst: Path) -> Path:
    from db import Project

    dst.mkdir(parents=True)
    for name in ("demo.lazlabel", "demo.lazlabel.cache"):
        s = src / name
        if s.is_dir():
            shutil.copytree(s, dst / name)
        else:
            shutil.copy2(s, dst / name)
    with Project.open(dst / "demo.lazlabel") as p:  # the images stay where they are
        p.set_setting("image_root", str(src / "images"))
    return dst / "demo.lazlabel"


def _learn(project) -> str:
    import importlib

    from workflows.progress import drive

    learning = importlib.import_module("workflows.learning")  # helper "learn"'s use cases (issue #17)
    res = drive(learning.learn(project, method="attributes", seed=0))
    if res.run_id is not None:
        learning.activate(project, res.run_id)
    return f"learn run #{res.run_id}: cv top-1 {res.cv_zero_shot} -> {res.cv_learned} on {res.n_decisions} decisions"


def _vouch_round(project, cur: Curator, n: int, target: float, confidence: float, seed: int) -> tuple[int, str]:
    from workflows import vouch
    from workflows.errors import UserError

    s = vouch.draw_audit_sample(project, n, seed=seed, reviewer="curator")
    cur.decide(list(s.image_ids))
    try:
        vp = vouch.propose(project, target, confidence)
    except UserError as err:
        return 0, str(err)
    if not vp.accept_ids:
        return 0, vp.summary()
    res = vouch.accept_vouched(project, vp, reviewer="curator", clicks=cur.costs.bulk)
    cur.keys += cur.costs.bulk
    right = sum(cur.names.get(c) == cur.truth[r.rel_path] for r in project.images(vp.accept_ids)
                for c in [vp.expected[r.id][0]])
    return res.n_accepted, f"{vp.summary()}; realised precision {right / res.n_accepted:.1%}"


@dataclass
class Result:
    name: str
    keys: int
    n: int
    accuracy: float
    accepted: int
    note: str

    @property
    def per_image(self) -> float:
        return self.keys / self.n


def run_scenario(kind: str, src: Path, work: Path, truth: dict[str, str], costs: Costs, *, n_audit: int,
                 n_learn: int, target: float, confidence: float, seed: int) -> Result:
    from db import Project

    path = _copy(src, work / f"{kind}-{n_learn}-{n_audit}-{target}-{seed}")
    with Project.open(path) as project:
        cur = Curator(project, truth, costs)
        n = len(project.decision_pool())
        notes: list[str] = []
        accepted = 0
        if kind == "zero-shot":
            cur.review_rest("lowest_confidence")
        elif kind == "threshold":
            accepted, note = _vouch_round(project, cur, n_audit, target, confidence, seed)
            notes.append(note)
            cur.review_rest("lowest_confidence")
        elif kind in ("learning", "active"):
            if kind == "active":
                from workflows.review import review_queue

                cur.decide([r.id for r in review_queue(project, "active", limit=n_learn)])
            else:
                from workflows import vouch

                cur.decide(list(vouch.draw_audit_sample(project, n_learn, seed=seed + 1).image_ids))
            notes.append(_learn(project))
            accepted, note = _vouch_round(project, cur, n_audit, target, confidence, seed)
            notes.append(note)
            cur.review_rest("lowest_confidence")
        label = kind if kind == "zero-shot" else f"{kind} @{target:g} s{seed}"
        return Result(label, cur.keys, n, cur.accuracy(), accepted, " | ".join(notes))


def coverage_table(src: Path, truth: dict[str, str], target: float, confidence: float, sizes: list[int]) -> list[str]:
    from db import Project
    from engine.guarantee import simulate

    with Project.open(src / "demo.lazlabel") as p:
        names = p.class_names_by_id()
        pool = p.decision_pool()
        paths = {r.id: r.rel_path for r in p.images([x.image_id for x in pool])}
    sc = np.array([x.score for x in pool])
    cl = np.array([x.class_id for x in pool])
    ok = np.array([names[x.class_id] == truth[paths[x.image_id]] for x in pool])
    lines = [f"zero-shot pool: {len(pool)} images, top-1 {ok.mean():.1%}; precision of the top 10/30/50%: "
             + "/".join(f"{ok[np.argsort(-sc)[: int(q * len(sc))]].mean():.1%}" for q in (0.1, 0.3, 0.5))]
    lines.append(f"{'audit n':>8} {'target':>7} {'draws':>6} {'met':>5} {'share':>7} {'vouched':>8} {'accepted':>9}")
    for n in sizes:
        for t in sorted({0.95, 0.97, target}):
            c = simulate(sc, cl, ok, n_sample=n, target=t, confidence=confidence, draws=200, seed=n)
            lines.append(f"{n:>8} {t:>7.2f} {c.draws:>6} {c.met:>5} {c.share_met:>7.1%} {c.vouched:>8} "
                         f"{c.mean_accepted:>9.1%}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "lazlabel-demo1400")
    ap.add_argument("--images", type=int, default=1400)
    ap.add_argument("--target", type=float, default=0.98)
    ap.add_argument("--also-targets", default="0.95", help="further targets to try for the threshold scenarios")
    ap.add_argument("--confidence", type=float, default=0.95)
    ap.add_argument("--audit", default="200,400", help="audit sample sizes to try (comma-separated)")
    ap.add_argument("--learn-from", type=int, default=200, help="decisions to learn from before vouching")
    ap.add_argument("--seeds", default="0", help="audit-draw seeds to run each threshold scenario with")
    ap.add_argument("--skip-coverage", action="store_true")
    args = ap.parse_args()

    from workflows.demo import build_demo_project
    from workflows.progress import drive

    t0 = time.perf_counter()
    path = drive(build_demo_project(args.dir, args.images))
    src = path.parent
    truth = {r["path"]: r["class"] for r in json.loads((src / "ground_truth.json").read_text())["images"]}
    with tempfile.TemporaryDirectory(prefix="bench-effort-") as tmp:
        work = Path(tmp)
        from db import Project

        with Project.open(path) as p:
            class_names = list(p.class_names_by_id().values())
        costs = measure_gui_costs(class_names, work)
        print("GUI key costs, measured on the Review screen (keys + clicks stored by its work accounting):")
        print(f"  accept {costs.accept}, pick from the top-9 {costs.pick}, reject {costs.reject}, "
              f"correct by typing {min(costs.typing.values())}-{max(costs.typing.values())} "
              f"(mean {np.mean(list(costs.typing.values())):.2f}; e.g. {next(iter(costs.prefixes.items()))}), "
              f"a vouched bulk acceptance {costs.bulk} clicks")
        n = sum(1 for r in truth)
        type_all = sum(costs.typing[c] for c in truth.values())
        results = [Result("type every label", type_all, n, 1.0, 0, "no pre-labels: '/' + prefix + Enter per image")]
        seeds = [int(x) for x in args.seeds.split(",")]
        kw = dict(target=args.target, confidence=args.confidence, seed=seeds[0])
        results.append(run_scenario("zero-shot", src, work, truth, costs, n_audit=0, n_learn=0, **kw))
        targets = [args.target] + [float(x) for x in args.also_targets.split(",") if x]
        audits = [int(x) for x in args.audit.split(",")]
        for t in targets:
            for a in audits:
                for sd in seeds:
                    results.append(run_scenario("threshold", src, work, truth, costs, n_audit=a, n_learn=0,
                                                **{**kw, "target": t, "seed": sd}))
        import importlib.util

        have_learning = importlib.util.find_spec("workflows.learning") is not None
        if not have_learning:
            have_learning = False
            print("learning: workflows.learning is not available in this checkout: skipped")
        from workflows.review import QUEUE_ORDERS

        for kind in ("learning", "active"):
            if not have_learning or (kind == "active" and "active" not in QUEUE_ORDERS):
                if kind == "active" and have_learning:
                    print("active order: not available in this checkout: skipped")
                continue
            for t in targets:
                for a in audits:
                    for sd in seeds:
                        results.append(run_scenario(kind, src, work, truth, costs, n_audit=a, n_learn=args.learn_from,
                                                    **{**kw, "target": t, "seed": sd}))
        print(f"\n{'scenario':<22} {'audit':>6} {'keys':>6} {'keys/image':>10} {'accepted':>9} {'accuracy':>9}")
        for r in results:
            audit = r.note.split("from ")[1].split(" audited")[0] if " audited" in r.note else "-"
            print(f"{r.name:<22} {audit:>6} {r.keys:>6} {r.per_image:>10.3f} {r.accepted:>9} {r.accuracy:>9.1%}")
        print("\nnotes:")
        for r in results:
            print(f"  {r.name}: {r.note}")
        if not args.skip_coverage:
            print(f"\nthe guarantee over 200 random audit draws (confidence {args.confidence:.0%}; 'met' = realised "
                  "precision of the accepted images >= target, or nothing accepted):")
            for line in coverage_table(src, truth, args.target, args.confidence, [200, 400, 600]):
                print("  " + line)
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
