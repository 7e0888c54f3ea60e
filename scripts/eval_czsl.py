#!/usr/bin/env python
"""The standard CZSL numbers (seen, unseen, HM, AUC; closed and open world) on the compositional demo world.

    .venv/bin/python scripts/eval_czsl.py                       # zero-shot routes, shipped demo model
    .venv/bin/python scripts/eval_czsl.py --views grid --per-pair 4
    .venv/bin/python scripts/eval_czsl.py --routes clip marginals --json out.json
    .venv/bin/python scripts/eval_czsl.py --with msci           # + MSCI trained on the seen pairs

Routes: clip (pair prompts), lazsl (union of state and object attributes), dclip, marginals
(p(state) x p(object)); learned routes register themselves through `--with MODULE`: the module
`engine.<MODULE>.czsl_route` (or `engine.<MODULE>`) must define `register(register_scorer)`, which
calls `engine.compose_eval.register_scorer(name, description, scorer)` (the hook for helper "msci").
The open-world feasibility threshold is chosen on the validation split (best open-world HM), as
in CompCos. Numbers and protocol: engine/czsl.py, engine/compose_eval.py.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine import compose_eval as ce  # noqa: E402
from engine.czsl import feasibility_mask  # noqa: E402
from engine.demo_world import DEMO_MODEL_SPEC  # noqa: E402
from engine.models import load_model  # noqa: E402
from engine.types import EngineConfig, ViewConfig, view_mode  # noqa: E402


def _hook(name: str) -> None:
    """Let a learned route register itself (see the module docstring)."""
    for mod in (f"engine.{name}.czsl_route", f"engine.{name}"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError:
            continue
        if hasattr(m, "register"):
            m.register(ce.register_scorer)
            return
    raise SystemExit(f"--with {name}: no engine.{name}.czsl_route.register (or engine.{name}.register) on this branch")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEMO_MODEL_SPEC, help="model spec (default: the shipped demo model)")
    ap.add_argument("--per-pair", type=int, default=7, help="test images per pair (30 pairs occur; default 7)")
    ap.add_argument("--val-per-pair", type=int, default=3, help="validation images per pair (feasibility threshold)")
    ap.add_argument("--views", default="random", help="region mode: random (the published 90 crops), grid, dense")
    ap.add_argument("--routes", nargs="+", help="routes to evaluate (default: all registered)")
    ap.add_argument("--with", dest="with_", nargs="+", default=[], metavar="MODULE", help="learned routes, e.g. msci")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--cache", type=Path, help="folder keeping the encoded features between runs")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name in a.with_:
        _hook(name)
    routes = a.routes or list(ce.SCORERS)
    unknown = [r for r in routes if r not in ce.SCORERS]
    if unknown:
        ap.error(f"unknown route(s) {', '.join(unknown)} (one of: {', '.join(ce.SCORERS)})")
    t0 = time.perf_counter()
    model = load_model(a.model, device="cpu")
    view_cfg = ViewConfig(mode=view_mode(a.views).engine_mode)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    test = ce.cached_encode(model, ce.make_set("test", a.per_pair), view_cfg, a.cache, "test")
    val = ce.cached_encode(model, ce.make_set("val", a.val_per_pair), view_cfg, a.cache, "val")
    log(f"encoded {len(test.images)} test + {len(val.images)} val images ({a.views}) in "
        f"{test.encode_seconds + val.encode_seconds:.0f}s")
    classes = ce.pair_classes()
    config = EngineConfig()
    feas = ce.compcos_feasibility(model)
    results = []
    for name in routes:
        val_scores = ce.SCORERS[name][1](model, val, classes, config)
        thr = ce.feasibility_threshold(feas, val.seen, val_scores, val.labels)
        mask = feasibility_mask(feas, test.seen, thr)
        r = ce.evaluate_route(name, model, test, classes, config, mask)
        r.extra = {"feasibility_threshold": thr, "open_candidates": int(mask.sum())}
        results.append(r)
        log(f"{name}: {r.seconds:.1f}s")
    print(ce.markdown_table(results))
    kept = ", ".join(f"{r.name} {r.extra['open_candidates']}" for r in results)
    print(f"\n{len(test.images)} test images ({a.per_pair} per pair; {int(test.seen.sum())} seen, "
          f"{int((test.feasible & ~test.seen).sum())} unseen pairs; closed world: the {int(test.feasible.sum())} pairs "
          f"that occur; open world: all {len(test.pairs)}); S/U = best seen/unseen accuracy on the calibration-bias "
          f"curve, HM = best harmonic mean, AUC = area under the curve (%). Feasibility: CompCos-style from the "
          f"model's text embeddings, threshold chosen on {len(val.images)} validation images "
          f"(candidate pairs kept: {kept}). "
          f"Model {model.model_id}, views {a.views}; total {time.perf_counter() - t0:.0f}s, {a.threads} threads.")
    if a.json:
        a.json.write_text(json.dumps([{**asdict(r)} for r in results], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
