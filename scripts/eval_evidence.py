"""Does the evidence help a curator decide? Pointing game, presence AUROC and cost, on the demo world.

The demo world knows every part's box and which parts each scene contains. Held-out scenes are
written to disk and go through the product's own path (engine.pipeline.encode_images into a real
FeatureCache, score_cached with explanations, the presence calibration of engine.presence), so
the numbers are the product's:

* pointing: for correctly predicted images, every attribute of the predicted class that the scene
  really contains -- does the peak of its map fall inside the part's true box? Chance = the part
  box's share of the image (a uniformly random point). "mass" is the old overlay (the plan's mass
  painted over its regions), for comparison.
* presence: AUROC of the calibrated presence score between (image, attribute) pairs whose part is
  in the scene and pairs whose part is not, over every class's attributes; precision and recall
  of the "found" label.
* cost (CPU seconds of this process, robust on a shared machine): explanation time per image (patch-token pooling at encode time + plans, maps and
  presence of the top classes) as a fraction of the whole pre-label time, on the demo model and
  on a random-weight ViT-B-32.

    .venv/bin/python scripts/eval_evidence.py [--images 280] [--cost-images 12] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.cache import FeatureCache  # noqa: E402
from engine.demo_world.evidence_eval import VIEWS, cost, pointing, presence, write_scenes  # noqa: E402
from engine.models import load_model  # noqa: E402
from engine.pipeline import encode_images  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=280)
    ap.add_argument("--cost-images", type=int, default=12)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--no-cost", action="store_true", help="skip the cost measurement")
    ap.add_argument("--cost-only", action="store_true", help="only the cost measurement")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    demo = load_model("demo", device="cpu")
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="lazlabel-eval-evidence-") as tmp:
        tmp = Path(tmp)
        (tmp / "img").mkdir()
        scenes, items = write_scenes(args.images, tmp / "img")
        for name, view in ({} if args.cost_only else VIEWS).items():
            cache = FeatureCache(tmp / "cache", demo.model_id, view.key())
            t0 = time.process_time()
            for _ in encode_images(demo, items, view, cache, batch_size=16):
                pass
            print(f"[{name}] encoded {len(items)} images in {time.process_time() - t0:.1f}s", file=sys.stderr)
            new = pointing(demo, scenes, items, cache, view)
            old = pointing(demo, scenes, items, cache, view, method="mass")
            results[name] = {"pointing": new, "pointing_old_mass_overlay": old,
                             "presence": presence(demo, scenes, items, cache)}
        if args.no_cost:
            print(report(results, cost=False))
            return
        print("[cost] demo model", file=sys.stderr)
        results["cost_demo"] = {n: cost(demo, items[: args.cost_images * 4], v, tmp / "cost-demo")
                                for n, v in VIEWS.items()}
        print("[cost] random ViT-B-32", file=sys.stderr)
        b32 = load_model("random:ViT-B-32", device="cpu")
        results["cost_vit_b32"] = {n: cost(b32, items[: args.cost_images], v, tmp / "cost-b32", repeats=2)
                                   for n, v in VIEWS.items()}
    print(report(results, quality=not args.cost_only))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


def report(r: dict, cost: bool = True, quality: bool = True) -> str:
    lines = [] if not quality else ["| view mode | top-1 % | pointing % (n) | chance % | old mass overlay % | presence AUROC "
             "(raw) | found: precision / recall % | absent judged not found % | present judged found or weak % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in VIEWS if quality else ():
        p, o, pr = r[name]["pointing"], r[name]["pointing_old_mass_overlay"], r[name]["presence"]
        lines.append(f"| {name} | {100 * p['accuracy']:.1f} | {100 * p['pointing']:.1f} ({p['n']}) | "
                     f"{100 * p['chance']:.1f} | {100 * o['pointing']:.1f} | {pr['auroc']:.3f} ({pr['auroc_raw']:.3f}) | "
                     f"{100 * pr['found_precision']:.1f} / {100 * pr['found_recall']:.1f} | "
                     f"{100 * pr['absent_not_found']:.1f} | {100 * pr['present_found_or_weak']:.1f} |")
    if not cost:
        return "\n".join(lines)
    lines += ["", "| model | view mode | pre-label s/image | explanation s/image | fraction |", "|---|---|---:|---:|---:|"]
    for key, label in (("cost_demo", "demo (5.7 M)"), ("cost_vit_b32", "random ViT-B-32")):
        for name in VIEWS:
            c = r[key][name]
            lines.append(f"| {label} | {name} | {c['prelabel_s_per_image']:.4f} | {c['explain_s_per_image']:.4f} | "
                         f"{100 * c['fraction']:.1f}% |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
