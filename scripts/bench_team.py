"""Concurrency check of team mode: P processes decide on overlapping images for S seconds.

    .venv/bin/python scripts/bench_team.py --url postgresql+psycopg://postgres@127.0.0.1:PORT/bench \\
        --procs 8 --seconds 30 [--images 40] [--json]

(without --url it starts a throw-away PostgreSQL, tests/pg_server.py). Each process opens the
project, then until the deadline records `corrected` decisions with a random class on 1-3 random
images of a small shared set (so the same image is decided by several people at once), counting
what it sent and the decision ids the store acknowledged. At the end:

* written == acknowledged == sent - refused (nothing lost; every decision id acknowledged is in
  the log, under the right reviewer);
* per image, the derived current label (newest decision) equals the image's label and its
  `last_decision_id`, and every decision's `previous_class_id` is the class of the decision
  before it (each writer saw the one before: no lost update).

Prints one line per fact (or JSON), exit 1 when a check fails. tests/db/test_team_concurrency.py
runs it with fewer processes and seconds.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_CLASSES = 5


def _setup(location: str, n_images: int, root: Path) -> None:
    from db import Project
    from db.models import Image, LabelClass

    with Project.create(location, root) as proj, proj.session() as s:
        s.add_all(LabelClass(name=f"c{i}", order=i) for i in range(N_CLASSES))
        s.add_all(Image(rel_path=f"img{i:04d}.png", size=1, content_hash=f"h{i}") for i in range(n_images))


def _worker(location: str, k: int, seconds: float, seed: int, out: Any, ready: Any, go: Any) -> None:
    from db import Project, ProjectError
    from db.store_review import ReviewError

    rng = random.Random(seed * 1000 + k)
    sent = refused = 0
    acked: list[int] = []
    errors: list[str] = []
    with Project.open(location) as proj:
        cids = sorted(proj.class_names_by_id())
        iids = proj.image_ids()
        ready.put(k)
        go.wait()  # every process has the project open: the clock starts for all at once
        deadline = time.time() + seconds
        while time.time() < deadline:
            imgs = rng.sample(iids, rng.randint(1, 3))
            sent += len(imgs)
            try:
                acked += proj.record_decisions(imgs, "corrected", class_id=rng.choice(cids), reviewer=f"w{k}")
            except (ProjectError, ReviewError) as err:  # a refused write, reported to the user
                refused += len(imgs)
                errors.append(str(err).splitlines()[0][:200])
    out.put({"worker": k, "sent": sent, "refused": refused, "acked": acked, "errors": errors[:5]})


def _check(location: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    from sqlalchemy import select

    from db import Project
    from db.models import Decision, Image

    acked = {(f"w{r['worker']}", d) for r in results for d in r["acked"]}
    with Project.open(location) as proj, proj.session() as s:
        rows = s.execute(select(Decision.id, Decision.image_id, Decision.reviewer, Decision.class_id,
                                Decision.previous_class_id).order_by(Decision.id)).all()
        images = {i.id: (i.label_class_id, i.last_decision_id) for i in s.scalars(select(Image))}
    written = {(who, did) for did, _img, who, _c, _p in rows}
    last: dict[int, tuple[int, int | None]] = {}
    broken_chain = 0
    for did, img, _who, cid, prev in rows:
        if img in last and prev != last[img][1]:
            broken_chain += 1
        last[img] = (did, cid)
    wrong_label = sum(1 for img, (did, cid) in last.items() if images[img] != (cid, did))
    return {
        "sent": sum(r["sent"] for r in results),
        "refused": sum(r["refused"] for r in results),
        "acknowledged": len(acked),
        "written": len(rows),
        "lost": len(acked - written),
        "unacknowledged_rows": len(written - acked),
        "images_decided": len(last),
        "wrong_current_label": wrong_label,
        "broken_previous_label_chain": broken_chain,
        "errors": [e for r in results for e in r["errors"]][:5],
    }


def run(location: str, procs: int, seconds: float, n_images: int, seed: int = 0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        _setup(location, n_images, Path(tmp))
        ctx = mp.get_context("spawn")
        q, ready, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        ps = [ctx.Process(target=_worker, args=(location, k, seconds, seed, q, ready, go)) for k in range(procs)]
        for p in ps:
            p.start()
        for _ in ps:
            ready.get(timeout=300)
        go.set()
        results = [q.get(timeout=seconds + 300) for _ in ps]
        for p in ps:
            p.join()
        report = _check(location, results)
    report.update({"processes": procs, "seconds": seconds, "images": n_images,
                   "decisions_per_s": round(report["written"] / max(seconds, 1e-9), 1)})
    report["ok"] = (report["sent"] > 0 and report["lost"] == 0 and report["unacknowledged_rows"] == 0
                    and report["written"] == report["sent"] - report["refused"]
                    and report["wrong_current_label"] == 0 and report["broken_previous_label_chain"] == 0)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--url", help="project URL (a new database) or .lazlabel path; default: a throw-away server")
    ap.add_argument("--procs", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--images", type=int, default=40, help="size of the shared image set (default 40)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    server = None
    location = args.url
    if location is None:
        from tests import pg_server

        server = pg_server.start()
        location = server.url.rsplit("/", 1)[0] + "/bench_team"
    os.environ.setdefault("LAZLABEL_TEAM_HOME", tempfile.mkdtemp(prefix="lazlabel-team-"))
    try:
        report = run(location, args.procs, args.seconds, args.images, args.seed)
    finally:
        if server is not None:
            server.stop()
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:<28} {v}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
