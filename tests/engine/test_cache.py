"""Feature cache: round trip, skip of cached rows, mixed region counts, kill safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from engine.cache import FeatureCache

REPO = Path(__file__).resolve().parents[2]


def _batch(hashes, N=5, D=8):
    g = torch.stack([torch.full((D,), float(int(h[1:]))) for h in hashes]) / 100
    r = g[:, None, :].repeat(1, N, 1) + torch.arange(N)[None, :, None] / 1000
    b = torch.stack([float(int(h[1:])) * 1000 + torch.arange(N * 4, dtype=torch.float32).view(N, 4) for h in hashes])
    return g, r, b


def test_round_trip_and_order(tmp_path):
    c = FeatureCache(tmp_path, "random:ViT/B:32#0", "random-n5")
    hs = [f"h{i}" for i in range(10)]
    g, r, b = _batch(hs)
    c.put_batch(hs[:6], g[:6], r[:6], b[:6], image_sizes=[(100 + i, 50) for i in range(6)])
    c.put_batch(hs[6:], g[6:], r[6:], b[6:])
    assert c.missing(["h3", "zz", "h9", "zz"]) == ["zz"]
    order = ["h9", "h0", "h5", "h7"]
    G, R, B = c.get(order)
    idx = [9, 0, 5, 7]
    assert torch.allclose(G, g[idx], atol=1e-3) and torch.allclose(R, r[idx], atol=1e-3) and torch.equal(B, b[idx])
    assert G.dtype == torch.float32
    assert c.sizes(["h2", "h8"]) == [(102, 50), (0, 0)]
    # reopen: same contents from disk
    c2 = FeatureCache(tmp_path, "random:ViT/B:32#0", "random-n5")
    assert len(c2) == 10 and torch.allclose(c2.get(order)[0], G)
    # other model / view key: separate space
    assert FeatureCache(tmp_path, "other", "random-n5").missing(["h1"]) == ["h1"]
    with pytest.raises(KeyError, match="zz"):
        c.get(["h1", "zz"])


def test_half_precision_read_is_the_stored_values(tmp_path):
    """dtype=float16 hands rows over as stored (what float32 reads widen), runs and scattered
    rows, one shard or several, padded region counts included."""
    c = FeatureCache(tmp_path, "m", "v")
    hs = [f"h{i}" for i in range(8)]
    g, r, b = _batch(hs)
    c.put_batch(hs[:5], g[:5], r[:5], b[:5])
    c.put_batch(hs[5:], *_batch(hs[5:], N=3))
    for order in (hs[:5], ["h6", "h1", "h3", "h7", "h0"]):
        G16, R16, B16, M16 = c.get(order, with_mask=True, dtype=torch.float16)
        G32, R32, B32, M32 = c.get(order, with_mask=True)
        assert G16.dtype == R16.dtype == torch.float16 and B16.dtype == torch.float32
        assert torch.equal(G16.float(), G32) and torch.equal(R16.float(), R32)
        assert torch.equal(B16, B32) and torch.equal(M16, M32)


def test_duplicates_are_not_rewritten(tmp_path):
    c = FeatureCache(tmp_path, "m", "v")
    g, r, b = _batch(["h1", "h2"])
    c.put_batch(["h1", "h2"], g, r, b)
    n_files = len(list(c.dir.iterdir()))
    c.put_batch(["h1", "h2"], g * 0, r * 0, b * 0)
    assert len(list(c.dir.iterdir())) == n_files
    assert torch.allclose(c.get(["h1"])[0], g[:1], atol=1e-3)


def test_mixed_region_counts_are_padded_with_mask(tmp_path):
    c = FeatureCache(tmp_path, "m", "v")
    c.put_batch(["h1"], *_batch(["h1"], N=3))
    c.put_batch(["h2"], *_batch(["h2"], N=5))
    G, R, B, M = c.get(["h1", "h2"], with_mask=True)
    assert R.shape == (2, 5, 8) and M.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert (R[0, 3:] == 0).all()


def test_bad_shapes_rejected(tmp_path):
    c = FeatureCache(tmp_path, "m", "v")
    g, r, b = _batch(["h1", "h2"])
    with pytest.raises(ValueError):
        c.put_batch(["h1"], g, r, b)
    with pytest.raises(ValueError):
        c.put_batch(["h1", "h2"], g, r, b[:, :2])
    assert len(c) == 0


def test_debris_of_a_killed_writer_is_ignored(tmp_path):
    c = FeatureCache(tmp_path, "m", "v")
    c.put_batch(["h1"], *_batch(["h1"]))
    (c.dir / ".tmp-abc-x.g.npy").write_bytes(b"half")
    (c.dir / "deadbeef.g.npy").write_bytes(b"no manifest, no other parts")
    (c.dir / "cafe.hashes").write_text("h2\n")  # manifest whose arrays never landed
    c2 = FeatureCache(tmp_path, "m", "v")
    assert c2.missing(["h1", "h2"]) == ["h2"]
    assert not list(c2.dir.glob(".tmp-*"))


def test_sigkill_mid_writes_leaves_readable_cache(tmp_path):
    code = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(REPO)!r})
        from engine.cache import FeatureCache
        from tests.engine.test_cache import _batch
        c = FeatureCache({str(tmp_path)!r}, "m", "v")
        i = 0
        print("ready", flush=True)
        while True:
            hs = [f"h{{i}}", f"h{{i + 1}}"]
            c.put_batch(hs, *_batch(hs, N=40, D=256))
            i += 2
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(1.5)
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    c = FeatureCache(tmp_path, "m", "v")
    assert len(c) > 0
    hs = sorted(c._index, key=lambda h: int(h[1:]))
    G, R, B = c.get(hs)
    g, r, b = _batch(hs, N=40, D=256)
    assert torch.allclose(G, g, atol=1e-2) and torch.allclose(R, r, atol=1e-2) and torch.equal(B, b)
