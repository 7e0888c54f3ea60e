"""The feature cache is checked, not trusted (issue #13 item 7): a truncated shard, a deleted
cache, half-written parts, `prelabel --force`, `cache verify|clear`."""

from __future__ import annotations

import shutil

from cli.main import main
from engine.cache import FeatureCache
from workflows.progress import drive
from workflows.rescore import rescore


def _shards(project):
    return sorted((project.cache_dir / "features").rglob("*.hashes"))


def _preview_missing(project, cids) -> list[int]:
    """Images a re-score would find uncached (a class toggled so there is something to re-score)."""
    victim = next(iter(cids.values()))
    project.set_class_active(victim, False)
    try:
        return drive(rescore(project, preview=True)).missing
    finally:
        project.set_class_active(victim, True)


def _prelabel(path, capsys, *extra) -> str:
    assert main(["-p", str(path), "prelabel", *extra]) == 0
    return capsys.readouterr().out


def test_truncated_shard_is_removed_and_its_images_encoded_again(engine_project, capsys):
    project, ids, cids = engine_project
    _prelabel(project.location, capsys)
    first = _shards(project)[0]
    regions = first.with_name(first.name.replace(".hashes", ".r.npy"))
    in_shard = set(first.read_text().split())
    n_lost = sum(h in in_shard for h in project.content_hashes(ids).values())  # duplicates share a row
    with open(regions, "r+b") as f:  # a disk hiccup: the file is cut short
        f.truncate(regions.stat().st_size // 2)
    # no "internal error: ValueError: mmap length is greater than file size"
    assert len(_preview_missing(project, cids)) == n_lost
    out = _prelabel(project.location, capsys)
    assert f"re-encoding {n_lost} image(s)" in out
    assert _preview_missing(project, cids) == []


def test_deleted_cache_is_no_dead_end(engine_project, capsys):
    project, ids, cids = engine_project
    _prelabel(project.location, capsys)
    shutil.rmtree(project.cache_dir / "features")
    out = _prelabel(project.location, capsys)  # was: "nothing to do", while audit said "run pre-label first"
    assert f"re-encoding {len(ids)} image(s)" in out and "nothing to do" not in out
    assert _preview_missing(project, cids) == []
    assert "nothing to do" in _prelabel(project.location, capsys)


def test_force_starts_a_new_run_and_encodes_again(engine_project, capsys):
    project, ids, _cids = engine_project
    _prelabel(project.location, capsys)
    out = _prelabel(project.location, capsys, "--force")
    assert f"run #2: {len(ids)} images pre-labelled" in out
    # shards are content-addressed (engine/cache.py): the same bytes encoded again keep their names
    assert "cached feature rows dropped" in out and _shards(project)


def test_verify_finds_a_flipped_byte_and_clear_empties(engine_project, capsys):
    project, ids, _cids = engine_project
    _prelabel(project.location, capsys)
    first = _shards(project)[0]
    glob_ = first.with_name(first.name.replace(".hashes", ".g.npy"))
    data = bytearray(glob_.read_bytes())
    data[-1] ^= 0xFF  # same size: only the checksum can tell
    glob_.write_bytes(bytes(data))
    assert main(["-p", project.location, "cache", "verify"]) == 0
    out = capsys.readouterr().out
    assert "1 damaged shard(s) removed" in out and "checksum" in out
    assert main(["-p", project.location, "cache", "verify"]) == 0
    assert "0 damaged" in capsys.readouterr().out
    assert main(["-p", project.location, "cache", "clear"]) == 0
    assert "feature cache cleared" in capsys.readouterr().out
    assert not (project.cache_dir / "features").exists()
    assert f"re-encoding {len(ids)}" in _prelabel(project.location, capsys)


def test_parts_of_a_writer_that_died_on_a_full_disk_are_swept(tmp_path):
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    c = FeatureCache(tmp_path, "m", "v")
    orphan = c.dir / f"{'a' * 32}p{dead.pid}.g.npy"  # renamed into place, commit record never written
    orphan.write_bytes(b"\x93NUMPY partial")
    alive = c.dir / f"{'b' * 32}p{__import__('os').getpid()}.g.npy"  # a live writer's: left alone
    alive.write_bytes(b"\x93NUMPY in progress")
    tmp = c.dir / f".tmp-p{dead.pid}-{'c' * 32}-x.r.npy"
    tmp.write_bytes(b"half")
    c2 = FeatureCache(tmp_path, "m", "v")
    assert not orphan.exists() and not tmp.exists() and alive.exists()
    assert any("half-written" in r for r in c2.repairs)
