"""Runs one scan in a child process (for the kill -9 and permission tests): prints a line per batch.

    python -m tests.scan.scan_child PROJECT [--create ROOT] [--batch N] [--pause S]
"""

from __future__ import annotations

import argparse
import sys
import time

from db import Project
from workflows.progress import drive
from workflows.scan import scan_folder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("project")
    ap.add_argument("--create", metavar="ROOT")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--pause", type=float, default=0.0, help="sleep after each batch (widens the kill window)")
    args = ap.parse_args(argv)
    proj = Project.create(args.project, args.create) if args.create else Project.open(args.project)

    def tick(p) -> None:
        print(f"progress {p.done}", flush=True)
        time.sleep(args.pause)

    res = drive(scan_folder(proj, batch_size=args.batch), tick)
    print(f"done seen={res.seen} errors={res.errors}", flush=True)
    proj.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
