"""A run whose process has ended is not shown as running forever: it is marked failed, interrupted."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from sqlalchemy import update

from db import Project
from db.models import Run
from db.store_runs import INTERRUPTED, owner_gone, this_process

posix_only = pytest.mark.skipif(os.name != "posix", reason="process liveness is checked on POSIX only")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@posix_only
def test_owner_gone_tells_a_dead_process_from_a_live_one():
    me = this_process()
    assert me.startswith(f"{socket.gethostname()}|{os.getpid()}|")
    assert not owner_gone(me)
    assert owner_gone(f"{socket.gethostname()}|{_dead_pid()}|")
    assert not owner_gone(f"some-other-host-{os.getpid()}|{_dead_pid()}|")  # cannot know: leave it
    assert not owner_gone(None) and not owner_gone("") and not owner_gone("garbage")
    host, pid, ticks = me.split("|")
    if ticks:  # Linux: the same pid started at another time is another process (pid reused)
        assert owner_gone(f"{host}|{pid}|{int(ticks) + 1}")


@posix_only
def test_runs_of_a_dead_process_show_as_interrupted_and_resume(tmp_path):
    with Project.create(tmp_path / "p.lazlabel", tmp_path) as proj:
        mine = proj.create_run(kind="prelabel", model_id="m", engine_config={}, attribute_set_version="v", n_images=3)
        dead = proj.create_run(kind="prelabel", model_id="m", engine_config={}, attribute_set_version="v", n_images=3)
        legacy = proj.create_run(kind="prelabel", model_id="m", engine_config={}, attribute_set_version="v",
                                 n_images=3)
        with proj.session() as s:  # one run owned by a process that has ended, one with no owner (old file)
            s.execute(update(Run).where(Run.id == dead).values(owner=f"{socket.gethostname()}|{_dead_pid()}|"))
            s.execute(update(Run).where(Run.id == legacy).values(owner=None))
        rows = {r.id: r for r in proj.runs()}
        assert rows[mine].status == "running"
        assert rows[dead].status == "failed" and rows[dead].message == INTERRUPTED
        assert rows[legacy].status == "running"  # no owner recorded: nothing to go on
        proj.update_run(dead, status="running")  # resumed by this process: it owns the run now
        assert proj.run(dead).status == "running"
        with proj.session() as s:
            assert s.get(Run, dead).owner == this_process()
