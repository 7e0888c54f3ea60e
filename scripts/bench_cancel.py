"""Pre-label progress granularity and cancel latency on a demo project (issue #14 item 8).

Runs `workflows.prelabel.run_prelabel` the way the desktop does (a thread driving the generator, a
CancelToken set from another thread), with `force` so every image is encoded again, and measures:

* `first_s`: from the start of encoding (the "hashing" update) to the first progress update;
* `max_gap_s`: the longest interval between two progress updates after that one;
* `cancel_s`: from `cancel()` to the run being recorded "cancelled" in the store. The cancel comes
  `--cancel-after` seconds after the first progress update, i.e. inside the encoding, not at its start.

Each in wall-clock seconds and in CPU seconds of this process (`*_cpu_s`: the work done in that
time, which the load of other processes on the machine changes far less than the wall clock).
A first, unmeasured run warms the model and the kernels up.

    lazlabel demo --dir /tmp/demo-random --views random --no-prelabel
    python scripts/bench_cancel.py /tmp/demo-random/demo.lazlabel --cancel-after 0.5 1.5 2.5 3.5
    lazlabel --project /tmp/demo-random cache verify
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import threading
import time
from pathlib import Path

import torch

from db import Project
from workflows.prelabel import run_prelabel
from workflows.progress import Cancelled, CancelToken
from workflows.settings import load_settings

KEYS = ("first_s", "max_gap_s", "max_gap_cpu_s", "cancel_s", "cancel_cpu_s")


def one(path: Path, cancel_after: float, mode: str | None, verbose: bool = False) -> dict[str, float]:
    """One forced run, cancelled `cancel_after` s after the first progress update of the encoding."""
    project = Project.open(path)
    try:
        settings = load_settings(project)
        if mode:
            settings.view_mode = mode
        token = CancelToken()
        stamps: list[tuple[float, float, int]] = []  # (wall, cpu, images shown) per update
        out: dict[str, float] = {}
        first = threading.Event()

        def work() -> None:
            try:
                for p in run_prelabel(project, scope="all", settings=settings, cancel=token, force=True):
                    if p.stage not in ("hash", "prelabel"):
                        continue
                    stamps.append((time.perf_counter(), time.process_time(), p.done))
                    if verbose:
                        print(f"  {stamps[-1][0] - stamps[0][0]:6.2f}s {p.stage} {p.done} {p.extra.get('in_flight', '')}")
                    if p.stage == "prelabel":
                        first.set()
            except Cancelled:
                out["recorded"], out["recorded_cpu"] = time.perf_counter(), time.process_time()
            finally:
                first.set()

        th = threading.Thread(target=work)
        th.start()
        first.wait()
        if cancel_after > 0:
            time.sleep(cancel_after)
            t_cancel, c_cancel = time.perf_counter(), time.process_time()
            token.cancel()
        th.join()
        nan = math.nan
        out["first_s"] = stamps[1][0] - stamps[0][0] if len(stamps) > 1 else nan
        steady = stamps[1:]
        gaps = [b[0] - a[0] for a, b in zip(steady, steady[1:])]
        cpu = [b[1] - a[1] for a, b in zip(steady, steady[1:])]
        if "recorded" in out:
            gaps.append(out["recorded"] - steady[-1][0])  # the last update to the stop counts too
            cpu.append(out["recorded_cpu"] - steady[-1][1])
            out["cancel_s"] = out["recorded"] - t_cancel
            out["cancel_cpu_s"] = out["recorded_cpu"] - c_cancel
            out["status"] = project.latest_prediction_run().status  # type: ignore[assignment,union-attr]
        out["max_gap_s"] = max(gaps) if gaps else nan
        out["max_gap_cpu_s"] = max(cpu) if cpu else nan
        out["updates"] = len(stamps)
        out["shown_at_end"] = stamps[-1][2] if stamps else 0
        for k in ("recorded", "recorded_cpu"):
            out.pop(k, None)
        return out
    finally:
        project.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("project", type=Path)
    ap.add_argument("--cancel-after", type=float, nargs="+", default=[0.5, 1.5, 2.5, 3.5],
                    help="seconds after the first progress update, one run each (0: run to the end)")
    ap.add_argument("--mode", choices=["random", "grid", "dense"], help="view mode (default: the project's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--verbose", action="store_true", help="print every progress update")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    one(args.project, 0.2, args.mode)  # warm-up: model, kernels, caches
    rows = []
    for after in args.cancel_after:
        rows.append(one(args.project, after, args.mode, args.verbose))
        print({k: (round(v, 2) if isinstance(v, float) else v) for k, v in rows[-1].items()}, flush=True)
    for key in KEYS:
        vals = [r[key] for r in rows if key in r and not math.isnan(r[key])]
        if vals:
            print(f"{key}: median {statistics.median(vals):.2f} s, max {max(vals):.2f} s over {len(vals)} runs")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
