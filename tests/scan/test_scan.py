"""Folder scan on real files: broken corpus, odd names and links, re-scan semantics, cancel,
kill -9 mid-scan, permissions, lazy content hashes."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from PIL.Image import DecompressionBombWarning
from sqlalchemy import insert

from db import ImageFilter, Project
from db.models import LabelClass
from db.store_images import error_kind
from tests.scan.corpus import CASES, make_corpus, noise, save
from workflows.imagefiles import SMALL_FILE, hash_file, probe
from workflows.progress import Cancelled, CancelToken, drive
from workflows.scan import ensure_content_hash, scan_folder

REPO = Path(__file__).resolve().parents[2]


def _scan(project, **kw):
    return drive(scan_folder(project, **kw))


def _rows(project):
    return {r.rel_path: r for r in project.page_images(limit=10_000)}


def _small_pngs(root: Path, n: int, prefix: str = "img") -> None:
    for i in range(n):
        d = root / f"d{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        noise((4, 4), seed=i).save(d / f"{prefix}_{i:04d}.png")


# --- probes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(CASES))
def test_probe_reports_status_and_reason(tmp_path, rel):
    build, status, what = CASES[rel]
    path = build(tmp_path / rel)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DecompressionBombWarning)  # the scan silences it the same way
        p = probe(path)
    assert p.status == status, p
    if status == "ok":
        assert p.mode == what and p.error is None and p.width and p.height
    else:
        assert error_kind(p.error) == what, p.error


def test_exif_rotation_applies_to_reported_size(tmp_path):
    from tests.scan.corpus import exif_rotated_jpeg

    p = probe(exif_rotated_jpeg(tmp_path / "r.jpg", (40, 20), orientation=6))
    assert (p.width, p.height) == (20, 40)
    p = probe(exif_rotated_jpeg(tmp_path / "m.jpg", (40, 20), orientation=2))  # mirror: no swap
    assert (p.width, p.height) == (40, 20)


# --- scan -------------------------------------------------------------------------------------------


def test_scan_records_every_file_with_its_reason(project):
    expected = make_corpus(project.image_root)
    res = _scan(project)
    assert res.seen == len(expected) and res.added == len(expected)
    rows = _rows(project)
    assert set(rows) == set(expected)
    for rel, (status, what) in expected.items():
        r = rows[rel]
        assert r.status == status, (rel, r.error)
        if status == "error":
            assert error_kind(r.error) == what, (rel, r.error)
        else:
            assert r.mode == what
    assert (rows["good/rotated.jpg"].width, rows["good/rotated.jpg"].height) == (20, 40)
    assert (rows["bad/bomb_warn.png"].width, rows["bad/bomb_warn.png"].height) == (10_000, 10_000)
    n_err = sum(1 for s, _ in expected.values() if s == "error")
    c = project.counts()
    assert (c["ok"], c["error"], res.errors) == (len(expected) - n_err, n_err, n_err)
    assert c["errors_by_reason"]["truncated"] == 5
    # small files were read whole anyway, so they are hashed for free, and correctly
    assert rows["good/photo.jpg"].content_hash == hash_file(project.image_root / "good/photo.jpg")


def test_odd_names_links_hidden_files_and_own_cache(tmp_path):
    root = tmp_path / "imgs"
    save(root / "a/one.png", noise((5, 5)), "PNG")
    raw_name = os.fsencode(str(root / "a")) + b"/caf\xe9_\xff.png"  # not valid UTF-8
    with open(raw_name, "wb") as f:
        f.write((root / "a/one.png").read_bytes())
    os.symlink("..", root / "a/loop")  # a/loop -> root: a loop
    os.symlink(root / "a", root / "alias")  # a second link to a folder: scanned once
    os.symlink(root / "nowhere.png", root / "dangling.png")
    save(root / ".hidden.png", noise((5, 5)), "PNG")
    save(root / ".thumbs/t.png", noise((5, 5)), "PNG")
    (root / "readme.txt").write_text("not scanned")
    proj = Project.create(root / "p.lazlabel", root)  # project inside its own image folder
    save(proj.cache_dir / "thumb.png", noise((5, 5)), "PNG")  # our cache must not be scanned
    try:
        res = _scan(proj)
        rows = _rows(proj)
        assert set(rows) == {"a/one.png", "a/caf\\xe9_\\xff.png", "dangling.png"}
        assert rows["dangling.png"].error == "broken symlink"
        skipped = dict(res.skipped)
        assert "a/loop" in skipped and "alias" in skipped
        odd = rows["a/caf\\xe9_\\xff.png"]
        assert odd.status == "ok"
        path = proj.image_path(odd.id)
        assert os.fsencode(path) == raw_name and path.read_bytes() == (root / "a/one.png").read_bytes()
        assert _scan(proj).unchanged == 2  # the error row (dangling) is re-checked each time
    finally:
        proj.close()


def test_escaped_name_clash_is_skipped_not_fatal(project):
    root = project.image_root
    save(root / "caf\\xe9.png", noise((4, 4)), "PNG")  # a literal backslash sequence, valid UTF-8
    with open(os.fsencode(str(root)) + b"/caf\xe9.png", "wb") as f:  # the raw byte 0xe9
        f.write((root / "caf\\xe9.png").read_bytes())
    save(root / "z.png", noise((4, 4)), "PNG")
    res = _scan(project)
    assert project.count_images() == 2 and res.seen == 2
    assert any("clashes" in why for _p, why in res.skipped)


def test_rescan_detects_added_removed_changed_and_keeps_decisions(project):
    root = project.image_root
    for name in ["keep.png", "change.png", "remove.png", "other.png"]:
        save(root / name, noise((8, 8), seed=len(name)), "PNG")
    _scan(project)
    with project.session() as s:
        s.execute(insert(LabelClass), [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}])
    ids = {r.rel_path: r.id for r in project.page_images()}
    for name in ["keep.png", "change.png", "remove.png"]:
        project.record_decisions([ids[name]], "corrected", class_id=2, reviewer="ana")
    stat_removed = os.stat(root / "remove.png")
    removed_bytes = (root / "remove.png").read_bytes()

    save(root / "new.png", noise((8, 8), seed=99), "PNG")
    (root / "remove.png").unlink()
    save(root / "change.png", noise((12, 9), seed=5), "PNG")
    os.utime(root / "change.png", ns=(stat_removed.st_atime_ns, stat_removed.st_mtime_ns + 10**9))
    res = _scan(project)
    assert (res.added, res.changed, res.missing, res.unchanged) == (1, 1, 1, 2)
    rows = _rows(project)
    assert rows["remove.png"].status == "missing"
    assert (rows["change.png"].width, rows["change.png"].height) == (12, 9)
    assert rows["change.png"].content_hash == hash_file(root / "change.png")
    for name in ["keep.png", "remove.png"]:
        lab = project.current_label(ids[name])
        assert (lab.class_id, lab.review_status) == (2, "corrected"), name
    assert len(project.decision_history(ids["remove.png"])) == 1
    # new bytes: back in review, the decision kept as stale history (issue #13 item 2)
    assert res.stale_decisions == 1
    lab = project.current_label(ids["change.png"])
    assert (lab.class_id, lab.review_status) == (None, "unreviewed")
    assert [(d.action, d.stale) for d in project.decision_history(ids["change.png"])] == [
        ("corrected", True), ("stale", False)]

    # the file comes back unchanged: same row, status ok again, decision still there
    (root / "remove.png").write_bytes(removed_bytes)
    os.utime(root / "remove.png", ns=(stat_removed.st_atime_ns, stat_removed.st_mtime_ns))
    res = _scan(project)
    assert (res.added, res.refreshed, res.missing) == (0, 1, 0)
    back = _rows(project)["remove.png"]
    assert (back.id, back.status, back.label_class_id) == (ids["remove.png"], "ok", 2)
    assert project.count_images() == 5


def test_missing_image_folder_is_a_user_error(project):
    from workflows.errors import UserError

    shutil.rmtree(project.image_root)
    with pytest.raises(UserError, match="does not exist"):
        _scan(project)


def test_cancel_between_batches_keeps_finished_batches_and_rescan_completes(project):
    _small_pngs(project.image_root, 120)
    token = CancelToken()
    gen = scan_folder(project, token, batch_size=25)
    first = next(gen)  # first batch written
    assert (first.done, first.total) == (25, 120)  # counted up front: a real bar and an ETA
    token.cancel()
    with pytest.raises(Cancelled):
        drive(gen)
    n = project.count_images()
    assert 25 <= n < 120
    assert project.counts()["missing"] == 0  # an incomplete walk never marks files missing
    res = _scan(project, batch_size=25)
    assert res.added == 120 - n and project.count_images() == 120


def test_kill_9_mid_scan_leaves_a_sound_database_that_resumes(tmp_path):
    root = tmp_path / "imgs"
    _small_pngs(root, 400)
    proj_path = tmp_path / "k.lazlabel"
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.scan.scan_child", str(proj_path), "--create", str(root),
         "--batch", "20", "--pause", "0.05"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines = 0
    for line in child.stdout:
        lines += line.startswith("progress")
        if lines >= 3:
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    con = sqlite3.connect(proj_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    n = con.execute("SELECT count(*) FROM image").fetchone()[0]
    con.close()
    assert 40 <= n < 400, n
    with Project.open(proj_path) as proj:
        res = _scan(proj, batch_size=50)
        assert res.added == 400 - n and res.unchanged == n
        assert proj.count_images() == 400 == proj.count_images(ImageFilter(status="ok"))


def _drop_root_privileges() -> list[str] | None:
    """Command prefix that runs a child without root's file-permission override, or None."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if not setpriv:
        return None
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search",
            "--inh-caps=-dac_override,-dac_read_search"]


