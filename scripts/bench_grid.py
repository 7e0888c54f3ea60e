"""Benchmark the Browse grid at 100,000 images: first paint, memory, scroll and re-query latency.

    .venv/bin/python scripts/bench_grid.py [--n 100000] [--dir /tmp/grid100k] [--json out.json]

Builds (or reuses, with --dir) a project of N tiny real PNG files — rows written in bulk through
the store's scan API, 3 classes, a pre-label run covering every image — then opens it in the real
main window (offscreen unless a display is set) and measures:

- open → first paint of the grid, and RSS before/after (from /proc/self/status);
- scroll latency: jump the scroll bar to several positions and time the synchronous repaint
  (row data is paged from SQLite on demand), then the time until every visible tile's thumbnail
  has arrived from the worker pool;
- re-query latency: a filter change and a sort change over all N rows;
- select all (N rows) → selection published.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build(dir_: Path, n: int) -> Path:
    """A project of n tiny PNGs (content varies), classes, and a full pre-label run (bulk writes)."""
    import io
    import random

    from PIL import Image

    from db import Project, ScanRecord
    from db.store_runs import PredictionWrite

    path = dir_ / "grid.lazlabel"
    if path.exists():
        return path
    root = dir_ / "images"
    root.mkdir(parents=True, exist_ok=True)
    blobs = []
    for k in range(256):
        buf = io.BytesIO()
        Image.new("RGB", (48, 36), ((k * 37) % 256, (k * 91) % 256, (k * 53) % 256)).save(buf, "PNG")
        blobs.append(buf.getvalue())
    t0 = time.perf_counter()
    proj = Project.create(path, root)
    cls = [proj.add_class(c) for c in ("apple", "banana", "cherry")]
    rng = random.Random(0)
    batch = 10_000
    ids: list[int] = []
    for start in range(0, n, batch):
        recs = []
        for i in range(start, min(n, start + batch)):
            sub = root / f"d{i // 1000:03d}"
            if i % 1000 == 0:
                sub.mkdir(exist_ok=True)
            f = sub / f"img_{i:06d}.png"
            data = blobs[i % len(blobs)]
            f.write_bytes(data)
            recs.append(ScanRecord(f"d{i // 1000:03d}/img_{i:06d}.png", len(data), f.stat().st_mtime_ns, width=48, height=36, format="PNG", mode="RGB"))
        ids += proj.write_scan_batch(recs)
    t_rows = time.perf_counter() - t0
    run = proj.create_run(kind="prelabel", model_id="bench", engine_config={}, attribute_set_version="v", n_images=n)
    for start in range(0, n, 5000):
        rows = []
        for i in ids[start : start + 5000]:
            c = cls[rng.randrange(3)]
            s = rng.random()
            rows.append(PredictionWrite(i, c, s, s * rng.random(), [(c, s)]))
        proj.write_prediction_batch(run, rows)
    proj.update_run(run, status="done", finished=True)
    proj.record_decisions(ids[: n // 20], "accepted", reviewer="bench")
    proj.close()
    print(f"built {n:,} images in {time.perf_counter() - t0:.1f}s (files + rows {t_rows:.1f}s)")
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dir", type=Path, help="project directory (reused when it exists)")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    args = ap.parse_args()
    dir_ = args.dir or Path(tempfile.mkdtemp(prefix="lazlabel-grid-"))
    os.environ["LAZLABEL_SETTINGS"] = str(dir_ / "settings.ini")
    path = build(dir_, args.n)

    from PySide6.QtCore import QEvent, QObject, QPoint
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from desktop.browser.model import ThumbRole
    from desktop.main_window import MainWindow
    from desktop.style import apply_style

    apply_style(app)
    from desktop.app import warm_up_imports

    t = time.perf_counter()
    warm_up_imports()  # the app does this in a background thread at start-up
    t_warm = time.perf_counter() - t
    win = MainWindow()
    win.resize(1400, 900)
    win.show()
    app.processEvents()
    browser = win.screens["browser"]
    grid = browser.grid
    model = browser.controller.model

    class Painted(QObject):
        def __init__(self) -> None:
            super().__init__()
            self.at: float | None = None

        def eventFilter(self, obj, ev):  # noqa: N802
            if ev.type() == QEvent.Type.Paint and self.at is None and model.rowCount():
                self.at = -1.0  # set after the paint returns
            return False

    painted = Painted()
    grid.viewport().installEventFilter(painted)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    win.actions.open_path(path)
    while painted.at is None:
        app.processEvents()
    t_first_paint = time.perf_counter() - t0
    rss1 = rss_mb()

    def visible_rows() -> list[int]:
        vp = grid.viewport().rect()
        first = grid.indexAt(vp.topLeft() + QPoint(8, 8)).row()
        rows = []
        r = max(0, first)
        while r < model.rowCount() and grid.visualRect(model.index(r)).top() < vp.bottom():
            if grid.visualRect(model.index(r)).intersects(vp):
                rows.append(r)
            r += 1
        return rows

    def wait_thumbs(timeout: float = 30.0) -> float:
        t = time.perf_counter()
        while time.perf_counter() - t < timeout:
            app.processEvents()
            if all(model.data(model.index(r), ThumbRole) is not None for r in visible_rows()):
                return time.perf_counter() - t
            time.sleep(0.002)
        return float("nan")

    t_thumbs_first = wait_thumbs()
    sb = grid.verticalScrollBar()
    scroll = []
    for frac in (0.1, 0.5, 0.9, 1.0, 0.3, 0.0):
        fetches = model.page_fetches
        t = time.perf_counter()
        sb.setValue(int(sb.maximum() * frac))
        grid.viewport().repaint()
        dt_paint = time.perf_counter() - t
        dt_thumbs = wait_thumbs()
        scroll.append(
            {"pos": frac, "paint_ms": 1000 * dt_paint, "thumbs_ms": 1000 * dt_thumbs, "pages_fetched": model.page_fetches - fetches}
        )
    # smooth scrolling: 60 wheel-sized steps, each repainted synchronously
    steps = []
    for _ in range(60):
        t = time.perf_counter()
        sb.setValue(sb.value() + 3 * sb.singleStep())
        grid.viewport().repaint()
        steps.append(1000 * (time.perf_counter() - t))
    rss2 = rss_mb()

    c = browser.controller
    t = time.perf_counter()
    c.set_filters(status="predicted")
    t_filter = time.perf_counter() - t
    shown_filtered = model.rowCount()
    t = time.perf_counter()
    c.set_filters(sort="confidence")
    t_sort = time.perf_counter() - t
    c.set_filters(status="all", sort="name")
    t = time.perf_counter()
    c.select_all()
    c._publish_selection()
    t_select = time.perf_counter() - t

    out = {
        "n_images": model.rowCount(),
        "warm_up_s (background in the app)": t_warm,
        "first_paint_ms": 1000 * t_first_paint,
        "first_thumbnails_ms": 1000 * t_thumbs_first,
        "rss_mb_before_open": rss0,
        "rss_mb_after_open": rss1,
        "rss_mb_after_scrolling": rss2,
        "scroll_jumps": scroll,
        "scroll_step_ms_median": sorted(steps)[len(steps) // 2],
        "scroll_step_ms_max": max(steps),
        "filter_requery_ms": 1000 * t_filter,
        "filtered_rows": shown_filtered,
        "sort_requery_ms": 1000 * t_sort,
        "select_all_ms": 1000 * t_select,
        "selected": len(win.ctx.selection),
        "cached_pages": len(model._pages),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    browser.controller.thumbnails.shutdown()
    from desktop.app import _tear_down

    _tear_down(win)
    sys.stdout.flush()
    os._exit(0)  # skip interpreter finalisation of Qt wrappers (a known PySide crash at exit)


if __name__ == "__main__":
    sys.exit(main())
