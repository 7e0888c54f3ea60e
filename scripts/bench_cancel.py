"""Pre-label progress granularity and cancel latency on a demo project (issue #14 item 8).

Runs `workflows.prelabel.run_prelabel` the way the desktop does (a worker thread driving the
generator, a CancelToken set from another thread), with `force` so every image is encoded again:

* the longest interval between two progress updates once the images are being encoded;
* the time from `cancel()` to the run being recorded "cancelled" in the store.

Both in wall-clock seconds and in CPU seconds of this process (`*_cpu_s`: the work done in that
time, which the load of other processes on the machine changes far less than the wall clock).

    lazlabel demo --dir /tmp/demo-random --views random --no-prelabel
    python scripts/bench_cancel.py /tmp/demo-random/demo.lazlabel --cancel-after 2 3.5 5 6.5

then `lazlabel --project /tmp/demo-random cache verify` checks the cache the cancels left.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

import torch

from db import Project
from workflows.prelabel import run_prelabel
from workflows.progress import Cancelled, CancelToken

VERBOSE = False


def one(path: Path, cancel_after: float, mode: str | None) -> dict[str, float]:
    """One forced run, cancelled `cancel_after` s after the first encoding progress (0: no cancel)."""
    project = Project.open(path)
    try:
        from workflows.settings import load_settings

        settings = load_settings(project)
        if mode:
            settings.view_mode = mode
        token = CancelToken()
        stamps: list[tuple[float, int, float]] = []
        result: dict[str, float] = {}
        started = threading.Event()

        def work() -> None:
            gen = run_prelabel(project, scope="all", settings=settings, cancel=token, force=True)
            try:
                for p in gen:
                    if p.stage in ("hash", "prelabel"):
                        stamps.append((time.perf_counter(), p.done, time.process_time()))
                        if VERBOSE:
                            print(f"{stamps[-1][0] - stamps[0][0]:6.2f}s {p.stage} {p.done} {p.extra.get('in_flight', '')}")
                        started.set()
            except Cancelled:
                result["recorded"] = time.perf_counter()
                result["recorded_cpu"] = time.process_time()
            finally:
                started.set()

        th = threading.Thread(target=work)
        th.start()
        started.wait()
        if cancel_after > 0:
            time.sleep(cancel_after)
            t_cancel, c_cancel = time.perf_counter(), time.process_time()
            token.cancel()
        th.join()
        gaps = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
        cpu_gaps = [b[2] - a[2] for a, b in zip(stamps, stamps[1:])]
        out = {"max_gap_s": max(gaps) if gaps else float("nan"), "updates": len(stamps),
               "max_gap_cpu_s": max(cpu_gaps) if cpu_gaps else float("nan"),
               "done_at_end": stamps[-1][1] if stamps else 0, "gaps": [round(g, 2) for g in gaps]}
        if cancel_after > 0 and "recorded" in result:
            run = project.latest_prediction_run()
            out["cancel_s"] = result["recorded"] - t_cancel
            out["cancel_cpu_s"] = result["recorded_cpu"] - c_cancel
            out["status"] = run.status  # type: ignore[assignment]
        return out
    finally:
        project.close()


def main() -> None:
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project", type=Path)
    ap.add_argument("--cancel-after", type=float, nargs="+", default=[2.0, 3.5, 5.0, 6.5],
                    help="seconds after encoding starts, one run each (0: run to the end)")
    ap.add_argument("--mode", choices=["random", "grid", "dense"], help="view mode (default: the project's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verbose", action="store_true", help="print every progress update")
    args = ap.parse_args()
    VERBOSE = args.verbose
    torch.set_num_threads(args.threads)
    rows = []
    for after in args.cancel_after:
        rows.append(one(args.project, after, args.mode))
        print({k: (round(v, 2) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    for key in ("max_gap_s", "max_gap_cpu_s", "cancel_s", "cancel_cpu_s"):
        vals = [r[key] for r in rows if key in r]
        if vals:
            print(f"{key}: median {statistics.median(vals):.2f} s, max {max(vals):.2f} s over {len(vals)} runs")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
