"""The Learn panel's training of a compositional model (issue #18 item 5): msci offered on a
(state, object) project, per-epoch progress and the held-out curve while it trains, Cancel, and the
seen / unseen accuracy, for the run just trained and for a stored run against decisions taken after
it. A real small compositional demo project, real MSCI (3 epochs); no mocks."""

from __future__ import annotations

import shutil

import pytest

from workflows.progress import drive

FAST = {"epochs": 3}


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    from db import Project
    from workflows.demo_compose import build_compose_demo
    from workflows.prelabel import run_prelabel
    from workflows.settings import load_settings, save_settings

    d = tmp_path_factory.mktemp("msci-gui")
    path = drive(build_compose_demo(d, 60, prelabel=False))  # 2 images per pair; 1 per seen pair decided
    with Project.open(path) as project:
        settings = load_settings(project)
        settings.method = "clip"  # a fast zero-shot run to learn over (MSCI reads the images itself)
        save_settings(project, settings)
        drive(run_prelabel(project, scope="all"))
    return d, path.name


@pytest.fixture
def msci_ctx(ctx, _template, tmp_path):
    from db import Project

    src, name = _template
    shutil.copytree(src, tmp_path / "c")
    project = Project.open(tmp_path / "c" / name)
    ctx.set_project(project)
    return ctx, project


@pytest.fixture
def panel(qtbot, msci_ctx):
    from desktop.learn.view import LearnPanel

    w = LearnPanel(msci_ctx[0])
    qtbot.addWidget(w)
    w.resize(900, 640)
    w.show()
    w.controller.hyper = FAST
    return w


def test_msci_trains_with_a_curve_and_reports_seen_and_unseen(qtbot, panel, msci_ctx):
    from workflows.review import decide

    ctx, project = msci_ctx
    c = panel.controller
    i = panel.method.findData("msci")
    assert i >= 0 and panel.method.model().item(i).isEnabled()  # a compositional project
    assert panel.tabs.isTabVisible(panel.training_tab) is False  # attributes is the default
    c.choose_method("msci")
    assert panel.tabs.isTabVisible(panel.training_tab) and panel.tabs.currentIndex() == panel.training_tab
    stages: list[str] = []
    c.training.events.stage.connect(lambda e: stages.append(e.value))
    curves: list[int] = []
    c.training.events.curve.connect(lambda e: curves.append(len(e.value)))
    zero = project.current_top1()
    worker = c.apply()
    assert worker is not None and panel.cancel_button.isEnabled()
    with qtbot.waitSignal(ctx.labels_changed, timeout=240000):
        with qtbot.waitSignals([worker.finished, worker.done], order="strict", timeout=240000):
            pass
    assert stages[:3] == ["prepare", "encode", "train"] and stages[-1] == "done"
    assert curves == sorted(curves) and curves[-1] == 3  # the curve only grows, one point per epoch
    t = c.training
    assert [p.epoch for p in t.curve] == [1, 2, 3]
    result = c.result
    run_id = result.run_id
    assert run_id is not None and c.model.active_run == run_id and project.current_top1() != zero
    assert t.title == f"run #{run_id}" and f"run #{run_id}" in panel.train_status.text()
    assert c.report_worker is None  # rebuilding the history is not selecting a run: nothing re-read
    rep = t.report
    space = project.label_space()
    seen = {cid for _i, cid in ((d.image_id, d.class_id) for d in project.decided_images())}
    assert (rep.n_pairs, rep.n_seen_pairs) == (len(space.pairs), len(seen))
    table = panel.seen_unseen_table
    texts = [table.topLevelItem(k).text(0) for k in range(table.topLevelItemCount())]
    assert texts == [r[0] for r in rep.rows()] + [rep.hint()]
    assert rep.unseen_n == 0 and texts[-1].startswith("No decided image of an unseen pair yet")
    assert f"{rep.n_seen_pairs} seen pair(s) trained on" in panel.seen_unseen.text()
    shown = project.current_top1()
    unseen = {p.class_id for p in space.pairs} - seen
    assert rep.predicted_unseen == sum(1 for v in shown.values() if v in unseen)
    assert rep.predicted_unseen_before == sum(1 for v in zero.values() if v in unseen)
    # a curator decides images of unseen pairs after the run: selecting the run tells how it did on them
    names = {n.replace(" ", "_"): cid for cid, n in project.class_names_by_id().items()}
    rows = [r for r in project.images(list(shown)) if names.get(r.rel_path.split("/")[-2]) in unseen][:4]
    assert rows
    for r in rows:
        decide(project, [r.id], "corrected", class_id=names[r.rel_path.split("/")[-2]], reviewer="tester")
    ctx.labels_changed.emit([r.id for r in rows])
    panel.history.setCurrentItem(None)
    item = next(panel.history.topLevelItem(k) for k in range(panel.history.topLevelItemCount())
                if panel.history.topLevelItem(k).text(0) == f"#{run_id}")
    panel.history.setCurrentItem(item)
    report = c.report_worker
    assert report is not None
    with qtbot.waitSignals([report.finished, report.done], order="strict", timeout=60000):
        pass
    stored = c.training.report
    right = sum(shown[r.id] == names[r.rel_path.split("/")[-2]] for r in rows)
    assert (stored.unseen_n, stored.unseen_right) == (len(rows), right)
    before = sum(zero[r.id] == names[r.rel_path.split("/")[-2]] for r in rows)
    row = table.topLevelItem(2)
    assert [row.text(k) for k in range(4)] == ["unseen pairs, decided images", f"{before / len(rows):.0%}",
                                               f"{right / len(rows):.0%}", f"{len(rows)}"]
    assert [(p.epoch, round(p.loss, 6)) for p in c.training.curve] == [(p.epoch, round(p.loss, 6)) for p in t.curve]
    assert not ctx.errors


def test_cancel_stops_the_training_and_writes_nothing(qtbot, panel, msci_ctx):
    ctx, project = msci_ctx
    c = panel.controller
    c.choose_method("msci")
    runs = len(project.runs())
    worker = c.apply()
    panel.cancel_button.click()
    with qtbot.waitSignals([worker.cancelled, worker.done], order="strict", timeout=120000):
        pass
    assert len(project.runs()) == runs and c.model.busy == "" and c.training.stage == "cancelled"
    assert "cancelled" in panel.train_status.text() and panel.apply_button.isEnabled()
    assert not ctx.errors
