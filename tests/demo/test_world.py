"""The generated world: deterministic, well-formed, and captions that never leak class names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.demo_world.captions import caption, pseudo_word
from engine.demo_world.classes import CLASS_NAMES, CLASSES, Part, classes_satisfied, descriptors
from engine.demo_world.scenes import EVAL_SEED_BASE, make_scene, render, write_split
from engine.demo_world.train import SEEDS_PER_RUN, ScenePool, TrainConfig, sample_batch


def test_same_seed_same_pixels_and_truth():
    a, b = make_scene(123), make_scene(123)
    assert a == b
    assert np.array_equal(np.asarray(render(a)), np.asarray(render(b)))
    c = make_scene(124)
    assert a.to_json() != c.to_json()


def test_scenes_are_well_formed():
    for seed in range(EVAL_SEED_BASE, EVAL_SEED_BASE + 60):
        s = make_scene(seed)
        assert 96 <= s.size <= 224
        assert 2 <= len(s.parts) <= 4
        own = [p.part for p in s.parts if not p.distractor]
        assert sorted(own) == sorted(CLASSES[s.label])
        # distractors never turn the scene into a second class
        assert classes_satisfied({p.part for p in s.parts}) == [s.label]
        for i, p in enumerate(s.parts):
            x0, y0, x1, y1 = p.box
            assert 0 <= x0 < x1 <= s.size and 0 <= y0 < y1 <= s.size
            for q in s.parts[i + 1:]:  # boxes do not overlap
                assert x1 <= q.box[0] or q.box[2] <= x0 or y1 <= q.box[1] or q.box[3] <= y0
        img = np.asarray(render(s))
        assert img.shape == (s.size, s.size, 3)
        # the part's own colour is actually painted inside its box
        p = s.parts[0]
        crop = img[p.box[1]:p.box[3], p.box[0]:p.box[2]].reshape(-1, 3).astype(int)
        from engine.demo_world.classes import COLOURS

        target = np.array(COLOURS[p.part.colour]) + np.array(p.jitter)
        assert (np.abs(crop - np.clip(target, 0, 255)).sum(1) < 4).mean() > 0.15


def test_classes_share_parts_and_are_distinct():
    sets = {name: frozenset(parts) for name, parts in CLASSES.items()}
    assert 10 <= len(sets) <= 20 and len(set(sets.values())) == len(sets)
    shared = sum(1 for a in sets for b in sets if a < b and sets[a] & sets[b])
    assert shared >= 4  # local evidence has something to separate
    assert all(Part.parse(d) in CLASSES[n] for n, ds in descriptors().items() for d in ds)
    json.dumps(descriptors())  # the DCLIP descriptor-JSON shape


def test_captions_never_contain_class_names():
    rng = np.random.default_rng(0)
    parts = [p for ps in CLASSES.values() for p in ps]
    texts = [caption([parts[int(i)] for i in rng.integers(len(parts), size=int(k))], rng)
             for k in rng.integers(0, 5, size=3000)]
    texts += [pseudo_word(rng) for _ in range(2000)]
    pool = ScenePool(TrainConfig(pool=24, batch=64, seed=3))
    for _ in range(3):
        _, caps, keys = sample_batch(pool, rng, 32)
        texts += caps
        # every caption names exactly the parts its key says
        for c, key in zip(caps, keys):
            for p in key:
                assert p.shape in c and p.colour in c
    low = [t.lower() for t in texts]
    for name in CLASS_NAMES:
        assert not any(name in t for t in low), name
    assert any("which is" in t for t in low) and any("striped" in t for t in low)


def test_training_and_held_out_seeds_never_meet():
    assert (99 + 1) * SEEDS_PER_RUN <= EVAL_SEED_BASE
    with pytest.raises(ValueError):
        from engine.demo_world.train import train

        train(TrainConfig(seed=100, steps=1))


def test_write_split_round_trips(tmp_path):
    recs = write_split(tmp_path, EVAL_SEED_BASE, 5, by_class_folder=True)
    gt = json.loads((tmp_path / "ground_truth.json").read_text())["images"]
    assert gt == recs and len(gt) == 5
    for r in gt:
        assert (tmp_path / r["path"]).is_file() and r["path"].startswith(r["class"] + "/")
