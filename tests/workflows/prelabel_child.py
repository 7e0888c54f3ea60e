"""Subprocess body for the kill -9 test: pre-label, pausing after each stored batch until told to go on."""

from __future__ import annotations

import sys

from db import Project
from tests.workflows.synth import tiny_spec
from workflows.prelabel import run_prelabel

tiny_spec()  # the random tiny config is per process
project = Project.open(sys.argv[1])
gen = run_prelabel(project)
for p in gen:
    if p.stage == "prelabel":
        print(f"BATCH {p.done}", flush=True)
        sys.stdin.readline()
print("FINISHED", flush=True)