def test_unreadable_file_and_folder_are_recorded_not_fatal(tmp_path):
    prefix = _drop_root_privileges()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable to this process")
    root = tmp_path / "imgs"
    save(root / "fine.png", noise((5, 5)), "PNG")
    locked = save(root / "locked.png", noise((5, 5)), "PNG")
    save(root / "closed/inside.png", noise((5, 5)), "PNG")
    locked.chmod(0)
    (root / "closed").chmod(0)
    proj_path = tmp_path / "perm.lazlabel"
    try:
        out = subprocess.run(
            [*prefix, sys.executable, "-m", "tests.scan.scan_child", str(proj_path), "--create", str(root)],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )
    finally:
        locked.chmod(0o644)
        (root / "closed").chmod(0o755)
    assert out.returncode == 0, out.stderr
    assert "done seen=2 errors=1" in out.stdout
    with Project.open(proj_path) as proj:
        rows = _rows(proj)
        assert rows["locked.png"].error == "permission denied"
        assert rows["fine.png"].status == "ok"
        assert "closed/inside.png" not in rows
    # the folder becomes unreadable after its files were scanned: they are not "missing"
    (root / "closed").chmod(0o755)
    with Project.open(proj_path) as proj:
        res = _scan(proj)  # readable again now: picked up, and the locked file re-read
        assert res.added == 1 and _rows(proj)["locked.png"].status == "ok"
        assert _rows(proj)["closed/inside.png"].status == "ok"
    (root / "closed").chmod(0)
    try:
        out = subprocess.run(
            [*prefix, sys.executable, "-m", "tests.scan.scan_child", str(proj_path)],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )
    finally:
        (root / "closed").chmod(0o755)
    assert out.returncode == 0, out.stderr
    with Project.open(proj_path) as proj:
        assert _rows(proj)["closed/inside.png"].status == "ok"
        assert proj.counts()["missing"] == 0


