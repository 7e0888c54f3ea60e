"""`lazlabel init / scan / status`, project lookup, exit codes, and the shared progress bar."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from cli.main import main
from cli.progress import render, run_with_progress
from workflows.progress import CancelToken, Progress, check

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def images(tmp_path) -> Path:
    root = tmp_path / "images"
    (root / "cats").mkdir(parents=True)
    for i in range(5):
        Image.new("RGB", (8 + i, 6), (i * 40, 0, 0)).save(root / "cats" / f"c{i}.png")
    (root / "broken.jpg").write_bytes(b"")
    (root / "notes.png").write_text("hello")
    return root


def _lazlabel(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_init_creates_scans_and_summarises(tmp_path, images, capsys):
    assert main(["init", str(tmp_path / "birds"), "--images", str(images), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "birds.lazlabel").is_file()
    assert "scanned 7 image files" in out
    assert "readable     5" in out and "unreadable   2" in out
    assert "zero-byte file" in out and "not an image" in out and "e.g. broken.jpg" in out


def test_init_into_a_folder_names_the_file_after_it(tmp_path, images, capsys):
    target = tmp_path / "work"
    target.mkdir()
    assert main(["init", str(target), "--images", str(images), "--no-scan"]) == 0
    assert (target / "work.lazlabel").is_file()


def test_init_refuses_to_overwrite_and_checks_the_image_folder(tmp_path, images, capsys):
    assert main(["init", str(tmp_path / "p.lazlabel"), "--images", str(images), "-q"]) == 0
    before = (tmp_path / "p.lazlabel").read_bytes()
    capsys.readouterr()
    assert main(["init", str(tmp_path / "p.lazlabel"), "--images", str(images)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "p.lazlabel").read_bytes() == before
    assert main(["init", str(tmp_path / "q"), "--images", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and err.count("\n") == 1
    assert not (tmp_path / "q.lazlabel").exists()


def test_scan_and_status_find_the_project_in_cwd(tmp_path, images, capsys, monkeypatch):
    main(["init", str(tmp_path / "p"), "--images", str(images), "-q"])
    (images / "cats" / "c0.png").unlink()
    Image.new("RGB", (3, 3)).save(images / "new.png")
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    assert main(["scan", "-q"]) == 0
    out = capsys.readouterr().out
    assert "1 added" in out and "1 newly missing" in out
    assert main(["status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["total"], data["ok"], data["error"], data["missing"]) == (8, 5, 2, 1)
    assert data["errors_by_reason"] == {"not an image": 1, "zero-byte file": 1}
    assert data["error_examples"]["zero-byte file"] == ["broken.jpg: zero-byte file"]
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "missing      1" in out and "decided      0" in out and "predicted    0" in out


def test_project_lookup_errors_are_one_line(tmp_path, images, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert "no *.lazlabel project" in err and err.count("\n") == 1
    main(["init", "a", "--images", str(images), "--no-scan"])
    main(["init", "b", "--images", str(images), "--no-scan"])
    capsys.readouterr()
    assert main(["status"]) == 1
    assert "several projects" in capsys.readouterr().err
    assert main(["--project", "a.lazlabel", "status"]) == 0
    assert main(["--project", str(tmp_path / "zzz.lazlabel"), "status"]) == 1
    assert "no project at" in capsys.readouterr().err
    (tmp_path / "junk.lazlabel").write_bytes(b"not sqlite" * 50)
    assert main(["--project", "junk.lazlabel", "status"]) == 1
    assert "not a lazlabel project" in capsys.readouterr().err


def test_exit_codes_and_no_traceback_in_a_real_process(tmp_path, images):
    ok = _lazlabel("init", "p", "--images", str(images), "-q", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    missing = _lazlabel("--project", "nope.lazlabel", "status", cwd=tmp_path)
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr and missing.stderr.strip().count("\n") == 0
    debug = _lazlabel("--debug", "--project", "nope.lazlabel", "status", cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    usage = _lazlabel("init", cwd=tmp_path)  # PROJECT and --images missing
    assert usage.returncode == 2 and "usage:" in usage.stderr


# --- progress bar -----------------------------------------------------------------------------------


def test_render_with_and_without_total():
    line = render("scanning", Progress(50, 200, "reading", started=0.0))
    assert line.startswith("scanning  [######..................]  25%  50/200") and "reading" in line
    assert render("x", Progress(7, None)).startswith("x  7")


def _counting(n: int, cancel: CancelToken | None = None):
    for i in range(n):
        check(cancel)
        yield Progress(i + 1, n)
    return "result"


def test_run_with_progress_returns_the_result_and_logs_once_when_not_a_tty():
    buf = io.StringIO()
    assert run_with_progress(_counting(5), "counting", stream=buf) == "result"
    lines = buf.getvalue().splitlines()
    assert lines == ["counting  [########################] 100%  5/5  " + lines[0].split("5/5  ", 1)[1]]


def test_ctrl_c_cancels_at_the_next_batch_and_surfaces_as_interrupt():
    token = CancelToken()
    done = []

    def work():
        for i in range(10):
            check(token)
            done.append(i)
            if i == 2:
                os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl+C: the handler only sets the token
            yield Progress(i + 1, 10)
        return "finished"

    buf = io.StringIO()
    with pytest.raises(KeyboardInterrupt):
        run_with_progress(work(), "work", cancel=token, stream=buf)
    assert token.cancelled and done == [0, 1, 2]
    assert "cancelled; finished batches are saved" in buf.getvalue()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_interrupted_scan_exits_130_and_keeps_a_sound_project(tmp_path, capsys, monkeypatch):
    root = tmp_path / "many"
    root.mkdir()
    for i in range(60):
        Image.new("L", (2, 2), i).save(root / f"{i:03d}.png")
    main(["init", str(tmp_path / "p"), "--images", str(root), "--no-scan"])

    import workflows.scan as scan_mod

    real = scan_mod.scan_folder

    def interrupted(project, cancel=None, **kw):
        gen = real(project, cancel, batch_size=10, **kw)
        yield next(gen)
        os.kill(os.getpid(), signal.SIGINT)
        yield from gen

    monkeypatch.setattr(scan_mod, "scan_folder", interrupted)
    assert main(["--project", str(tmp_path / "p.lazlabel"), "scan"]) == 130
    assert "run the command again to resume" in capsys.readouterr().err
    con = sqlite3.connect(tmp_path / "p.lazlabel")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n = con.execute("SELECT count(*) FROM image").fetchone()[0]
    con.close()
    assert 10 <= n < 60
    monkeypatch.setattr(scan_mod, "scan_folder", real)
    assert main(["--project", str(tmp_path / "p.lazlabel"), "scan", "-q"]) == 0
    assert f"{60 - n} added" in capsys.readouterr().out


def test_scan_follows_a_moved_image_folder_keeping_decisions(tmp_path, images, capsys):
    from db import Project

    proj = tmp_path / "p.lazlabel"
    main(["init", str(proj), "--images", str(images), "-q"])
    with Project.open(proj) as p:
        first = p.page_images(limit=1)[0]
    moved = tmp_path / "moved"
    images.rename(moved)
    capsys.readouterr()
    assert main(["--project", str(proj), "scan", "-q"]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["--project", str(proj), "status"]) == 0
    assert "NOT FOUND" in capsys.readouterr().out
    assert main(["--project", str(proj), "scan", "-q", "--images", str(moved)]) == 0
    assert "0 added, 0 changed, 0 newly missing" in capsys.readouterr().out
    with Project.open(proj) as p:
        assert p.image_root == moved.resolve()
        assert p.image(first.id).rel_path == first.rel_path and p.image_path(first.id).is_file()
