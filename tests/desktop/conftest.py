"""Desktop test fixtures: offscreen Qt, per-test QSettings, an AppContext on a real project."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(autouse=True)
def _isolated_qsettings(tmp_path_factory, monkeypatch):
    """Recent lists etc. go to a per-test INI file, never to the developer's real settings."""
    d = tmp_path_factory.mktemp("qsettings")
    monkeypatch.setenv("LAZLABEL_SETTINGS", str(d / "lazlabel.ini"))
    yield


@pytest.fixture(scope="session", autouse=True)
def _app_style(qapp):
    """The app's own style (Fusion + its style sheet), so sizes measured here are the real ones."""
    from desktop.style import apply_style

    apply_style(qapp)


@pytest.fixture(autouse=True)
def _collect_qt_garbage(qapp):
    """Delete Qt objects while the QApplication is alive, not in interpreter shutdown (PySide
    otherwise can crash collecting them at exit)."""
    import gc

    from PySide6.QtCore import QCoreApplication, QEvent

    yield
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    QCoreApplication.processEvents()
    gc.collect()


@pytest.fixture
def ctx(qapp):
    """A non-interactive AppContext (errors are recorded in `ctx.errors` instead of dialogs)."""
    from desktop.context import AppContext

    c = AppContext(interactive=False)
    yield c
    c.cancel_all()
    if c.project is not None:
        c.project.close()


COLOURS = [(220, 40, 40), (40, 160, 60), (40, 80, 220), (230, 200, 40)]


def make_images(root, n: int, size: int = 24):
    """n tiny real PNG files img_000.png... under root (4 colours round-robin)."""
    from PIL import Image

    paths = []
    for i in range(n):
        p = root / f"img_{i:03d}.png"
        Image.new("RGB", (size + i % 5, size), COLOURS[i % len(COLOURS)]).save(p)
        paths.append(p)
    return paths


def index_images(project, paths) -> list[int]:
    """Record files as the folder scan would (bulk store write), returning their ids."""
    from db import ScanRecord

    root = project.image_root
    recs = [
        ScanRecord(p.relative_to(root).as_posix(), p.stat().st_size, p.stat().st_mtime_ns, width=24, height=24, format="PNG", mode="RGB")
        for p in paths
    ]
    return project.write_scan_batch(recs)


def predict(project, ids, class_ids, scores) -> int:
    """A finished pre-label run with the given top-1 class and score per image."""
    from db.store_runs import PredictionWrite

    run = project.create_run(
        kind="prelabel", model_id="test", engine_config={}, attribute_set_version="v", n_images=len(ids)
    )
    rows = [
        PredictionWrite(i, c, s, s / 2, [(c, s)]) for i, c, s in zip(ids, class_ids, scores)
    ]
    project.write_prediction_batch(run, rows)
    project.update_run(run, status="done")
    return run


@pytest.fixture
def grid_project(project):
    """12 images, 3 classes; 8 predicted (scores 0.9..0.2), image 0 accepted, image 8 unreadable."""
    paths = make_images(project.image_root, 12)
    ids = index_images(project, paths)
    cls = [project.add_class(n) for n in ("apple", "banana", "cherry")]
    predict(project, ids[:8], [cls[i % 3] for i in range(8)], [0.9 - 0.1 * i for i in range(8)])
    project.record_decisions([ids[0]], "accepted", reviewer="t")
    (project.image_root / "img_008.png").write_bytes(b"not a png")
    project.ids = ids  # type: ignore[attr-defined]
    project.class_ids = cls  # type: ignore[attr-defined]
    return project
