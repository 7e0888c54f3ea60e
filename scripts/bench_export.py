"""Benchmark: export N decided images as a hard-linked ImageFolder tree and as CSV.

Builds a project under a scratch folder (tiny image files, rows inserted in bulk: classes, one run
with predictions and explanations, one decision per image), then runs each export in a fresh
process and reports its wall time and peak resident memory (ru_maxrss, interpreter included).

    .venv/bin/python scripts/bench_export.py                 # 100,000 images, 20 classes
    .venv/bin/python scripts/bench_export.py -n 20000 --formats csv,jsonl,hf-imagefolder:symlink
Also imports the csv/jsonl exports back (all 100,000 labels must match their images).
Goal (issue #7): < 30 s and < 500 MB for 100,000 images, each format.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build(work: Path, n: int, n_classes: int, explanations: bool) -> Path:
    """Create the scratch project: n tiny files in 100 folders (with repeated file names)."""
    from sqlalchemy import insert, select, update

    from db import Project
    from db.models import Decision, Explanation, Image, LabelClass, Prediction, Run

    root = work / "images"
    t0 = time.perf_counter()
    rels = []
    for i in range(n):
        d = f"d{i % 100:03d}"
        if i < 100:
            (root / d).mkdir(parents=True, exist_ok=True)
        rel = f"{d}/img{i // 100:06d}.jpg"  # the same names repeat in every folder
        rels.append(rel)
        with open(root / rel, "wb") as f:
            f.write(b"\xff\xd8\xff" + i.to_bytes(4, "little") + b"\xff\xd9")
    t_files = time.perf_counter() - t0
    proj_path = work / "bench.lazlabel"
    project = Project.create(proj_path, root)
    now = dt.datetime(2026, 11, 23, 12, 0, 0)
    with project.session() as s:
        s.execute(insert(LabelClass), [{"name": f"class {c:02d}", "order": c} for c in range(n_classes)])
        run = Run(
            kind="prelabel",
            model_id="ViT-B-32/openai",
            engine_config={},
            attribute_set_version="v",
            status="done",
        )
        s.add(run)
        s.flush()
        s.execute(insert(Image), [{"rel_path": r, "size": 9, "mtime_ns": 0} for r in rels])
        cls = [c + 1 for c in range(n_classes)]
        preds, decs, expl = [], [], []
        for i in range(n):
            c = cls[i % n_classes]
            score = 0.3 + 0.7 * ((i * 7919) % 1000) / 1000
            preds.append(
                {
                    "run_id": run.id,
                    "image_id": i + 1,
                    "class_id": c,
                    "score": score,
                    "margin": 0.1,
                    "topk": [[c, score], [cls[(i + 1) % n_classes], score / 2]],
                }
            )
            action = "corrected" if i % 10 == 0 else "accepted"
            decs.append(
                {
                    "id": i + 1,
                    "image_id": i + 1,
                    "class_id": c,
                    "action": action,
                    "result_status": action,
                    "reviewer": "bench",
                    "at": now,
                    "run_id": run.id,
                    "score": score,
                }
            )
            if explanations:
                data = {
                    "attributes": [
                        {"text": f"attribute {k} of class {c}", "share": 0.4 / (k + 1)} for k in range(5)
                    ]
                }
                expl.append({"run_id": run.id, "image_id": i + 1, "class_id": c, "data": data})
        s.execute(insert(Prediction), preds)
        s.execute(insert(Decision), decs)
        if expl:
            s.execute(insert(Explanation), expl)
        img, dec, pr = Image.__table__, Decision.__table__, Prediction.__table__

        def of(col, key):
            return select(col).where(key == img.c.id).scalar_subquery()

        s.connection().execute(
            update(img).values(
                review_status=of(dec.c.result_status, dec.c.id),
                label_class_id=of(dec.c.class_id, dec.c.id),
                last_decision_id=img.c.id,
                pred_run_id=run.id,
                pred_class_id=of(pr.c.class_id, pr.c.image_id),
                pred_score=of(pr.c.score, pr.c.image_id),
                pred_margin=0.1,
            )
        )
    project.close()
    print(f"built {n:,} images in {time.perf_counter() - t0:.1f} s (files {t_files:.1f} s)", file=sys.stderr)
    return proj_path


def _peak_rss_kb() -> int:
    """This process's own high-water RSS (VmHWM). Not ru_maxrss: after fork+exec that one keeps
    the parent's RSS at fork time, which here is the big row-building process."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def export_once(proj_path: Path, fmt: str, out: Path, mode: str) -> dict:
    """One export in this process: seconds and peak RSS."""
    from db import Project
    from workflows.export import export
    from workflows.progress import drive

    t0, c0 = time.perf_counter(), time.process_time()
    with Project.open(proj_path) as project:
        summary = drive(export(project, fmt, out, mode=mode))
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_kb = _peak_rss_kb()
    return {
        "format": fmt,
        "mode": mode,
        "n": summary.n_samples,
        "files": summary.n_files,
        "seconds": round(secs, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_mb": round(peak_kb / 1024, 1),
    }


def import_once(proj_path: Path, fmt: str, path: Path, _mode: str) -> dict:
    """Import an export's labels back in this process: seconds and peak RSS."""
    from db import Project
    from workflows.import_labels import import_labels

    t0, c0 = time.perf_counter(), time.process_time()
    with Project.open(proj_path) as project:
        r = import_labels(project, fmt, path)
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert not r.unmatched, r.unmatched[:3]
    return {
        "format": f"import {fmt}",
        "mode": "-",
        "n": r.n_imported,
        "files": 0,
        "seconds": round(secs, 2),
        "cpu_seconds": round(cpu, 2),
        "peak_mb": round(_peak_rss_kb() / 1024, 1),
    }


# what a child process runs, by job name; and the exports that import back, with their label file
CHILD_JOBS = {"export": export_once, "import": import_once}
IMPORT_BACK = {"csv": "labels.csv", "jsonl": "labels.jsonl"}


def _child(job: str, proj: Path, fmt: str, path: Path, mode: str) -> dict:
    r = subprocess.run(
        [sys.executable, __file__, "--_child", job, str(proj), fmt, str(path), mode],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise SystemExit(f"{job} {fmt} failed:\n{r.stderr}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    print(
        f"{res['format']:<12} {res['mode']:<9} {res['n']:>8,} images  {res['files']:>8,} files  "
        f"{res['seconds']:>6.2f} s (cpu {res['cpu_seconds']:.2f} s)  peak {res['peak_mb']:>6.1f} MB",
        flush=True,
    )
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--formats", default="imagefolder:hardlink,csv", help="FORMAT[:MODE],...")
    ap.add_argument("--no-explanations", action="store_true")
    ap.add_argument("--workdir", help="scratch folder (default: a new one under /tmp, removed after)")
    ap.add_argument("--no-import", action="store_true", help="skip importing the csv/jsonl export back")
    ap.add_argument(
        "--_child", nargs=5, metavar=("JOB", "PROJECT", "FORMAT", "PATH", "MODE"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args._child:
        job, proj, fmt, path, mode = args._child
        print(json.dumps(CHILD_JOBS[job](Path(proj), fmt, Path(path), mode)))
        return 0
    work = Path(args.workdir or tempfile.mkdtemp(prefix="lazlabel-bench-export-", dir="/tmp"))
    try:
        proj = build(work, args.n, args.classes, not args.no_explanations)
        results = []
        for spec in args.formats.split(","):
            fmt, _, mode = spec.partition(":")
            out = work / f"out-{fmt}-{mode or 'copy'}"
            results.append(_child("export", proj, fmt, out, mode or "copy"))
            if fmt in IMPORT_BACK and not args.no_import:
                results.append(_child("import", proj, fmt, out / IMPORT_BACK[fmt], "-"))
            shutil.rmtree(out, ignore_errors=True)
        print(json.dumps({"n": args.n, "results": results}))
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
