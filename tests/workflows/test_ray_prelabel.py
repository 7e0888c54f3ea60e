"""`lazlabel prelabel --ray` (issue #20 item 4) on a real local Ray instance: the demo world
pre-labelled on Ray equals a local run, resumes like one, survives a worker killed mid-batch, and a
local run never imports Ray. One Ray instance for the module (start-up is slow on shared cores);
`.ci/run` may start one and name it in LAZLABEL_TEST_RAY_ADDRESS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cli.main import main
from db.project import Project
from engine.demo_world.classes import CLASS_NAMES
from workflows.demo import build_demo_project
from workflows.progress import drive
from workflows.settings import load_settings

ray = pytest.importorskip("ray")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_instance():
    address = os.environ.get("LAZLABEL_TEST_RAY_ADDRESS") or None
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    local = {} if address else {"num_cpus": 2, "_node_ip_address": "127.0.0.1"}  # small, loopback only
    ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False, **local)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo world (one scene per class, three broken files), pre-labelled locally: run #1."""
    target = tmp_path_factory.mktemp("raydemo")
    path = drive(build_demo_project(target, len(CLASS_NAMES), prelabel=False))
    assert main(["-p", str(path), "prelabel"]) == 0
    return path


def _predictions(project: Project, run_id: int) -> dict:
    expl = {i: project.explanations(i, run_id) for i in project.predicted_image_ids(run_id)}
    return {"topk": project.run_topk(run_id), "explanations": expl}


def _ray_run(path: Path, store: Path, **kw):
    from workflows.prelabel_ray import run_prelabel_ray

    project = Project.open(path)
    settings = load_settings(project)
    settings.cache_dir = str(store)
    settings.batch_size = 4  # several batches (the local run used the demo's batch size)
    return project, drive(run_prelabel_ray(project, settings=settings, **kw))


def test_ray_prelabel_equals_the_local_run_and_resumes(demo, ray_instance, tmp_path):
    project, summary = _ray_run(demo, tmp_path / "store", force=True, workers=2)
    assert summary.n_scored == len(CLASS_NAMES)
    assert list((tmp_path / "store").rglob("*.hashes"))  # features went to the given store
    local, distributed = _predictions(project, 1), _predictions(project, summary.run_id)
    assert local["topk"] and distributed == local
    _, again = _ray_run(demo, tmp_path / "store")  # same model, views, attributes: nothing to do
    assert again.nothing_to_do and again.run_id == summary.run_id


def test_a_worker_killed_mid_batch_loses_only_its_batch(demo, ray_instance, tmp_path):
    trace = tmp_path / "trace"
    trace.mkdir()
    (trace / "hold").write_text("")  # every worker waits at its first batch
    result: dict = {}

    def run() -> None:
        try:
            result["out"] = _ray_run(demo, tmp_path / "store", force=True, workers=2, trace_dir=str(trace))
        except BaseException as err:  # reported below
            result["err"] = err

    th = threading.Thread(target=run)
    th.start()
    deadline = time.monotonic() + 120
    while not list(trace.glob("*.busy")) and time.monotonic() < deadline:
        time.sleep(0.1)
    victim = int(next(trace.glob("*.busy")).name.split(".")[0])
    os.kill(victim, signal.SIGKILL)  # kill -9 mid-batch
    (trace / "hold").unlink()
    th.join(timeout=300)
    assert not th.is_alive() and "err" not in result, result.get("err")
    project, summary = result["out"]
    pids = {int(p.name.split(".")[0]) for p in trace.glob("*.busy")}
    assert victim in pids and len(pids) >= 2  # a new worker took the killed one's batch
    assert summary.n_scored == len(CLASS_NAMES)
    assert _predictions(project, summary.run_id) == _predictions(project, 1)


def test_a_local_run_never_imports_ray(demo):
    code = (
        "import sys; from cli.main import main\n"
        f"assert main(['-p', {str(demo)!r}, 'prelabel', '--force']) == 0\n"
        "assert 'ray' not in sys.modules and 'engine.distributed' not in sys.modules, 'ray imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "images pre-labelled" in out.stdout


def test_workers_without_ray_is_a_usage_error(demo, capsys):
    assert main(["-p", str(demo), "prelabel", "--workers", "2"]) == 1
    assert "use them with --ray" in capsys.readouterr().err


def test_an_unreachable_cluster_is_one_line_and_no_run(demo, capsys):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    runs = len(Project.open(demo).runs())
    assert main(["-p", str(demo), "prelabel", "--ray", f"127.0.0.1:{port}", "--force"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot reach the Ray cluster at 127.0.0.1:{port}" in err[0]
    assert len(Project.open(demo).runs()) == runs
