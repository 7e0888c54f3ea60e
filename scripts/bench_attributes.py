#!/usr/bin/env python
"""Benchmarks of the attribute use cases (issue #5).

    .venv/bin/python scripts/bench_attributes.py               # import/export + propose, 3 repeats
    .venv/bin/python scripts/bench_attributes.py --repeats 5 --latency 0.3 --classes 40

1. Import each descriptor file in ../shared/data/descriptors (read in place) into a fresh
   project: wall time of `workflows.attributes.import_attributes` (parse + validate + one
   transaction), then export to JSON and CSV, `class_specs()` and `attribute_set_version()`.
   The target is ImageNet (1000 classes, 5800 attributes) in well under 5 s.
2. Propose: `propose_attributes` against the test suite's fake Ollama server (real `ollama`
   client, real HTTP) with a fixed per-reply latency, at concurrency 1 vs 4: the speed-up of
   the bounded thread pool over one request at a time.

Not a test: numbers are noisy on a shared machine; compare within one run (median of repeats).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DESCRIPTORS = REPO.parent / "shared" / "data" / "descriptors"


def _fresh(tmp: Path, name: str):
    from db import Project

    root = tmp / f"{name}-images"
    root.mkdir()
    return Project.create(tmp / f"{name}.lazlabel", root)


def bench_files(repeats: int) -> None:
    from workflows.attributes import export_attributes, import_attributes

    print(
        f"{'file':<16}{'classes':>8}{'attrs':>7}{'import s':>10}{'export json s':>15}{'export csv s':>14}"
        f"{'specs+version ms':>18}"
    )
    for path in sorted(DESCRIPTORS.glob("*.json")):
        imp, exj, exc, spec = [], [], [], []
        for i in range(repeats):
            with tempfile.TemporaryDirectory() as d:
                tmp = Path(d)
                with _fresh(tmp, f"p{i}") as project:
                    t0 = time.perf_counter()
                    res = import_attributes(project, path, who="bench")
                    imp.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    export_attributes(project, tmp / "out.json")
                    exj.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    export_attributes(project, tmp / "out.csv")
                    exc.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    project.class_specs()
                    project.attribute_set_version()
                    spec.append(time.perf_counter() - t0)
                    same = json.loads((tmp / "out.json").read_text()) == json.loads(path.read_text())
        med = statistics.median
        print(
            f"{path.name:<16}{res.classes_in_file:>8}{res.attributes_added:>7}{med(imp):>10.2f}{med(exj):>15.2f}"
            f"{med(exc):>14.2f}{med(spec) * 1000:>18.0f}"
            + ("" if same else "   (round trip differs: duplicates dropped)")
        )


def bench_propose(repeats: int, latency: float, n_classes: int) -> None:
    from tests.attributes.conftest import FakeOllama, Reply
    from workflows.attributes import propose_attributes
    from workflows.progress import drive

    server = FakeOllama()
    server.responder = lambda body: Reply(
        json.dumps({"attributes": ["long tail", "striped fur"]}), delay=latency
    )
    try:
        times: dict[int, list[float]] = {1: [], 4: []}
        for i in range(repeats):
            for conc in times:
                with tempfile.TemporaryDirectory() as d, _fresh(Path(d), f"q{i}") as project:
                    project.set_setting("ollama_host", server.url)
                    project.replace_attributes([(f"class {k}", []) for k in range(n_classes)], who="bench")
                    t0 = time.perf_counter()
                    res = drive(propose_attributes(project, model="llama3.2", concurrency=conc, who="bench"))
                    times[conc].append(time.perf_counter() - t0)
                    assert len(res.saved) == n_classes, res.failures
        t1, t4 = statistics.median(times[1]), statistics.median(times[4])
        print(
            f"propose {n_classes} classes, {latency:.2f} s per reply: concurrency 1 {t1:.2f} s, "
            f"concurrency 4 {t4:.2f} s, speed-up x{t1 / t4:.2f} (ideal x4)"
        )
    finally:
        server.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--latency", type=float, default=0.2, help="fake Ollama seconds per reply")
    ap.add_argument("--classes", type=int, default=24, help="classes to propose for")
    ap.add_argument("--skip-propose", action="store_true")
    args = ap.parse_args()
    if not DESCRIPTORS.is_dir():
        sys.exit(f"descriptor files not found at {DESCRIPTORS}")
    bench_files(args.repeats)
    if not args.skip_propose:
        bench_propose(args.repeats, args.latency, args.classes)


if __name__ == "__main__":
    main()
