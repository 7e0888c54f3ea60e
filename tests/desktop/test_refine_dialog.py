"""The refine dialog (issue #17 item 5 in the desktop) end to end: the LLM is a loopback Ollama server
scripted with the parts the project's attributes lack, the project a planted feature cache where two
classes are confused. Asking, the per-attribute preview and adding run in workers (signals in order);
only the ticked proposals are stored, with their provenance. Real SQLite, cache and engine."""

from __future__ import annotations

import shutil

import pytest
from PySide6.QtCore import Qt

from tests.attributes.conftest import closed_port_url  # noqa: F401 - a fixture
from tests.refine.conftest import confused_template, fake_ollama  # noqa: F401 - fixtures


@pytest.fixture
def refine_ctx(ctx, confused_template, fake_ollama, tmp_path):  # noqa: F811 - fixtures
    from db import Project
    from workflows.settings import load_settings, save_settings

    root, world = confused_template
    shutil.copytree(root, tmp_path / "copy")
    project = Project.open(tmp_path / "copy" / "t.lazlabel")
    settings = load_settings(project)
    settings.ollama_host = fake_ollama.url
    save_settings(project, settings)
    ctx.set_project(project)
    return ctx, project, world


def _texts(project, cid):
    return [a.text for a in project.list_attributes(cid) if a.active]


def test_ask_preview_and_add_only_the_ticked_ones(qtbot, refine_ctx, fake_ollama):  # noqa: F811
    from desktop.learn.refine_dialog import RefineDialog

    ctx, project, world = refine_ctx
    a, b = world["class_ids"]["zorbit"], world["class_ids"]["morvex"]
    before_a, before_b = _texts(project, a), _texts(project, b)
    dlg = RefineDialog(ctx, a, b, ask=False)
    qtbot.addWidget(dlg)
    dlg.show()
    busy: list[str] = []
    dlg.model.events.busy.connect(lambda e: busy.append(e.value))
    ask = dlg.ask()
    assert ask is not None and not dlg.ask_button.isEnabled() and dlg.cancel_button.isEnabled()
    with qtbot.waitSignals([ask.finished, ask.done], order="strict", timeout=30000):
        pass
    # the proposals are in; the preview of their effect follows at once, in its own worker
    assert [(p.class_name, p.text) for p in dlg.model.proposals] == [("zorbit", "a blue triangle"),
                                                                      ("morvex", "a yellow square")]
    assert "1 the classes already had were left out" in dlg.notice.text()  # "a red striped circle"
    preview = dlg.worker
    assert preview is not None and dlg.model.busy == "preview"
    with qtbot.waitSignals([preview.finished, preview.done], order="strict", timeout=60000):
        pass
    assert busy == ["propose", "", "preview", ""]
    prev = dlg.preview_result
    effects = {p.text: e for p, e in prev.per_attribute}
    for i in range(dlg.table.topLevelItemCount()):
        item = dlg.table.topLevelItem(i)
        e = effects[item.text(0)]
        assert item.text(2) == (f"{prev.before.pair_accuracy:.0%} → {e.pair_accuracy:.0%}  "
                                f"(+{e.fixed} / −{e.broken})")
    assert f"→ {prev.together.pair_accuracy:.0%}" in dlg.summary.text()
    assert prev.together.pair_accuracy > prev.before.pair_accuracy  # the missing parts tell them apart
    # the first preview suggests the ones that fix more than they break on the pair, alone
    assert dlg.model.ticked == {p.index for p in dlg.model.proposals if p.fixed > p.broken}
    assert "Ticked: " in dlg.notice.text()
    # the curator ticks zorbit's proposal only (per attribute): only it is added
    for k, on in ((0, True), (1, False)):
        dlg.table.topLevelItem(k).setCheckState(0, Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
    assert dlg.model.ticked == {0} and dlg.accept_button.isEnabled()
    add = dlg.accept_ticked()
    assert add is not None and not dlg.accept_button.isEnabled()
    with qtbot.waitSignal(ctx.classes_changed, timeout=30000):
        with qtbot.waitSignals([add.finished, add.done], order="strict", timeout=30000):
            pass
    assert _texts(project, a) == [*before_a, "a blue triangle"]
    assert _texts(project, b) == before_b
    added = next(x for x in project.list_attributes(a) if x.text == "a blue triangle")
    assert "confusion prompt for pair zorbit vs morvex" in (added.origin or "")
    assert not dlg.accept_button.isEnabled()  # added once; asking again starts over
    assert not ctx.errors


def test_a_server_that_is_down_is_one_line_not_a_bug(qtbot, refine_ctx, closed_port_url):  # noqa: F811
    from desktop.learn.refine_dialog import RefineDialog
    from workflows.settings import load_settings, save_settings

    ctx, project, world = refine_ctx
    settings = load_settings(project)
    settings.ollama_host = closed_port_url
    save_settings(project, settings)
    dlg = RefineDialog(ctx, world["class_ids"]["zorbit"], world["class_ids"]["morvex"], ask=False)
    qtbot.addWidget(dlg)
    worker = dlg.ask()
    with qtbot.waitSignals([worker.errored, worker.done], order="strict", timeout=30000):
        pass
    assert dlg.notice.text() and not ctx.errors and dlg.model.proposals == []
    assert dlg.ask_button.isEnabled() and not dlg.accept_button.isEnabled()


def test_insight_ranks_the_confused_pairs_in_a_worker_and_opens_the_dialog(qtbot, refine_ctx):
    from desktop.insight.view import InsightView
    from desktop.learn.refine_dialog import RefineDialog
    from workflows.refine import confused_pairs

    ctx, project, world = refine_ctx
    view = InsightView(ctx)
    qtbot.addWidget(view)
    view._fill_pairs()  # what opening the menu does
    actions = view.pairs_menu.actions()
    assert [a.text() for a in actions] == ["finding the confused pairs…"] and not actions[0].isEnabled()
    worker = view._pairs_worker
    assert worker is not None and view.find_confused_pairs() is worker  # one ranking at a time
    with qtbot.waitSignals([worker.finished, worker.done], order="strict", timeout=30000):
        pass
    expected = confused_pairs(project)
    assert view.confused == expected and expected
    view._fill_pairs()
    texts = [a.text() for a in view.pairs_menu.actions()]
    top = expected[0]
    assert texts[0].startswith(f"{top.a_name} vs {top.b_name}  (") and len(texts) == len(expected)
    view.pairs_menu.actions()[0].trigger()
    dlg = view.findChild(RefineDialog)
    assert dlg is not None and (dlg.a, dlg.b) == (top.a, top.b) and dlg.model.busy == "propose"
    with qtbot.waitSignal(dlg.worker.done, timeout=30000):
        pass
    dlg.close()
    ctx.project_changed.emit()  # another project: the ranking is of the old one
    assert view.confused is None
