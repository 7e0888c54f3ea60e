#!/usr/bin/env python
"""Accuracy and explanation grounding of every engine mode on held-out demo scenes.

    .venv/bin/python scripts/eval_demo.py                    # shipped model, 280 held-out scenes
    .venv/bin/python scripts/eval_demo.py --model local-dir:/tmp/w --images 140
    .venv/bin/python scripts/eval_demo.py --model demo-sigmoid --modes 3   # clip, dclip, lazsl faithful

Scores use the engine config the pipeline would use for the model: sigmoid-trained models get
their eps calibrated (engine/calibration.py) unless `--cost-scale off`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine.calibration import calibrated  # noqa: E402
from engine.demo_world import DEMO_MODEL_SPEC  # noqa: E402
from engine.demo_world.evaluate import CONTAIN, MODES, evaluate, markdown_table  # noqa: E402
from engine.models import load_model  # noqa: E402
from engine.types import EngineConfig  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEMO_MODEL_SPEC, help="model spec (default: the shipped demo model)")
    ap.add_argument("--images", type=int, default=280, help="held-out scenes (20 per class by default)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--modes", type=int, default=len(MODES),
                    help="evaluate only the first N modes (3 = clip, dclip, lazsl faithful)")
    ap.add_argument("--cost-scale", default="auto", help="eps calibration: auto (as the pipeline), off, or a factor")
    a = ap.parse_args()
    if not 1 <= a.modes <= len(MODES):
        ap.error(f"--modes must be between 1 and {len(MODES)}")
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    model = load_model(a.model, device="cpu")
    try:
        config = calibrated(EngineConfig(extra={"cost_scale": a.cost_scale}), model)
    except ValueError as e:
        ap.error(str(e))
    print(f"model {model.model_id}: eps {config.eps:g}", file=sys.stderr, flush=True)
    results = evaluate(model, n_images=a.images, modes=MODES[:a.modes], config=config,
                       log=lambda m: print(m, file=sys.stderr, flush=True))
    print(markdown_table(results))
    print(f"\n{a.images} held-out scenes (seeds from 1e9, never used in training); grounding: see engine/demo_world/evaluate.py; "
          f"top region = the most-mass region contains >= {CONTAIN:.0%} of the part box; "
          f"pointing = the peak of the attribute mass map is on the part (correct predictions only). "
          f"Total {time.perf_counter() - t0:.0f}s, {a.threads} threads.")
    if a.json:
        a.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
