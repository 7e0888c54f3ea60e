"""Opening files that are not projects changes nothing; read-only projects open read-only;
a held write lock ends in one line naming its holder (issue #13 items 8, 10, 11)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli.main import main
from db import Project, ProjectBusy, ProjectError, ProjectReadOnly
from tests.workflows.conftest import predicted, seeded  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[2]


# --- item 10: only `init` creates a project -----------------------------------------------------


def test_an_empty_file_is_refused_and_stays_empty(tmp_path, capsys):
    path = tmp_path / "empty.lazlabel"
    path.touch()
    with pytest.raises(ProjectError, match="not a lazlabel project.*empty"):
        Project.open(path)
    assert main(["-p", str(path), "status"]) == 1
    assert "not a lazlabel project" in capsys.readouterr().err
    assert path.stat().st_size == 0
    assert not Path(f"{path}-wal").exists()


def test_another_apps_sqlite_keeps_its_journal_mode(tmp_path):
    path = tmp_path / "other.lazlabel"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    before = path.read_bytes()
    with pytest.raises(ProjectError, match="not a lazlabel project"):
        Project.open(path)
    assert path.read_bytes() == before  # the WAL switch would rewrite the header
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_an_alembic_file_of_another_app_is_not_ours(tmp_path):
    path = tmp_path / "alembic-app.lazlabel"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        conn.execute("INSERT INTO alembic_version VALUES ('abc123')")
        conn.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(ProjectError, match="not a lazlabel project"):
        Project.open(path)


# --- item 11: read-only projects --------------------------------------------------------------


@pytest.fixture
def read_only_copy(predicted, tmp_path_factory):  # noqa: F811
    """The `predicted` project (one image decided) copied into a folder nobody may write:
    a read-only tmpfs when running as root (root ignores permission bits), else chmod."""
    project, cids, iids, _run = predicted
    project.record_decisions([iids[1]], "accepted", reviewer="ana")
    project.close()
    folder = tmp_path_factory.mktemp("ro")
    mounted = False
    if os.geteuid() == 0:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)],
                          capture_output=True).returncode != 0:
            pytest.skip("running as root and cannot mount a read-only tmpfs")
        mounted = True
    shutil.copy(project.path, folder / "ro.lazlabel")
    if mounted:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    else:
        (folder / "ro.lazlabel").chmod(0o444)
        folder.chmod(0o555)
    try:
        yield folder / "ro.lazlabel", cids, iids
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)
        else:
            folder.chmod(0o755)


def test_read_only_project_reads_and_refuses_writes_in_one_line(read_only_copy, tmp_path, capsys):
    path, cids, iids = read_only_copy
    with Project.open(path) as proj:
        assert proj.read_only
        assert proj.counts()["decided"] == 1
        assert [r.id for r in proj.runs()] == [1]
        with pytest.raises(ProjectReadOnly, match="read-only"):
            proj.record_decisions([iids[2]], "accepted")
        with pytest.raises(ProjectReadOnly, match="read-only"):
            proj.set_setting("reviewer", "bo")
    p = str(path)
    assert main(["-p", p, "status"]) == 0
    assert "decided      1" in capsys.readouterr().out
    assert main(["-p", p, "review", "--status", "all"]) == 0
    assert "img1.png" in capsys.readouterr().out
    assert main(["-p", p, "audit", "report"]) == 0
    capsys.readouterr()
    assert main(["-p", p, "export", "csv", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out").is_dir()
    capsys.readouterr()
    assert main(["-p", p, "decide", "img2.png", "--action", "rejected"]) == 1
    err = capsys.readouterr().err.strip()
    assert "read-only" in err and "internal error" not in err and len(err.splitlines()) == 1


# --- item 8: locked database ------------------------------------------------------------------


def _hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE setting SET value = value WHERE key = 'image_root'")

    def release() -> None:
        time.sleep(seconds)
        conn.execute("COMMIT")
        conn.close()

    t = threading.Thread(target=release)
    t.start()
    return t


def test_a_short_lock_is_waited_for(predicted, monkeypatch):  # noqa: F811
    project, _cids, iids, _run = predicted
    monkeypatch.setenv("LAZLABEL_BUSY_TIMEOUT_MS", "5000")
    project.close()
    with Project.open(project.path) as proj:
        t = _hold_write_lock(proj.path, 0.5)
        proj.record_decisions([iids[0]], "accepted", reviewer="ana")  # waits, then writes
        t.join()
        assert proj.current_label(iids[0]).review_status == "accepted"


def test_a_long_lock_names_the_lazlabel_process_holding_it(predicted, monkeypatch, capsys):  # noqa: F811
    project, _cids, iids, _run = predicted
    project.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time, sqlite3\n"
            "sys.argv = ['lazlabel', 'attributes', 'import', 'big.json']\n"
            "from db import Project\n"
            f"p = Project.open({str(project.path)!r})\n"
            "c = sqlite3.connect(p.path, isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); c.execute(\"UPDATE setting SET value=value\")\n"
            "print('locked', flush=True); time.sleep(30)\n"
        )],
        stdout=subprocess.PIPE, text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        monkeypatch.setenv("LAZLABEL_BUSY_TIMEOUT_MS", "300")
        with Project.open(project.path) as proj, pytest.raises(ProjectBusy) as exc:
            proj.record_decisions([iids[0]], "accepted")
        msg = str(exc.value)
        assert "attributes import big.json" in msg and f"pid {holder.pid}" in msg and "\n" not in msg
        assert main(["-p", str(project.path), "decide", "img4.png", "dog"]) == 1
        err = capsys.readouterr().err
        assert "is busy" in err and "internal error" not in err and "SQL" not in err
    finally:
        holder.kill()
        holder.wait()
    with Project.open(project.path) as proj:  # nothing half-written
        assert proj.current_label(iids[0]).review_status == "unreviewed"


@pytest.fixture
def backend() -> str:
    """These tests are about the project file itself (locks, read-only files): SQLite only."""
    return "sqlite"