def test_large_files_hashed_lazily_and_only_if_unchanged(project):
    root = project.image_root
    big = save(root / "big.png", noise((400, 400)), "PNG")
    assert big.stat().st_size > SMALL_FILE
    small = save(root / "small.png", noise((4, 4)), "PNG")
    _scan(project)
    rows = _rows(project)
    assert rows["big.png"].content_hash is None and rows["small.png"].content_hash
    ids = [rows["big.png"].id, rows["small.png"].id]
    hashes = ensure_content_hash(project, ids)
    assert hashes == {ids[0]: hash_file(big), ids[1]: hash_file(small)}
    assert project.content_hashes(ids) == hashes
    # a file edited after the scan is not hashed until a re-scan has seen the edit
    save(root / "late.png", noise((400, 401)), "PNG")
    _scan(project)
    late = _rows(project)["late.png"].id
    time.sleep(0.01)
    save(root / "late.png", noise((401, 400), seed=3), "PNG")
    assert ensure_content_hash(project, [late]) == {late: None}
    _scan(project)
    assert ensure_content_hash(project, [late]) == {late: hash_file(root / "late.png")}


def test_hash_all_hashes_large_files_during_scan(project):
    save(project.image_root / "big.png", noise((400, 400)), "PNG")
    _scan(project, hash_all=True)
    assert _rows(project)["big.png"].content_hash == hash_file(project.image_root / "big.png")


def test_thread_and_process_pools_give_the_same_records(tmp_path):
    make_corpus(tmp_path / "imgs")
    out = []
    for i, kw in enumerate([{}, {"workers": 3}, {"processes": 2}]):
        with Project.create(tmp_path / f"w{i}.lazlabel", tmp_path / "imgs") as proj:
            _scan(proj, batch_size=7, **kw)
            out.append({k: (r.status, r.error, r.width, r.height, r.mode, r.content_hash)
                        for k, r in _rows(proj).items()})
    assert out[0] == out[1] == out[2]
