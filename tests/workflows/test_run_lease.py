"""A pre-label run is leased to the process running it (issue #13 item 9): a second process says
"run #N is in progress (pid P on HOST)", can wait for it, or join it on other images."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cli.main import main
from db import Project
from db.store_runs import RunInProgress

REPO = Path(__file__).resolve().parents[2]

_HOLDER = """
import sys
from db import Project
p = Project.open(sys.argv[1])
run = p.create_run(kind="prelabel", model_id="m", engine_config={}, attribute_set_version="v", n_images=1)
print(run, flush=True)
sys.stdin.readline()
p.update_run(run, status="done", finished=True)
p.close()
"""


def _holder(path: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return proc, int(proc.stdout.readline())


def test_second_process_is_told_who_runs_it(engine_project, capsys):
    project, _ids, _cids = engine_project
    proc, run_id = _holder(project.location)
    try:
        assert main(["-p", project.location, "prelabel"]) == 1
        err = capsys.readouterr().err
        assert f"run #{run_id} (prelabel) is in progress (pid {proc.pid} on {socket.gethostname()})" in err
        assert "--wait" in err and "internal error" not in err
        with pytest.raises(RunInProgress):  # the store refuses a second run outright
            project.create_run(kind="prelabel", model_id="x", engine_config={}, attribute_set_version="v",
                               n_images=1)
        assert project.claim_run(run_id, join=True) is False  # joining does not take the lease
        with pytest.raises(RunInProgress):
            project.claim_run(run_id)
    finally:
        proc.stdin.close()
        proc.wait()
    assert project.run(run_id).status == "done"


def test_wait_waits_for_the_run_then_continues(engine_project, capsys):
    project, ids, _cids = engine_project
    proc, run_id = _holder(project.location)
    release = threading.Timer(1.0, proc.stdin.close)
    release.start()
    try:
        assert main(["-p", project.location, "prelabel", "--wait"]) == 0
    finally:
        release.cancel()
        proc.stdin.close() if not proc.stdin.closed else None
        proc.wait()
    captured = capsys.readouterr()
    assert f"run #{run_id} (prelabel) is in progress" in captured.err and "waiting" in captured.err
    assert f"{len(ids)} images pre-labelled" in captured.out


def test_a_killed_owner_does_not_hold_the_lease(engine_project, capsys):
    project, ids, _cids = engine_project
    proc, run_id = _holder(project.location)
    proc.kill()
    proc.wait()
    assert main(["-p", project.location, "prelabel"]) == 0
    assert f"{len(ids)} images pre-labelled" in capsys.readouterr().out
    with Project.open(project.location) as again:
        assert again.run(run_id).status == "failed"  # shown interrupted
