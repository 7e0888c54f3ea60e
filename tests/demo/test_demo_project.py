"""`build_demo_project` and `lazlabel demo` end to end: real files, a real SQLite project, the real
scan / attribute import / label import / pre-label use cases and the shipped demo model."""

from __future__ import annotations

import json

import pytest

from cli.main import main as cli_main
from engine.demo_world.classes import CLASS_NAMES, descriptors
from workflows.demo import MANIFEST, PROJECT_NAME, build_demo_project, demo_summary
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, drive

N = len(CLASS_NAMES)  # one scene per class keeps this fast


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    target = tmp_path_factory.mktemp("demo")
    stages = []
    path = drive(build_demo_project(target, N), lambda p: stages.append(p.stage))
    return target, path, stages


def test_build_writes_everything_and_prelabels(built):
    target, path, stages = built
    assert path == target / PROJECT_NAME and path.is_file()
    assert {"generate", "scan", "done"} <= set(stages)
    assert json.loads((target / "attributes.json").read_text()) == descriptors()
    s = demo_summary(path)
    assert s.n_images == N and s.n_classes == N
    assert s.n_errors == 3 and {p.rsplit("/", 1)[-1] for p, _ in s.errors} == {
        "empty.png", "not_an_image.jpg", "truncated.png"}
    assert s.n_predicted == N
    assert s.accuracy is not None and s.accuracy > 3 / N  # far above chance (1/N)


def test_second_call_reuses_the_project(built):
    target, path, _ = built
    img = next((target / "images" / CLASS_NAMES[0]).glob("*.png"))
    mtime = img.stat().st_mtime_ns
    seen = []
    assert drive(build_demo_project(target, N), lambda p: seen.append((p.stage, p.message))) == path
    assert img.stat().st_mtime_ns == mtime
    assert all(stage != "generate" for stage, _ in seen) and any("nothing to do" in m for _, m in seen)


def test_refuses_a_foreign_folder_and_loses_nothing(tmp_path):
    (tmp_path / "thesis.txt").write_text("precious")
    with pytest.raises(UserError, match="not empty"):
        drive(build_demo_project(tmp_path, N))
    assert (tmp_path / "thesis.txt").read_text() == "precious"
    with pytest.raises(UserError, match="at least"):
        drive(build_demo_project(tmp_path / "new", 3))


def test_cancel_then_resume(tmp_path):
    token = CancelToken()
    gen = build_demo_project(tmp_path, N, token, prelabel=False)
    next(gen)
    token.cancel()
    with pytest.raises(Cancelled):
        drive(gen)
    assert not (tmp_path / MANIFEST).exists()
    path = drive(build_demo_project(tmp_path, N, prelabel=False))
    s = demo_summary(path)
    assert s.n_images == N and s.n_predicted == 0


def test_cli_demo_prints_the_summary(built, capsys):
    target, _, _ = built
    assert cli_main(["demo", "--dir", str(target), "--images", str(N), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "pre-label accuracy vs generated ground truth" in out and "unreadable: broken/empty.png" in out
    assert cli_main(["demo", "--dir", str(target / "x"), "--images", "2", "--quiet"]) == 1
