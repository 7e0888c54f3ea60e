"""Encoding reports progress per forward pass and stops within one pass when cancelled (#14 item 8).

Passes are counted on the real tiny model (its `encode_images` wrapped to count calls); the cache a
cancel leaves behind is checked with `FeatureCache.verify`, the check `lazlabel cache verify` runs.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from engine import pipeline
from engine.cache import FeatureCache
from engine.pipeline import ImageItem, encode_images
from engine.types import ViewConfig

VIEWS = ViewConfig(mode="random", n_crops=9)  # 10 views per image
PER_PASS = 16  # views per forward pass in these tests: a batch of 8 images is 5 passes


def _items(d, n=8, seed=1):
    rng = np.random.default_rng(seed)
    d.mkdir()
    out = []
    for i in range(n):
        p = d / f"im{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 52, 3), dtype=np.uint8)).save(p)
        out.append(ImageItem(f"im{i}", p, hashlib.sha256(p.read_bytes()).hexdigest()))
    return out


class _CancelAfterPasses:
    """A cancel flag that the model sets itself once it has run `n` forward passes."""

    def __init__(self, model, n, monkeypatch):
        self.passes = 0
        self.cancelled = False
        real = model.encode_images

        def counted(x):
            self.passes += 1
            if self.passes == n:
                self.cancelled = True  # set while the pass runs: the next one must not start
            return real(x)

        monkeypatch.setattr(model, "encode_images", counted)


@pytest.fixture
def small_passes(monkeypatch):
    monkeypatch.setattr(pipeline, "ENCODE_VIEWS_PER_PASS", PER_PASS)


def test_progress_moves_within_a_batch(tiny_model, tmp_path, small_passes):
    items = _items(tmp_path / "img")
    cache = FeatureCache(tmp_path / "c", tiny_model.model_id, VIEWS.key())
    events = list(encode_images(tiny_model, items, VIEWS, cache, batch_size=8))
    inside = [e.in_flight for e in events if e.in_flight]
    stored = [e for e in events if e.encoded]
    # 80 views in passes of 16: after each pass but the last, the images encoded whole so far
    assert inside == [1, 3, 4, 6]
    assert len(stored) == 1 and len(stored[0].encoded) == 8 and stored[0].done == 8
    assert all(not e.encoded and not e.errors and e.done == 0 for e in events if e.in_flight)


@pytest.mark.parametrize("stop_after", [1, 3])
def test_cancel_between_passes_stops_within_one_pass(tiny_model, tmp_path, small_passes, monkeypatch, stop_after):
    items = _items(tmp_path / "img")
    cache = FeatureCache(tmp_path / "c", tiny_model.model_id, VIEWS.key())
    cancel = _CancelAfterPasses(tiny_model, stop_after, monkeypatch)
    events = list(encode_images(tiny_model, items, VIEWS, cache, batch_size=8, cancel=cancel))
    assert cancel.passes == stop_after  # no pass starts after the cancel
    whole = stop_after * PER_PASS // 10  # images with every view through the encoder
    stored = [k for e in events for k in e.encoded]
    assert stored == [f"im{i}" for i in range(whole)]  # a smaller final shard, in order
    assert len(cache) == whole
    check = cache.verify()  # what `lazlabel cache verify` runs: sizes and sha256 sums of every shard
    assert not check.damaged and check.rows == whole
    # the next run encodes exactly the rest, and the cached rows read back whole
    rest = [k for e in encode_images(tiny_model, items, VIEWS, cache, batch_size=8) for k in e.encoded]
    assert sorted(rest) == sorted({it.key for it in items} - set(stored))
    g, r, b = cache.get([it.content_hash for it in items])
    assert g.shape[0] == 8 and r.shape[1] == 9


def test_cancel_before_a_batch_encodes_nothing_of_it(tiny_model, tmp_path, small_passes, monkeypatch):
    items = _items(tmp_path / "img")
    cache = FeatureCache(tmp_path / "c", tiny_model.model_id, VIEWS.key())
    cancel = _CancelAfterPasses(tiny_model, 5, monkeypatch)  # the last pass of batch 1
    got = [k for e in encode_images(tiny_model, items + _items(tmp_path / "more", seed=2), VIEWS, cache, batch_size=8,
                                    cancel=cancel) for k in e.encoded]
    assert cancel.passes == 5 and len(got) == 8 and len(cache) == 8  # batch 2 was decoded, never encoded
    assert not cache.verify().damaged
