"""The feature cache as a store several machines share (issue #20 item 3): a configurable root,
content-addressed shards (two writers never overwrite each other), debris swept only by its own host."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from engine import cache as cache_mod
from engine.cache import FeatureCache, StoreError, store_root


def _batch(hashes, N=4, D=8, shift=0.0):
    g = torch.stack([torch.full((D,), float(int(h[1:]))) for h in hashes]) / 100 + shift
    r = g[:, None, :].repeat(1, N, 1) + torch.arange(N)[None, :, None] / 1000
    b = torch.zeros(len(hashes), N, 4)
    return g, r, b


def test_store_root_reads_paths_and_file_urls(tmp_path):
    default = tmp_path / "beside"
    assert store_root(None, default) == default and store_root("  ", default) == default
    assert store_root(str(tmp_path / "shared"), default) == tmp_path / "shared"
    assert store_root(f"file://{tmp_path}/with%20space", default) == tmp_path / "with space"
    assert store_root("~/feat", default) == Path.home() / "feat"
    with pytest.raises(StoreError, match="s3:// is not supported; mount it"):
        store_root("s3://bucket/features", default)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(StoreError, match="not a folder"):
        store_root(str(tmp_path / "afile"), default)


def test_same_batch_twice_is_one_shard_and_different_bytes_two(tmp_path):
    hs = ["h1", "h2", "h3"]
    a, b = FeatureCache(tmp_path, "m", "v"), FeatureCache(tmp_path, "m", "v")  # two machines, one store
    a.put_batch(hs, *_batch(hs))
    b.put_batch(hs, *_batch(hs))  # b has not seen a's shard: the same bytes get the same key
    assert len(list(a.dir.glob("*.hashes"))) == 1
    b.put_batch(hs, *_batch(hs, shift=0.25))  # b's index now skips them: nothing written
    (first,) = a.dir.glob("*.hashes")
    c = FeatureCache(tmp_path, "m", "v")
    first.unlink()  # forget it (as `drop` would)...
    c = FeatureCache(tmp_path, "m", "v")
    c.put_batch(hs, *_batch(hs, shift=0.25))  # ...and other bytes for the same images: another key
    names = {p.name for p in c.dir.glob("*.hashes")}
    a.put_batch(["h4"], *_batch(["h4"]))
    assert len(names) == 1 and first.name not in names and len(FeatureCache(tmp_path, "m", "v")) == 4
    assert torch.allclose(FeatureCache(tmp_path, "m", "v").get(hs)[0], _batch(hs, shift=0.25)[0], atol=1e-3)


def test_refresh_indexes_what_another_process_committed(tmp_path):
    reader = FeatureCache(tmp_path, "m", "v")
    writer = FeatureCache(tmp_path, "m", "v")
    writer.put_batch(["h1", "h2"], *_batch(["h1", "h2"]))
    assert reader.missing(["h1", "h2"]) == ["h1", "h2"]
    assert reader.refresh() == 2 and reader.missing(["h1", "h2"]) == []
    assert reader.refresh() == 0
    assert torch.allclose(reader.get(["h2"])[0], _batch(["h2"])[0], atol=1e-3)


def test_debris_of_another_host_is_left_to_it(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    c = FeatureCache(tmp_path, "m", "v")
    other = "0" * 8 if cache_mod._HOST != "0" * 8 else "1" * 8
    theirs = c.dir / f".tmp-p{dead.pid}h{other}-{'c' * 32}-x.g.npy"  # in flight on another machine
    theirs.write_bytes(b"half")
    mine = c.dir / f".tmp-p{dead.pid}h{cache_mod._HOST}-{'d' * 32}-x.g.npy"  # our dead writer's
    mine.write_bytes(b"half")
    FeatureCache(tmp_path, "m", "v")
    assert theirs.exists() and not mine.exists()
    old = time.time() - cache_mod._ORPHAN_AGE_S - 60
    os.utime(theirs, (old, old))  # long gone by now, whoever wrote it
    FeatureCache(tmp_path, "m", "v")
    assert not theirs.exists()


def test_shards_of_the_old_naming_still_read(tmp_path):
    c = FeatureCache(tmp_path, "m", "v")
    c.put_batch(["h1", "h2"], *_batch(["h1", "h2"]))
    (sid,) = [p.name[: -len(".hashes")] for p in c.dir.glob("*.hashes")]
    old = f"{'e' * 32}p{os.getpid()}"
    for f in sorted(c.dir.glob(f"{sid}.*"), key=lambda f: f.name.endswith(".hashes")):  # commit record last
        f.rename(f.with_name(f.name.replace(sid, old)))
    again = FeatureCache(tmp_path, "m", "v")
    assert len(again) == 2 and not again.repairs
    assert torch.allclose(again.get(["h1"])[0], _batch(["h1"])[0], atol=1e-3)
