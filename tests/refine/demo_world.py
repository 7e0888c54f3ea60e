"""Confusion refinement on the demo world, end to end (issue #17 item 5): shared by
`scripts/bench_refine.py` (which prints the numbers in docs/architecture.md) and the floor test in
`tests/refine/test_refine_demo.py`, so the test holds what the bench measures.

The demo project's attribute set is degraded the way an incomplete LLM answer would be (every class
keeps only its first part, so zorbit and morvex, kappimon and fennick, ... share their only
attribute), a simulated curator decides the first scenes of each class with the ground truth, and
for the most confused pairs the loopback Ollama server (real `ollama` client, real HTTP) answers
the confusion prompt like a model that knows the classes: the parts of A that B does not have.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.attributes.conftest import FakeOllama, Reply

_ASKED = re.compile(r"tell an? (.+?) apart from an? (.+?) in a photo")


def demo_responder(body: dict[str, Any]) -> Reply:
    """Answer the confusion prompt with A's parts that B lacks (what a model that knows them says)."""
    from engine.demo_world.classes import CLASSES

    m = _ASKED.search(body["messages"][-1]["content"])
    if not m:
        return Reply(json.dumps({"attributes": ["a plain background"]}))
    a, b = m.group(1), m.group(2)
    parts = [p.description for p in CLASSES.get(a, ()) if p not in set(CLASSES.get(b, ()))]
    return Reply(json.dumps({"attributes": parts or ["a plain background"]}))


def degrade(project: Any) -> None:
    """Every class keeps only its first attribute (also undoes what an earlier run accepted)."""
    specs = project.class_specs()
    project.replace_attributes([(cid, list(attrs[:1])) for cid, _n, attrs in specs], mode="replace",
                               source="import", origin="refine demo world: first part only", who="bench")


def accuracy(pred: dict[int, int], truth: dict[int, int], ids: list[int]) -> float | None:
    ids = [i for i in ids if i in truth]
    return sum(pred.get(i) == truth[i] for i in ids) / len(ids) if ids else None


@dataclass
class PairResult:
    pair: Any  # workflows.refine.ConfusedPair
    refinement: Any  # workflows.refine.Refinement
    preview: Any  # workflows.refine.RefinementPreview of every proposal
    kept: list[Any]  # the proposals accepted
    decided_after: float | None  # preview's pair accuracy on decided images with `kept` added
    held_before: float | None  # held-out scenes of the pair's two classes, top-1 before
    held_after: float | None  # ... after accepting and re-scoring
    n_held: int
    seconds: float  # propose + preview


@dataclass
class DemoRefineResult:
    n_decided: int
    n_held: int
    held_before: float | None  # every class, held-out scenes, degraded attribute set
    held_after: float | None  # after every pair's accepted attributes
    pairs: list[PairResult] = field(default_factory=list)
    chats: int = 0  # confusion-prompt requests the loopback server answered


def refine_demo(work: Path, images: int, *, decided: int = 3, pairs: int = 3, accept: str = "all") -> DemoRefineResult:
    """Build (or reuse) the demo in `work`, degrade it, decide `decided` scenes per class, and refine
    the `pairs` most confused pairs. `accept`: "all", or "helpful" (the proposals whose preview alone
    fixes more decided images than it breaks). Changes the demo project (attributes, decisions)."""
    from db import Project
    from workflows.demo import PROJECT_NAME, build_demo_project
    from workflows.progress import drive
    from workflows.refine import accept_refinement, confused_pairs, preview_refinement, propose_distinguishing
    from workflows.rescore import rescore
    from workflows.review import decide
    from workflows.settings import load_settings, save_settings

    if accept not in ("all", "helpful"):
        raise ValueError(f"accept must be 'all' or 'helpful', not {accept!r}")
    drive(build_demo_project(work, images))
    truth_by_path = {r["path"]: r["class"] for r in json.loads((work / "ground_truth.json").read_text())["images"]}
    server = FakeOllama()
    server.responder = demo_responder
    try:
        with Project.open(work / PROJECT_NAME) as project:
            degrade(project)
            settings = load_settings(project)
            settings.ollama_model = "llama3.2"
            save_settings(project, settings)
            drive(rescore(project, preview=False))
            by_name = {n: c for c, n in project.class_names_by_id().items()}
            rows = project.images(project.image_ids())
            truth = {r.id: by_name[truth_by_path[r.rel_path]] for r in rows if r.rel_path in truth_by_path}
            per_class: dict[int, list[int]] = {}
            for iid in sorted(truth):
                per_class.setdefault(truth[iid], []).append(iid)
            chosen = [i for ids in per_class.values() for i in ids[:decided]]
            held = [i for i in truth if i not in set(chosen)]
            for iid in chosen:
                if project.image(iid).review_status != "unreviewed":
                    continue  # decided by an earlier run on this folder
                pred = project.latest_prediction(iid)
                action = "accepted" if pred is not None and pred.class_id == truth[iid] else "corrected"
                decide(project, [iid], action, class_id=truth[iid], reviewer="bench")
            out = DemoRefineResult(len(chosen), len(held), accuracy(project.current_top1(), truth, held), None)
            for pair in confused_pairs(project, top=pairs):
                t0 = time.perf_counter()
                ref = propose_distinguishing(project, pair, host=server.url)
                pv = drive(preview_refinement(project, ref))
                seconds = time.perf_counter() - t0
                held_pair = [i for i in held if truth[i] in (pair.a, pair.b)]
                held_before = accuracy(project.current_top1(), truth, held_pair)
                if accept == "all":
                    kept, decided_after = list(ref.attributes), pv.together.pair_accuracy
                else:
                    kept = [p for p, eff in pv.per_attribute if eff.fixed > eff.broken]
                    decided_after = (drive(preview_refinement(project, kept)).together.pair_accuracy if kept
                                     else pv.before.pair_accuracy)
                accept_refinement(project, ref, kept, who="bench")
                drive(rescore(project, preview=False))
                out.pairs.append(PairResult(pair, ref, pv, kept, decided_after, held_before,
                                            accuracy(project.current_top1(), truth, held_pair), len(held_pair),
                                            seconds))
            out.held_after = accuracy(project.current_top1(), truth, held)
            out.chats = len(server.chats())
    finally:
        server.close()
    return out
