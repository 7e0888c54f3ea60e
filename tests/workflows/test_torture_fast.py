"""The fast subset of scripts/torture.py (issue #13): concurrent writers lose nothing and show no
error; a full disk is one line, and the run resumes to the same result once space is freed."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from db import Project, ProjectError
from tests.pg_fixtures import sqlite_only
from workflows.errors import UserError
from workflows.prelabel import run_prelabel
from workflows.progress import drive

REPO = Path(__file__).resolve().parents[2]


def _torture():
    spec = importlib.util.spec_from_file_location("lazlabel_torture", REPO / "scripts" / "torture.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["lazlabel_torture"] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@sqlite_only
def test_four_deciders_during_an_attribute_import_lose_nothing(predicted, tmp_path):
    torture = _torture()
    project, _cids, _iids, _run = predicted
    project.close()
    folder = project.path.parent
    big = torture.descriptor_file(tmp_path / "big.json", 400, 20)
    paths = [f"img{i}.png" for i in range(6)]
    stop = tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    deciders = [
        subprocess.Popen(
            [sys.executable, "-c", torture.DECIDER, project.location, f"worker{w}", json.dumps(paths),
             json.dumps(["cat", "dog", "fox"]), str(stop)],
            cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for w in range(4)
    ]
    imp = subprocess.run(
        [sys.executable, "-m", "cli", "-p", project.location, "attributes", "import", str(big)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    stop.touch()
    results = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in deciders]
    assert imp.returncode == 0, imp.stderr
    with sqlite3.connect(project.path) as c:
        stored = c.execute("SELECT count(*) FROM decision WHERE reviewer LIKE 'worker%'").fetchone()[0]
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert c.execute("SELECT count(*) FROM attribute").fetchone()[0] == 400 * 20
    sent = sum(r["sent"] for r in results)
    assert sent > 0 and [e for r in results for e in r["errors"]] == []
    assert stored == sent


def _mount_small_tmpfs(where: Path, kb: int) -> None:
    if os.geteuid() != 0 or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={kb}k", "tmpfs", str(where)], capture_output=True
    ).returncode != 0:
        pytest.skip("needs root and a tmpfs mount for a real full disk")


@sqlite_only
def test_disk_full_is_one_line_and_the_run_resumes_to_the_same_result(engine_project, tmp_path):
    from tests.workflows.synth import tiny_settings

    project, ids, _cids = engine_project
    drive(run_prelabel(project, settings=tiny_settings()))
    reference = {i: project.latest_prediction(i).class_id for i in ids}
    project.close()

    mnt = tmp_path / "small"
    mnt.mkdir()
    _mount_small_tmpfs(mnt, 4096)
    try:
        shutil.copy(project.path, mnt / "p.lazlabel")
        copy = Project.open(mnt / "p.lazlabel")
        filler = mnt / "filler"
        filler.write_bytes(b"\0" * max(0, shutil.disk_usage(mnt).free - 48 * 1024))
        with pytest.raises((UserError, ProjectError), match="disk full"):
            drive(run_prelabel(copy, settings=tiny_settings(), force=True))
        filler.unlink()
        subprocess.run(["mount", "-o", "remount,size=65536k", str(mnt)], check=True)
        copy.close()
        copy = Project.open(mnt / "p.lazlabel")
        summary = drive(run_prelabel(copy, settings=tiny_settings(), force=True))
        assert summary.n_scored == len(ids)
        assert {i: copy.latest_prediction(i).class_id for i in ids} == reference
        features = mnt / "p.lazlabel.cache" / "features"
        committed = {p.name[: -len(".hashes")] for p in features.rglob("*.hashes")}
        leftovers = [p for p in features.rglob("*") if p.is_file() and p.name.split(".", 1)[0] not in committed]
        assert leftovers == []  # no half-written parts of the failed run
        with copy.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        copy.close()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
