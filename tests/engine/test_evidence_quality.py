"""Evidence quality floors on held-out demo scenes with the shipped model (the product's own path).

Floors sit below what scripts/eval_evidence.py measures on these same scenes, so a regression in
localisation or presence fails CI. Measured at 42 scenes (see the README, "Evidence").
"""

from __future__ import annotations

import pytest

from engine.cache import FeatureCache
from engine.demo_world.evidence_eval import VIEWS, pointing, presence, write_scenes
from engine.pipeline import encode_images

N_SCENES = 42
#: (pointing floor, chance ceiling, presence AUROC floor) per view mode
FLOORS = {"faithful": (0.70, 0.15, 0.88), "grid": (0.80, 0.15, 0.92)}


@pytest.fixture(scope="module")
def demo_model():
    from engine.models import load_model

    return load_model("demo", device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize("view_name", list(VIEWS))
def test_maps_point_at_the_parts_and_presence_separates(demo_model, tmp_path, view_name):
    view = VIEWS[view_name]
    (tmp_path / "img").mkdir()
    scenes, items = write_scenes(N_SCENES, tmp_path / "img")
    cache = FeatureCache(tmp_path / "cache", demo_model.model_id, view.key())
    for _ in encode_images(demo_model, items, view, cache, batch_size=16):
        pass
    floor, chance_max, auroc_floor = FLOORS[view_name]
    p = pointing(demo_model, scenes, items, cache, view)
    assert p["n"] >= 20 and p["chance"] < chance_max
    assert p["pointing"] >= floor, p
    old = pointing(demo_model, scenes, items, cache, view, method="mass")
    assert p["pointing"] > old["pointing"] + 0.2  # far better than painting the plan's mass on its regions
    pr = presence(demo_model, scenes, items, cache)
    assert pr["auroc"] >= auroc_floor, pr
