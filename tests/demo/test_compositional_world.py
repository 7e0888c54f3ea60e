"""The compositional demo world: a fixed pair table, deterministic scenes, dots seen only up close."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from engine.demo_world import compositional as cw
from engine.demo_world.scenes import render


def test_pair_table_is_fixed_and_balanced():
    assert len(cw.ALL_PAIRS) == len(cw.STATES) * len(cw.OBJECTS) == 42
    seen, unseen, infeasible = set(cw.SEEN_PAIRS), set(cw.UNSEEN_PAIRS), set(cw.INFEASIBLE_PAIRS)
    assert (len(seen), len(unseen), len(infeasible)) == (18, 12, 12)
    assert seen | unseen | infeasible == set(cw.ALL_PAIRS)
    assert not (seen & unseen) and not (seen & infeasible) and not (unseen & infeasible)
    for s in cw.STATES:  # every primitive is trained on at least twice and tested unseen at least once
        assert sum(p.state == s for p in seen) >= 2 and any(p.state == s for p in unseen)
    for o in cw.OBJECTS:
        assert sum(p.object == o for p in seen) >= 2 and any(p.object == o for p in unseen)
    assert cw.pair_by_name("dotted circle") == cw.Pair("dotted", "circle")
    assert cw.Pair("dotted", "circle").part == cw.Part("orange", "circle", "dotted")
    assert cw.Pair("red", "star").part == cw.Part("red", "star")


def test_scenes_are_deterministic_and_splits_hold_their_pairs():
    a = [(p, render(s)) for p, s in cw.iter_scenes("val", 4)]
    b = [(p, render(s)) for p, s in cw.iter_scenes("val", 4)]
    assert [p for p, _ in a] == [p for p, _ in b]
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for (_, x), (_, y) in zip(a, b, strict=True))
    train = {p for p, _ in cw.iter_scenes("train", 2 * len(cw.SEEN_PAIRS))}
    assert train == set(cw.SEEN_PAIRS)
    test = {p for p, _ in cw.iter_scenes("test", len(cw.FEASIBLE_PAIRS))}
    assert test == set(cw.FEASIBLE_PAIRS)


def test_main_object_is_the_pair_and_context_parts_other_shapes():
    for pair, scene in cw.iter_scenes("test", 30):
        main, *context = scene.parts
        assert main.part == pair.part and not main.distractor
        assert all(c.part.shape != pair.object and c.distractor for c in context)
        assert (main.box[2] - main.box[0]) > 2 * max((c.box[2] - c.box[0] for c in context), default=0)


def _contrast_inside(pair: cw.Pair, seed: int) -> tuple[float, float]:
    """Luminance spread inside the main object: at the demo model's 64 px input, and in a close crop."""
    scene = cw.make_scene(seed, pair)
    img = render(scene)
    x0, y0, x1, y1 = scene.parts[0].box
    m = (x1 - x0) // 4
    f = 64 / scene.size
    small = np.asarray(img.resize((64, 64), Image.BICUBIC).convert("L"), dtype=float)
    far = small[int((y0 + m) * f):int((y1 - m) * f), int((x0 + m) * f):int((x1 - m) * f)].std()
    crop = img.crop((x0, y0, x1, y1)).resize((64, 64), Image.BICUBIC)
    near = np.asarray(crop.convert("L"), dtype=float)[16:48, 16:48].std()
    return float(far), float(near)


def test_dots_are_visible_only_up_close_and_stripes_at_both_scales():
    dots = np.array([_contrast_inside(cw.Pair("dotted", "square"), k) for k in range(8)]).mean(0)
    stripes = np.array([_contrast_inside(cw.Pair("striped", "square"), k) for k in range(8)]).mean(0)
    assert dots[1] > 2.5 * dots[0]  # measured 30 vs 8
    assert stripes[0] > 3 * dots[0] and stripes[1] < 1.5 * stripes[0]


def test_write_split_records_state_object_and_seen(tmp_path):
    recs = cw.write_split(tmp_path, "test", 6, by_class_folder=True)
    gt = json.loads((tmp_path / "ground_truth.json").read_text())
    assert gt["world"]["unseen_pairs"] == [p.name for p in cw.UNSEEN_PAIRS]
    for rec in recs:
        pair = cw.Pair(rec["state"], rec["object"])
        assert rec["class"] == pair.name and rec["seen"] == (pair in cw.SEEN_PAIRS)
        assert rec["path"].startswith(f"{pair.state}_{pair.object}/") and (tmp_path / rec["path"]).is_file()
