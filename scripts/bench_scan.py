"""Benchmark: scan a folder of 100,000 small images, then time 200-image page queries on it.

    .venv/bin/python scripts/bench_scan.py                 # 100k images, cached in /tmp
    .venv/bin/python scripts/bench_scan.py --n 20000 --workers 0 2

Reports images/s of a first scan (headers only) and of a no-change re-scan, peak RSS, and the
time of a page of 200 for several sorts and filters, at the first page and deep in the list.
Predictions, decisions and imported labels are filled in with random values (as a run and a
review would leave them) so the sorts have something to sort. Not a test: numbers are noisy on a
shared machine; compare within one run.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402
from sqlalchemy import insert, select, update  # noqa: E402

from db import ImageFilter, Project  # noqa: E402
from db.models import Image as ImageModel  # noqa: E402
from db.models import LabelClass  # noqa: E402
from workflows.progress import drive  # noqa: E402
from workflows.scan import scan_folder  # noqa: E402

PER_DIR = 1000


def _make_chunk(args: tuple[str, int, int]) -> int:
    root, start, stop = args
    rng = random.Random(start)
    for i in range(start, stop):
        d = Path(root) / f"class_{i // PER_DIR:03d}"
        d.mkdir(exist_ok=True)
        im = Image.new("RGB", (32, 32), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
        im.putpixel((rng.randrange(32), rng.randrange(32)), (255, 255, 255))
        fmt, ext = ("PNG", "png") if i % 2 else ("JPEG", "jpg")
        buf = io.BytesIO()
        im.save(buf, fmt)
        (d / f"img_{i:06d}.{ext}").write_bytes(buf.getvalue())
    return stop - start


def make_images(root: Path, n: int) -> None:
    """Generate n small PNG/JPEG files (cached: reused when the folder already has them)."""
    marker = root / f".complete-{n}"
    if marker.exists():
        return
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    step = 2000
    jobs = [(str(root), s, min(n, s + step)) for s in range(0, n, step)]
    t = time.perf_counter()
    with Pool(os.cpu_count() or 2) as pool:
        done = sum(pool.imap_unordered(_make_chunk, jobs))
    marker.touch()
    print(f"generated {done} images in {time.perf_counter() - t:.1f} s under {root}")


def fill_labels(proj: Project, n_classes: int = 20, seed: int = 0) -> None:
    """Random predictions (80%), decisions (1 in 7) and imported labels, like a run + review."""
    rng = random.Random(seed)
    with proj.session() as s:
        s.execute(insert(LabelClass), [{"name": f"class_{i:02d}", "order": i} for i in range(n_classes)])
        ids = list(s.scalars(select(ImageModel.id)))
        rows = [
            {
                "id": i,
                "pred_run_id": 1,
                "pred_class_id": rng.randint(1, n_classes),
                "pred_score": rng.random(),
                "pred_margin": rng.random() * 0.5,
                "imported_class_id": rng.randint(1, n_classes),
                "issue_score": rng.random(),
            }
            for i in ids
            if rng.random() < 0.8
        ]
        s.execute(update(ImageModel), rows)
        decided = [{"id": i, "review_status": "accepted", "label_class_id": rng.randint(1, n_classes),
                    "last_decision_id": k + 1} for k, i in enumerate(ids[::7])]
        s.execute(update(ImageModel), decided)
    proj.analyze()


QUERIES: list[tuple[str, ImageFilter]] = [
    ("name", ImageFilter(status="ok")),
    ("confidence", ImageFilter(status="ok")),
    ("confidence", ImageFilter(status="ok", review_status="unreviewed")),
    ("margin", ImageFilter(status="ok", review_status="unreviewed")),
    ("class", ImageFilter(status="ok")),
    ("name", ImageFilter(status="ok", class_id=5)),
    ("confidence", ImageFilter(status="ok", class_id=5)),
    ("disagreement", ImageFilter(status="ok")),
    ("disagreement", ImageFilter(status="ok", disagrees=True)),
    ("random", ImageFilter(status="ok")),
    ("recent", ImageFilter(decided=True)),
    ("name", ImageFilter(text="img_0123")),
    ("confidence", ImageFilter(status="ok", review_status="unreviewed", text="class_01")),
    ("name", ImageFilter(status="error")),
]


def _describe(f: ImageFilter) -> str:
    return ", ".join(f"{k}={v}" for k, v in vars(f).items() if v is not None) or "all"


def time_page(proj: Project, sort: str, flt: ImageFilter, offset: int, reps: int = 5) -> tuple[float, float, int]:
    """Median wall ms, median CPU ms (what an idle core would take: the queries are CPU-bound
    on a warm page cache), rows."""
    walls, cpus = [], []
    n = 0
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        n = len(proj.page_images(flt, sort, offset, 200))
        walls.append((time.perf_counter() - t) * 1000)
        cpus.append((time.process_time() - c) * 1000)
    return statistics.median(walls), statistics.median(cpus), n


def time_queries(proj: Project) -> None:
    """Page of 200 at the top and in the middle of each result list, then whole id lists."""
    print(f"\npage of 200 (median of 5), {proj.count_images():,} images, load average {os.getloadavg()[0]:.1f}:")
    print(f"{'sort':13s} {'filter':52s} {'matches':>8s} {'first page wall/cpu':>20s} {'middle page wall/cpu':>22s}")
    for sort, flt in QUERIES:
        n = proj.count_images(flt)
        w1, c1, _ = time_page(proj, sort, flt, 0)
        w2, c2, _ = time_page(proj, sort, flt, max(0, n // 2 - 100))
        print(f"{sort:13s} {_describe(flt):52s} {n:8,d} {w1:9.1f} / {c1:6.1f} ms {w2:10.1f} / {c2:6.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--images", type=Path, default=None, help="folder (default /tmp/lazlabel-bench-<n>)")
    ap.add_argument("--workers", type=int, nargs="+", default=[0], help="header-read threads to compare")
    ap.add_argument("--processes", type=int, nargs="+", default=[], help="header-read processes to compare")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--keep", type=Path, default=None, help="copy the last project file here for inspection")
    ap.add_argument("--queries-only", type=Path, default=None, metavar="PROJECT",
                    help="only time the queries on an existing project (e.g. one saved with --keep)")
    args = ap.parse_args()
    if args.queries_only:
        with Project.open(args.queries_only) as proj:
            time_queries(proj)
        return 0

    root = args.images or Path(tempfile.gettempdir()) / f"lazlabel-bench-{args.n}"
    make_images(root, args.n)
    work = Path(tempfile.mkdtemp(prefix="lazlabel-bench-"))
    try:
        proj = None
        configs = [("workers", w) for w in args.workers] + [("processes", n) for n in args.processes]
        for k, (kind, n) in enumerate(configs):
            path = work / f"bench-{kind}{n}.lazlabel"
            proj = Project.create(path, root)
            t, c = time.perf_counter(), time.process_time()
            res = drive(scan_folder(proj, batch_size=args.batch, **{kind: n}))
            dt, cpu = time.perf_counter() - t, time.process_time() - c
            print(f"scan   {kind}={n}: {res.seen} images in {dt:.2f} s = {res.seen / dt:,.0f} images/s wall; "
                  f"{res.seen / cpu:,.0f} images per CPU-second of this process (added {res.added}, errors {res.errors})")
            t, c = time.perf_counter(), time.process_time()
            res2 = drive(scan_folder(proj, batch_size=args.batch, **{kind: n}))
            dt, cpu = time.perf_counter() - t, time.process_time() - c
            print(f"rescan {kind}={n}: {res2.seen} images in {dt:.2f} s = {res2.seen / dt:,.0f} images/s wall; "
                  f"{res2.seen / cpu:,.0f} per CPU-second (unchanged {res2.unchanged})")
            if k != len(configs) - 1:
                proj.close()
        print(f"load average during the run: {os.getloadavg()[0]:.1f} (2 cores shared)")
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss_mb:.0f} MB")
        assert proj is not None
        fill_labels(proj)
        time_queries(proj)
        print("\nall ids in order (image_ids, what the desktop grid loads):")
        for sort, flt in [("name", ImageFilter(status="ok")), ("confidence", ImageFilter(status="ok")),
                          ("class", ImageFilter(status="ok")), ("random", ImageFilter(status="ok"))]:
            t, c = time.perf_counter(), time.process_time()
            n = len(proj.image_ids(flt, sort))
            w, c = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
            print(f"{sort:13s} {_describe(flt):52s} {w:8.1f} / {c:6.1f} ms   ({n:,} ids)")
        for label, call in [("counts()", proj.counts), ("count_images(ok, unreviewed)",
                             lambda: proj.count_images(ImageFilter(status="ok", review_status="unreviewed")))]:
            t, c = time.perf_counter(), time.process_time()
            call()
            print(f"{label}: {(time.perf_counter() - t) * 1000:.1f} ms wall / {(time.process_time() - c) * 1000:.1f} ms cpu")
        proj.close()
        if args.keep:
            shutil.copy(proj.path, args.keep)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
