"""Pre-label runs end to end: real tiny open_clip, real PNG files, real SQLite, real subprocess kill."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from db.models import Image
from tests.workflows.synth import add_classes, add_images, tiny_settings
from workflows.prelabel import run_prelabel
from workflows.progress import Cancelled, CancelToken, drive
from workflows.settings import save_settings

REPO = Path(__file__).resolve().parents[2]


def _predictions(project):
    """rel_path -> (class name, rounded score, top-k names) for every image's latest prediction."""
    out = {}
    for row in project.images(project.image_ids()):
        p = project.latest_prediction(row.id)
        if p is not None:
            out[row.rel_path] = (p.class_name, round(p.score, 5), tuple(n for _c, n, _s in p.topk))
    return out


def _fresh(tmp_path, name):
    from db import Project

    root = tmp_path / name / "images"
    root.mkdir(parents=True)
    proj = Project.create(tmp_path / name / "p.lazlabel", root)
    add_images(proj, 12)
    add_classes(proj)
    save_settings(proj, tiny_settings())
    return proj


def test_prelabel_stores_predictions_explanations_and_is_idempotent(engine_project):
    project, ids, cids = engine_project
    summary = drive(run_prelabel(project))
    assert (summary.n_scored, summary.n_errors, summary.resumed) == (12, 0, False)
    run = project.run(summary.run_id)
    assert run.status == "done" and run.n_done == 12 and run.model_id.startswith("random:")
    assert run.attribute_set_version == project.attribute_set_version()
    assert run.engine_config["view"]["n_crops"] == 6
    p = project.latest_prediction(ids[0])
    assert p.run_id == run.id and len(p.topk) == 3 and p.topk[0][2] >= p.topk[1][2]
    assert p.margin == pytest.approx(p.topk[0][2] - p.topk[1][2], abs=1e-5)
    expl = project.explanations(ids[0])
    assert p.class_id in expl
    e = expl[p.class_id]
    assert e["image_size"] == [40, 32] and e["attributes"] and "regions" in e["attributes"][0]
    again = drive(run_prelabel(project))
    assert again.nothing_to_do and again.run_id == run.id and "nothing to do" in again.message
    assert len(project.runs()) == 1


def test_unreadable_image_gets_error_and_reason(project):
    add_images(project, 5, corrupt=[2])
    add_classes(project)
    save_settings(project, tiny_settings())
    summary = drive(run_prelabel(project))
    assert summary.n_scored == 4 and summary.n_errors == 1
    bad = project.image_ids()[2]
    with project.session() as s:
        img = s.get(Image, bad)
        assert img.status == "error" and img.error
    assert project.latest_prediction(bad) is None
    assert summary.errors[bad] == img.error


def test_cancel_stops_within_one_batch_and_resumes(engine_project):
    project, ids, _ = engine_project
    token = CancelToken()

    def on_progress(p):
        if p.stage == "prelabel":
            token.cancel()

    with pytest.raises(Cancelled):
        drive(run_prelabel(project, cancel=token), on_progress)
    run = project.runs()[0]
    assert run.status == "cancelled" and run.n_done == 3  # one batch of 3
    summary = drive(run_prelabel(project))
    assert summary.resumed and summary.run_id == run.id and (summary.n_skipped, summary.n_scored) == (3, 9)
    assert project.run(run.id).status == "done"


def test_scope_unlabelled_and_selected(engine_project):
    project, ids, cids = engine_project
    project.record_decisions(ids[:4], "corrected", class_id=cids["quam"])
    summary = drive(run_prelabel(project, scope="unlabelled"))
    assert summary.n_scored == 8
    assert project.latest_prediction(ids[0]) is None
    summary = drive(run_prelabel(project, image_ids=ids[:2]))  # same config: extends the run
    assert summary.resumed and summary.n_scored == 2


def test_kill_9_mid_run_resumes_to_the_same_predictions(tmp_path):
    killed = _fresh(tmp_path, "killed")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, str(REPO / "tests/workflows/prelabel_child.py"), str(killed.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        assert child.stdout.readline().startswith("BATCH")
        child.stdin.write("go\n")
        child.stdin.flush()
        assert child.stdout.readline().startswith("BATCH")  # second batch committed, child waits
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    run = killed.runs()[0]  # its process is gone: no longer shown as running
    assert run.status == "failed" and "interrupted" in run.message and run.n_done == 6
    summary = drive(run_prelabel(killed))
    assert summary.resumed and summary.n_skipped == 6 and summary.n_scored == 6
    assert killed.run(run.id).status == "done"
    clean = _fresh(tmp_path, "clean")
    drive(run_prelabel(clean))
    assert _predictions(killed) == _predictions(clean)
    assert len(_predictions(clean)) == 12
    shutil.rmtree(tmp_path / "clean", ignore_errors=True)


def test_changed_file_is_predicted_again_on_rerun(engine_project):
    from PIL import Image as PILImage

    from db.store_images import ScanRecord

    project, ids, _ = engine_project
    first = drive(run_prelabel(project))
    row = project.image(ids[3])
    path = project.image_path(ids[3])
    PILImage.new("RGB", (40, 32), (250, 250, 250)).save(path)  # the file changes on disk
    st = path.stat()
    project.write_scan_batch(
        [],
        changed={
            ids[3]: ScanRecord(
                rel_path=row.rel_path, size=st.st_size, mtime_ns=st.st_mtime_ns, width=40, height=32
            )
        },
    )
    assert project.latest_prediction(ids[3]) is None  # the re-scan dropped the stale prediction
    again = drive(run_prelabel(project))
    assert again.resumed and again.run_id == first.run_id and again.n_scored == 1
    assert project.latest_prediction(ids[3]).run_id == first.run_id
    assert project.run(first.run_id).n_done == 12
