"""Pipeline on a tiny random model: odd and broken images, cache reuse, cancel, scoring methods."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cache import FeatureCache
from engine.evidence import ClassEvidence
from engine.imageio import ImageError, open_rgb
from engine.pipeline import ImageItem, encode_images, prelabel, score_cached
from engine.types import ClassSpec, EngineConfig, ViewConfig

CLASSES = [ClassSpec("zorb", ("a red square", "has a striped texture")), ClassSpec("plim", ("blue circle",)),
           ClassSpec("quax", ())]


def _write_images(d):
    rng = np.random.default_rng(0)
    d.mkdir(exist_ok=True)
    paths = {}

    def arr(h=48, w=64):
        return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)

    Image.fromarray(arr()).save(d / "rgb.png")
    Image.fromarray(arr()).convert("CMYK").save(d / "cmyk.jpg")
    Image.fromarray(arr()).convert("P").save(d / "palette.png")
    Image.fromarray(arr()).convert("LA").save(d / "la.png")
    Image.fromarray((rng.integers(0, 65535, (40, 50))).astype(np.uint16)).save(d / "sixteen.png")
    im = Image.fromarray(arr(30, 70))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90° on display
    im.save(d / "rotated.jpg", exif=exif)
    (d / "empty.jpg").write_bytes(b"")
    (d / "text.jpg").write_text("not an image")
    full = (d / "rgb.png").read_bytes()
    Image.fromarray(arr(200, 200)).save(d / "big.jpg", quality=95)
    (d / "truncated.jpg").write_bytes((d / "big.jpg").read_bytes()[:800])
    (d / "dup.png").write_bytes(full)
    for p in sorted(d.iterdir()):
        paths[p.name] = p
    return paths


def _items(paths):
    import hashlib

    return [ImageItem(name, p, hashlib.sha256(p.read_bytes()).hexdigest()) for name, p in paths.items()]


def test_open_rgb_handles_odd_files(tmp_path):
    paths = _write_images(tmp_path / "img")
    for name in ("rgb.png", "cmyk.jpg", "palette.png", "la.png", "sixteen.png"):
        assert open_rgb(paths[name]).mode == "RGB"
    assert open_rgb(paths["rotated.jpg"]).size == (30, 70)  # EXIF transpose applied
    for name, reason in (("empty.jpg", "empty file"), ("text.jpg", "not an image"), ("truncated.jpg", "truncated")):
        with pytest.raises(ImageError, match=reason):
            open_rgb(paths[name])
    with pytest.raises(ImageError, match="cannot read file"):
        open_rgb(tmp_path / "missing.png")


def test_encode_records_errors_and_reuses_cache(tiny_model, tmp_path):
    paths = _write_images(tmp_path / "img")
    items = _items(paths)
    cache = FeatureCache(tmp_path / "cache", tiny_model.model_id, ViewConfig(n_crops=6).key())
    events = list(encode_images(tiny_model, items, ViewConfig(n_crops=6), cache, batch_size=4))
    errors = {k: v for e in events for k, v in e.errors.items()}
    encoded = [k for e in events for k in e.encoded]
    assert set(errors) == {"empty.jpg", "text.jpg", "truncated.jpg"}
    assert all(errors.values())
    assert set(encoded) == set(paths) - set(errors)
    assert events[-1].done == events[-1].total == len(items)
    assert len(cache) == len(encoded) - 1  # dup.png has rgb.png's content hash
    again = list(encode_images(tiny_model, items, ViewConfig(n_crops=6), cache, batch_size=4))
    assert not any(e.encoded for e in again)
    assert {k for e in again for k in e.cached} == set(encoded)


def test_encoded_features_match_direct_encoding(tiny_model, tmp_path):
    from engine.views import make_views

    paths = _write_images(tmp_path / "img")
    item = next(i for i in _items(paths) if i.key == "rgb.png")
    vc = ViewConfig(n_crops=5)
    cache = FeatureCache(tmp_path / "c", tiny_model.model_id, vc.key())
    list(encode_images(tiny_model, [item], vc, cache))
    v, b = make_views(open_rgb(item.path), item.content_hash, vc, 32, tiny_model.mean, tiny_model.std)
    f = tiny_model.encode_images(v)
    g, r, bx = cache.get([item.content_hash])
    assert torch.allclose(g[0], f[0], atol=2e-3) and torch.allclose(r[0], f[1:], atol=2e-3)
    assert torch.equal(bx[0], b)
    assert cache.sizes([item.content_hash]) == [(64, 48)]


class _Cancel:
    def __init__(self):
        self.cancelled = False


def test_cancel_between_batches_keeps_finished_work(tiny_model, tmp_path):
    paths = _write_images(tmp_path / "img")
    items = [i for i in _items(paths) if i.key in ("rgb.png", "cmyk.jpg", "palette.png", "la.png", "sixteen.png")]
    cache = FeatureCache(tmp_path / "c", tiny_model.model_id, "v")
    cancel = _Cancel()
    got = []
    for ev in encode_images(tiny_model, items, ViewConfig(n_crops=4), cache, batch_size=2, cancel=cancel):
        got.extend(ev.encoded)
        cancel.cancelled = True
    assert len(got) == 2 and len(cache) == 2
    rest = list(encode_images(tiny_model, items, ViewConfig(n_crops=4), cache, batch_size=2))
    assert sorted(k for e in rest for k in e.encoded) == sorted(set(i.key for i in items) - set(got))


@pytest.mark.parametrize("mode", ["random", "grid", "dense"])
def test_prelabel_outputs(tiny_model, tmp_path, mode):
    paths = _write_images(tmp_path / "img")
    items = _items(paths)
    vc = ViewConfig(mode=mode, n_crops=6)
    cache = FeatureCache(tmp_path / "c", tiny_model.model_id, vc.key())
    for method in ("lazsl", "dclip", "clip"):  # the 2nd and 3rd runs read the cache
        _check_prelabel(tiny_model, items, vc, cache, method)


def _check_prelabel(tiny_model, items, vc, cache, method):
    cfg = EngineConfig(method=method, topk=3, explain_top=2, batch_size=4)
    results = list(prelabel(tiny_model, items, CLASSES, cfg, vc, cache))
    scored = [(it, i, br.result) for br in results for i, it in enumerate(br.items)]
    assert len(scored) == len(items) - 3
    assert {k for br in results for k in br.errors} == {"empty.jpg", "text.jpg", "truncated.jpg"}
    for it, i, res in scored:
        assert res.topk_idx.shape[1] == 3 and torch.isfinite(res.topk_scores[i]).all()
        assert (res.topk_scores[i][:-1] >= res.topk_scores[i][1:]).all()
        assert res.margin[i] >= 0
        ex = res.explanations[i]
        assert [e.class_index for e in ex] == res.topk_idx[i, :2].tolist()
        for e in ex:
            back = ClassEvidence.from_json(json.loads(json.dumps(e.to_json())))
            assert back.to_json() == ClassEvidence.from_json(back.to_json()).to_json()
            assert [a.text for a in back.attributes] == [a.text for a in e.attributes]
            if method == "lazsl":
                assert abs(e.score - float(res.topk_scores[i][ex.index(e)])) < 1e-4
                assert abs(sum(a.share for a in e.attributes) - (1.0 if e.support else 0.0)) < 1e-6
                assert e.image_size == open_rgb(it.path).size
                for a in e.attributes:
                    for rg in a.regions:
                        x0, y0, x1, y1 = rg.box
                        assert 0 <= x0 < x1 <= e.image_size[0] + 1e-3 and 0 <= y0 < y1 <= e.image_size[1] + 1e-3
                W, H = e.image_size
                for a in e.attributes:  # every attribute has a map whose peak lies in its box, in the image
                    assert a.map is not None and a.map.values.max() == pytest.approx(1.0)
                    px, py = a.map.peak
                    x0, y0, x1, y1 = a.map.box
                    assert 0 <= x0 <= px <= x1 <= W + 1e-3 and 0 <= y0 <= py <= y1 <= H + 1e-3
                    assert 0.0 <= a.share <= 1.0 and a.presence is not None


def test_rescore_after_attribute_edit_never_reencodes(tiny_model, tmp_path, monkeypatch):
    paths = _write_images(tmp_path / "img")
    items = [i for i in _items(paths) if i.key in ("rgb.png", "cmyk.jpg")]
    vc = ViewConfig(n_crops=6)
    cache = FeatureCache(tmp_path / "c", tiny_model.model_id, vc.key())
    list(encode_images(tiny_model, items, vc, cache))
    monkeypatch.setattr(tiny_model, "encode_images", lambda x: (_ for _ in ()).throw(AssertionError("re-encoded")))
    edited = [ClassSpec("zorb", ("a green triangle",)), *CLASSES[1:]]
    cfg = EngineConfig(topk=2)
    a = score_cached(tiny_model, cache, [i.content_hash for i in items], CLASSES, cfg, return_all=True)
    b = score_cached(tiny_model, cache, [i.content_hash for i in items], edited, cfg, return_all=True)
    assert not torch.allclose(a.all_scores[:, 0], b.all_scores[:, 0])
    assert torch.allclose(a.all_scores[:, 1:], b.all_scores[:, 1:])
    # prefilter to 2 candidates keeps the top-2 scores where the candidates contain them
    p = score_cached(tiny_model, cache, [i.content_hash for i in items], CLASSES, EngineConfig(topk=1, prefilter_k=2))
    assert p.topk_idx.shape == (2, 1)
    with pytest.raises(ValueError, match="no classes"):
        score_cached(tiny_model, cache, [items[0].content_hash], [], cfg)
    with pytest.raises(ValueError, match="unknown method"):
        score_cached(tiny_model, cache, [items[0].content_hash], CLASSES, EngineConfig(method="magic"))


def test_oversized_image_is_refused(tmp_path, monkeypatch):
    import engine.imageio as io

    p = tmp_path / "big.png"
    Image.new("RGB", (40, 30)).save(p)
    monkeypatch.setattr(io, "MAX_PIXELS", 1000)
    with pytest.raises(ImageError, match="too large"):
        open_rgb(p)


def test_dense_mode_needs_patch_tokens(tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(type(tiny_model), "supports_dense", property(lambda self: False))
    cache = FeatureCache(tmp_path / "c", tiny_model.model_id, "dense")
    with pytest.raises(ValueError, match="dense region mode"):
        list(encode_images(tiny_model, [], ViewConfig(mode="dense"), cache))
