#!/usr/bin/env python
"""Train the demo world's tiny CLIP and write it in open_clip's local-dir layout.

    .venv/bin/python scripts/train_demo_model.py                  # -> engine/demo_world/weights/
    .venv/bin/python scripts/train_demo_model.py --out /tmp/w --steps 50   # quick smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.demo_world import WEIGHTS_DIR  # noqa: E402
from engine.demo_world.train import TrainConfig, save, train  # noqa: E402


def main() -> int:
    d = TrainConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    ap.add_argument("--steps", type=int, default=d.steps)
    ap.add_argument("--batch", type=int, default=d.batch)
    ap.add_argument("--lr", type=float, default=d.lr)
    ap.add_argument("--seed", type=int, default=d.seed)
    ap.add_argument("--threads", type=int, default=d.threads)
    ap.add_argument("--pool", type=int, default=d.pool)
    ap.add_argument("--max-minutes", type=float, default=18.0,
                    help="time budget; the LR schedule fits itself in it (0 = fixed --steps)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="measure the budget in wall time or in this process's CPU time (shared machines)")
    ap.add_argument("--wall-cap-minutes", type=float, help="with --clock cpu: also stop by this wall time")
    ap.add_argument("--loss", choices=("softmax", "sigmoid"), default=d.loss,
                    help="softmax CLIP loss, or SigLIP's pairwise sigmoid loss (learnable logit bias)")
    ap.add_argument("--init-from", type=Path, help="continue from weights written by an earlier run")
    a = ap.parse_args()
    cfg = TrainConfig(steps=a.steps, batch=a.batch, lr=a.lr, seed=a.seed, threads=a.threads, pool=a.pool,
                      loss=a.loss)
    model, stats = train(cfg, log=lambda m: print(m, flush=True), max_seconds=a.max_minutes * 60 or None,
                         clock=a.clock, init_from=a.init_from,
                         wall_cap_seconds=a.wall_cap_minutes * 60 if a.wall_cap_minutes else None)
    path = save(model, a.out, stats, loss=a.loss)
    stats["weights_bytes"] = path.stat().st_size
    (a.out / "training.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(json.dumps({k: v for k, v in stats.items() if k != "config"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
