#!/usr/bin/env python
"""Ray pre-label benchmarks (issue #20 item 4). Needs `pip install 'lazlabel[ray]'`.

  throughput : the demo world pre-labelled locally, then on a local Ray instance with 1 and 2
               encoding workers (each run a new run into a fresh feature store); wall time,
               images/s, and whether the predictions equal the local run's.
  kill       : a 2-worker Ray run; once a few batches are done, one worker is killed with SIGKILL
               (kill -9 by PID); the run must complete and equal the uninterrupted local run.
  encoder    : views/s of the image encoder alone on this machine's device (random-init
               weights of --model, ENCODE_VIEWS_PER_PASS views per pass), the CPU time to cut one
               image's 91 views (what each Ray actor's decoding thread does), and what both mean
               for LaZSL on a cluster of G such devices with A actors per device.

    .venv/bin/python scripts/bench_ray.py throughput [--images 56 --batch 8]
    .venv/bin/python scripts/bench_ray.py kill [--images 56 --batch 4]
    .venv/bin/python scripts/bench_ray.py encoder [--model random:ViT-B-16 --device cuda --seconds 20]
    .venv/bin/python scripts/bench_ray.py encoder --device cpu --pass-views 16 --actors 1   # a CPU box
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("PYTHONPATH", str(REPO))  # Ray workers import lazlabel from here

from db.project import Project  # noqa: E402
from workflows.demo import build_demo_project  # noqa: E402
from workflows.prelabel import run_prelabel  # noqa: E402
from workflows.progress import drive  # noqa: E402
from workflows.settings import load_settings  # noqa: E402

VIEWS_PER_IMAGE = 91  # LaZSL faithful: the global view + 90 crops


def _world(n: int) -> Path:
    target = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    return drive(build_demo_project(target, n, prelabel=False))


def _predictions(project: Project, run_id: int) -> dict:
    return {"topk": project.run_topk(run_id),
            "explanations": {i: project.explanations(i, run_id) for i in project.predicted_image_ids(run_id)}}


def _run(path: Path, batch: int, *, ray_workers: int | None = None, trace: str = "") -> tuple[int, float, int]:
    """One new pre-label run into a fresh store: (run id, seconds, images)."""
    from workflows.prelabel_ray import run_prelabel_ray

    project = Project.open(path)
    settings = load_settings(project)
    settings.cache_dir = tempfile.mkdtemp(prefix="store-", dir=path.parent)
    settings.batch_size = batch
    t = time.perf_counter()
    if ray_workers is None:
        s = drive(run_prelabel(project, settings=settings, force=True))
    else:
        s = drive(run_prelabel_ray(project, settings=settings, force=True, workers=ray_workers, trace_dir=trace))
    return s.run_id, time.perf_counter() - t, s.n_scored


def _ray_init() -> float:
    import ray

    t = time.perf_counter()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, configure_logging=False,
             _node_ip_address="127.0.0.1")
    return time.perf_counter() - t


def throughput(args: argparse.Namespace) -> None:
    path = _world(args.images)
    project = Project.open(path)
    rows = []
    local_id, secs, n = _run(path, args.batch)
    rows.append(("local (this process, all cores)", secs, n, "-"))
    print(f"ray.init: {_ray_init():.1f} s (not counted below)")
    for w in (1, 2):
        rid, secs, n = _run(path, args.batch, ray_workers=w)
        same = _predictions(project, rid) == _predictions(project, local_id)
        rows.append((f"ray, {w} worker{'s' if w > 1 else ''} (1 core each)", secs, n, "yes" if same else "NO"))
    print(f"\n{args.images} demo scenes, batch {args.batch}, {os.cpu_count()} cores\n")
    print("| run | wall s | images/s | predictions = local |\n|---|---:|---:|:---:|")
    for name, secs, n, same in rows:
        print(f"| {name} | {secs:.1f} | {n / secs:.2f} | {same} |")


def kill(args: argparse.Namespace) -> None:
    path = _world(args.images)
    project = Project.open(path)
    local_id, _, _ = _run(path, args.batch)
    _ray_init()
    trace = Path(tempfile.mkdtemp(prefix="trace-"))
    killed: list[int] = []

    def killer() -> None:  # after `--after` batch starts, kill -9 the worker that started the latest one
        while len(killed) == 0:
            marks = sorted(trace.glob("*.busy"), key=lambda p: p.stat().st_mtime)
            if len(marks) >= 2:
                pid = int(marks[-1].name.split(".")[0])
                time.sleep(args.delay)  # mid-batch
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                print(f"killed worker pid {pid} (kill -9) mid-batch")
            time.sleep(0.05)

    th = threading.Thread(target=killer, daemon=True)
    th.start()
    rid, secs, n = _run(path, args.batch, ray_workers=2, trace=str(trace))
    pids = {int(p.name.split(".")[0]) for p in trace.glob("*.busy")}
    same = _predictions(project, rid) == _predictions(project, local_id)
    print(f"run #{rid}: {n} images in {secs:.1f} s; killed {killed}; workers seen {sorted(pids)}; "
          f"predictions equal the uninterrupted local run: {same}")
    if not killed or not same:
        sys.exit(1)


def encoder(args: argparse.Namespace) -> None:
    import torch

    from engine.models import load_model
    from engine.pipeline import ENCODE_VIEWS_PER_PASS

    model = load_model(args.model, args.device, args.precision)
    x = torch.randn(args.pass_views or ENCODE_VIEWS_PER_PASS, 3, model.image_size, model.image_size)
    model.encode_images(x)  # warm-up
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < args.seconds:
        model.encode_images(x)
        n += x.shape[0]
    if model.device.type == "cuda":
        torch.cuda.synchronize()
    rate = n / (time.perf_counter() - t)
    img = rate / VIEWS_PER_IMAGE
    print(f"{model.model_id} on {model.device} ({model.dtype}): {rate:,.1f} views/s = {img:,.2f} images/s "
          f"in LaZSL faithful mode ({VIEWS_PER_IMAGE} views/image)")
    cut = _cut_rate(model.image_size)
    print(f"cutting views: {cut:.1f} images/s per actor (CPU time of one thread, 640x480 source)")
    actors = args.actors
    per_device = min(img, actors * cut)
    print(f"with {actors} actors per device: {per_device:,.1f} images/s per device "
          f"({'encoder' if img <= actors * cut else 'view cutting'}-bound)")
    for g in (1, 8, 32, 64):
        r = g * per_device
        print(f"  {g:>3} devices: {r:,.0f} images/s, 1M images in {1e6 / r / 3600:,.1f} h")


def _cut_rate(size: int) -> float:
    import numpy as np
    import torch
    from PIL import Image

    from engine.types import ViewConfig
    from engine.views import make_views

    torch.set_num_threads(1)
    img = Image.fromarray((np.random.default_rng(0).random((480, 640, 3)) * 255).astype("uint8"))
    cfg = ViewConfig(mode="random", n_crops=VIEWS_PER_IMAGE - 1)
    mean, std = (0.48, 0.46, 0.41), (0.27, 0.26, 0.28)
    n, t = 0, time.process_time()
    while time.process_time() - t < 5:
        make_views(img, f"h{n}", cfg, size, mean, std)
        n += 1
    return n / (time.process_time() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--images", type=int, default=56)
    t.add_argument("--batch", type=int, default=8)
    k = sub.add_parser("kill")
    k.add_argument("--images", type=int, default=56)
    k.add_argument("--batch", type=int, default=4)
    k.add_argument("--delay", type=float, default=0.5, help="seconds into a batch before the kill")
    e = sub.add_parser("encoder")
    e.add_argument("--model", default="random:ViT-B-16")
    e.add_argument("--device", default="auto")
    e.add_argument("--precision", default="auto")
    e.add_argument("--seconds", type=float, default=20.0)
    e.add_argument("--pass-views", type=int, default=0, help="views per forward pass (default: the engine's)")
    e.add_argument("--actors", type=int, default=8, help="Ray actors per device (--gpus-per-worker 1/A)")
    args = ap.parse_args()
    {"throughput": throughput, "kill": kill, "encoder": encoder}[args.cmd](args)


if __name__ == "__main__":
    main()
