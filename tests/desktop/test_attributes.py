"""Classes & attributes editor: in-place edits persist in the store, the version label follows."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from tests.desktop.test_review import build_world


@pytest.fixture
def editor(ctx, project, qtbot):
    from desktop.attributes.view import AttributesView

    ctx.set_project(project)
    view = AttributesView(ctx)
    view.controller.auto_preview = False
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    view.activate()
    return view


def test_add_classes_and_attributes_through_the_widgets(editor, project, qtbot):
    assert editor.add_class("blorp") is not None
    assert editor.add_class("zenti") is not None
    assert [c.name for c in project.list_classes()] == ["blorp", "zenti"]
    assert editor.controller.current == project.get_class("zenti").id  # the new class is selected
    editor.new_text.setText("a green triangle")
    qtbot.keyClick(editor.new_text, Qt.Key.Key_Return)
    editor.new_text.setText("has dots")
    qtbot.keyClick(editor.new_text, Qt.Key.Key_Return)
    rows = project.list_attributes("zenti")
    assert [r.text for r in rows] == ["a green triangle", "has dots"] and {r.source for r in rows} == {"manual"}
    assert editor.tree.topLevelItemCount() == 2 and editor.tree.topLevelItem(0).text(1) == "manual"
    assert editor.new_text.text() == ""


def test_edit_in_place_toggle_reorder_delete_persist_and_change_the_version(editor, project):
    cid = project.add_class("blorp")
    for text in ("a red circle", "has stripes", "a blue square"):
        project.add_attribute(cid, text, source="llm", origin_model="llama3.2", prompt_version="v1")
    editor.activate()
    assert editor.tree.topLevelItem(0).text(1) == "LLM"
    v0 = editor.version_label.text()
    assert v0.startswith("attribute set ")

    editor.tree.topLevelItem(1).setText(0, "has thin stripes")  # what an in-place edit commits
    assert [r.text for r in project.list_attributes(cid)][1] == "has thin stripes"
    assert project.list_attributes(cid)[1].edited
    v1 = editor.version_label.text()
    assert v1 != v0 and "edited" in editor.tree.topLevelItem(1).text(1)

    editor.tree.topLevelItem(2).setCheckState(0, Qt.CheckState.Unchecked)
    assert [r.active for r in project.list_attributes(cid)] == [True, True, False]
    assert "a blue square" not in project.class_specs()[0][2]
    assert editor.version_label.text() not in (v0, v1)

    editor.tree.setCurrentItem(editor.tree.topLevelItem(0))
    editor.attr_buttons["down"].click()
    assert [r.text for r in project.list_attributes(cid)] == ["has thin stripes", "a red circle", "a blue square"]
    assert editor.tree.current_id() == project.list_attributes(cid)[1].id  # selection follows the row

    editor.tree.setCurrentItem(editor.tree.topLevelItem(2))
    editor.attr_buttons["delete"].click()
    assert [r.text for r in project.list_attributes(cid)] == ["has thin stripes", "a red circle"]


def test_bad_edit_is_a_readable_notice_and_loses_nothing(editor, project, ctx, qtbot):
    cid = project.add_class("blorp")
    project.add_attribute(cid, "a red circle")
    project.add_attribute(cid, "has stripes")
    editor.activate()
    editor.tree.topLevelItem(1).setText(0, "A Red Circle")  # duplicate (case-insensitive)
    assert "already has" in editor.notice.text()
    assert [r.text for r in project.list_attributes(cid)] == ["a red circle", "has stripes"]
    qtbot.waitUntil(lambda: editor.tree.topLevelItem(1).text(0) == "has stripes")  # the store's text again
    assert ctx.errors == []


def test_rename_merge_delete_classes(editor, project, ctx, qtbot):
    ids = [project.add_class(n) for n in ("blorp", "zenti", "quam")]
    editor.activate()
    with qtbot.waitSignal(ctx.classes_changed):
        editor.classes.item(0).setText("blorpo")  # rename in place
    assert project.get_class(ids[0]).name == "blorpo"
    editor.classes.clearSelection()
    editor.classes.item(1).setSelected(True)
    editor.classes.item(2).setSelected(True)
    assert editor.merge_selected(target=ids[1])
    assert [c.name for c in project.list_classes()] == ["blorpo", "zenti"]
    editor.classes.clearSelection()
    editor.classes.item(0).setSelected(True)
    assert editor.delete_selected(confirm=False)
    assert [c.name for c in project.list_classes()] == ["zenti"]
    assert editor.classes.count() == 1


ZORBIT_CYRILLIC = "z\u043erbit"  # "zоrbit": a Cyrillic о in a Latin word


def test_adding_a_lookalike_class_warns_in_the_notice_and_the_status_bar(editor, project, ctx, qtbot):
    """The use case's look-alike warning (workflows.text.lookalikes) reaches the desktop: adding
    "zоrbit" next to "zorbit" is allowed but said, in the screen's notice and the status bar."""
    assert editor.add_class("zorbit") is not None
    assert "warning" not in editor.notice.text()
    with qtbot.waitSignal(ctx.status_message) as status:
        cid = editor.add_class(ZORBIT_CYRILLIC)
    assert cid is not None and project.get_class(cid).name == ZORBIT_CYRILLIC  # allowed, not lost
    for text in (editor.notice.text(), status.args[0]):
        assert "looks like the class 'zorbit'" in text and "mixes Cyrillic and Latin" in text
    assert ctx.errors == []


def test_renaming_to_a_lookalike_and_the_add_dialog_path_warn_too(editor, project, ctx, qtbot):
    from desktop.dialogs.add_classes import add_classes

    ids = [project.add_class(n) for n in ("zorbit", "blorp")]
    editor.activate()
    with qtbot.waitSignal(ctx.status_message) as status:
        editor.classes.item(1).setText(ZORBIT_CYRILLIC)  # rename in place
    assert project.get_class(ids[1]).name == ZORBIT_CYRILLIC
    assert "looks like the class 'zorbit'" in status.args[0] and "looks like" in editor.notice.text()
    # the Add classes dialog's path: all or none through workflows.attributes.add_classes
    with qtbot.waitSignal(ctx.status_message) as status:
        added = add_classes(ctx, ["Zorbit\u200b2", "quam"])
    assert len(added) == 2 and "stored as 'Zorbit2'" in status.args[0]
    with qtbot.waitSignal(ctx.status_message) as status:
        assert add_classes(ctx, ["newone", "quam"]) == []  # one taken name: nothing added
    assert "already exists" in status.args[0] and "newone" not in [c.name for c in project.list_classes()]


def test_rescore_is_offered_after_an_edit_when_labels_exist(ctx, project, qtbot):
    from desktop.attributes.view import AttributesView

    world = build_world(project)
    ctx.set_project(project)
    view = AttributesView(ctx)
    view.controller.auto_preview = False
    qtbot.addWidget(view)
    assert view.rescore.state == "idle"  # the run used exactly these attributes
    view.controller.select_class(world["classes"]["blorp"])
    view.controller.add_attribute("has a long tail")
    assert view.rescore.state == "stale" and view.rescore.apply.isEnabled()
    assert "labels from" in view.version_label.text()


@pytest.fixture
def ollama():
    """A real Ollama-protocol HTTP server on 127.0.0.1 (the attributes tests' fake), for the real client."""
    from tests.attributes.conftest import FakeOllama

    server = FakeOllama()
    yield server
    server.close()


def _use_ollama(ctx, url: str) -> None:
    from workflows.settings import ProjectSettings

    ctx.save_settings(ProjectSettings(ollama_host=url, ollama_model="llama3.2", reviewer="ana"))


def test_propose_with_llm_for_the_selected_classes(editor, project, ctx, qtbot, ollama):
    _use_ollama(ctx, ollama.url)
    ids = [project.add_class(n) for n in ("blorp", "zenti", "quam")]
    editor.activate()
    editor.classes.clearSelection()
    editor.classes.item(0).setSelected(True)
    editor.classes.item(1).setSelected(True)
    worker = editor.propose("selected")
    assert editor.strip.isVisibleTo(editor)  # inline progress with a Cancel button
    with qtbot.waitSignal(worker.done, timeout=20000):
        pass
    assert ctx.errors == []
    for cid in ids[:2]:
        rows = project.list_attributes(cid)
        assert [r.text for r in rows] == ["a long tail", "striped fur"]
        assert {r.source for r in rows} == {"llm"} and rows[0].origin_model
    assert project.list_attributes(ids[2]) == []
    qtbot.waitUntil(lambda: "proposed attributes for 2 class(es)" in editor.notice.text())
    editor.controller.select_class(ids[0])
    assert editor.tree.topLevelItem(0).text(1).startswith("LLM")
    assert not editor.strip.isVisibleTo(editor)


def test_propose_with_ollama_down_is_a_readable_error_and_writes_nothing(editor, project, ctx, qtbot):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    _use_ollama(ctx, url)
    cid = project.add_class("blorp")
    editor.activate()
    worker = editor.propose("all")
    with qtbot.waitSignal(worker.done, timeout=30000):
        pass
    assert ctx.errors, "the failure must reach the user"
    title, message = ctx.errors[0]
    assert "Traceback" not in message and len(message.splitlines()) <= 3
    assert "ollama" in message.lower() or url.split("//")[1] in message
    assert project.list_attributes(cid) == []


def test_export_then_import_restores_attributes(editor, project, tmp_path):
    cid = project.add_class("blorp")
    for text in ("a red circle", "has stripes"):
        project.add_attribute(cid, text)
    editor.activate()
    out = tmp_path / "attrs.json"
    assert editor.export_file(str(out)) and out.exists()
    assert "wrote 1 class(es), 2 attribute(s)" in editor.notice.text()
    project.delete_attribute(project.list_attributes(cid)[1].id)
    editor.activate()
    assert editor.tree.topLevelItemCount() == 1
    assert editor.import_file(str(out))
    assert [r.text for r in project.list_attributes(cid)] == ["a red circle", "has stripes"]
    assert editor.tree.topLevelItemCount() == 2 and "1 attribute(s) added" in editor.notice.text()
    assert editor.tree.topLevelItem(1).text(1) == "import"


def test_import_of_a_bad_file_is_a_notice_and_changes_nothing(editor, project, tmp_path, ctx):
    cid = project.add_class("blorp")
    project.add_attribute(cid, "a red circle")
    editor.activate()
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json", encoding="utf-8")
    assert not editor.import_file(str(bad))
    assert editor.notice.text() or ctx.errors
    assert [r.text for r in project.list_attributes(cid)] == ["a red circle"]


def test_edit_then_preview_and_apply_the_instant_rescore(ctx, project, qtbot):
    from desktop.attributes.view import AttributesView
    from tests.desktop.test_review import prelabelled

    prelabelled(project)
    ctx.set_project(project)
    view = AttributesView(ctx)
    view.controller.auto_preview = False
    qtbot.addWidget(view)
    view.controller.select_class(project.get_class("zenti").id)
    view.controller.add_attribute("a red circle")  # the same text as blorp's: labels may move
    assert view.rescore.state == "stale"
    view.rescore.preview.click()
    qtbot.waitUntil(lambda: view.rescore.state in ("preview", "error"), timeout=30000)
    assert view.rescore.state == "preview", view.rescore.text.text()
    assert "would change" in view.rescore.text.text()
    assert len(project.runs()) == 1  # a preview writes nothing
    changed = list(view.controller.preview_result.changed_ids)
    if changed:  # the preview names the images and opens them for review (issue #14 item 9)
        assert project.image(changed[0]).rel_path in view.rescore.text.text()
        assert not view.rescore.show_images.isHidden()
        assert view.review_changed_images() == changed and ctx.selection == changed
    with qtbot.waitSignal(ctx.labels_changed, timeout=30000):
        view.rescore.apply.click()
    assert [r.kind for r in project.runs()][0] == "rescore"
    qtbot.waitUntil(lambda: view.rescore.state == "idle", timeout=5000)
    assert "labels from" not in view.version_label.text() and ctx.errors == []


def test_opening_a_project_with_stale_labels_offers_the_rescore_but_starts_no_worker(ctx, project, qtbot):
    """Only an edit previews the re-score by itself; opening the project (or showing the screen)
    just offers it."""
    from desktop.attributes.view import AttributesView

    world = build_world(project)
    project.add_attribute(world["classes"]["zenti"], "has a long tail")  # labels are now stale
    started = []
    ctx.task_started.connect(started.append)
    ctx.set_project(project)
    view = AttributesView(ctx)  # auto_preview left on, as in the app
    qtbot.addWidget(view)
    view.show()
    view.activate()
    ctx.project_changed.emit()  # a project (re)opened while the screen exists
    qtbot.wait(50)
    c = view.controller
    assert not c._preview_timer.isActive() and c._preview_worker is None
    assert started == [] and ctx.tasks == []
    assert view.rescore.state == "stale" and view.rescore.preview.isEnabled() and view.rescore.apply.isEnabled()
    c.select_class(world["classes"]["blorp"])
    c.add_attribute("has a short tail")  # an edit: now the preview is on its way
    assert c._preview_timer.isActive()
    c._preview_timer.stop()


def test_attributes_screen_fits_a_small_window_with_long_names(ctx, project, qtbot):
    from PySide6.QtWidgets import QApplication

    from desktop.attributes.view import AttributesView
    from tests.desktop.test_review import LONG_CLASSES, MAX_SCREEN_MIN_HEIGHT, MAX_SCREEN_MIN_WIDTH

    world = build_world(project, classes=LONG_CLASSES)
    ctx.set_project(project)
    view = AttributesView(ctx)
    view.controller.auto_preview = False
    qtbot.addWidget(view)
    view.resize(1080, 700)
    view.show()
    view.controller.select_class(world["classes"][world["order"][0]])
    QApplication.processEvents()
    assert world["order"][0] in view.title.text()
    hint = view.minimumSizeHint()
    assert hint.width() <= MAX_SCREEN_MIN_WIDTH and hint.height() <= MAX_SCREEN_MIN_HEIGHT, hint


def test_several_attribute_rows_are_deleted_with_the_delete_key_and_buttons_say_what_they_delete(editor, project,
                                                                                              qtbot):
    """Issue #14 item 9: single-select rows, a Delete key that did nothing, two buttons named "Delete"."""
    from PySide6.QtCore import QItemSelectionModel

    cid = editor.add_class("blorp")
    for text in ("a red circle", "has stripes", "a blue square"):
        editor.controller.add_attribute(text)
    tree = editor.tree
    sel = tree.selectionModel()
    for row in (0, 2):
        sel.select(tree.model().index(row, 0), QItemSelectionModel.SelectionFlag.Select
                   | QItemSelectionModel.SelectionFlag.Rows)
    assert len(tree.selected_ids()) == 2
    tree.setFocus()
    qtbot.keyClick(tree, Qt.Key.Key_Delete)
    assert [a.text for a in project.list_attributes(cid)] == ["has stripes"]
    names = [b.text() for b in (*editor.class_buttons.values(), *editor.attr_buttons.values())]
    assert len(names) == len(set(names)) and "Delete class…" in names and "Delete attribute" in names


def test_view_menu_shows_the_ampersand_and_classes_screen_reports_a_cancelled_run(ctx, project, qtbot):
    from desktop.main_window import MainWindow

    win = MainWindow(ctx)
    qtbot.addWidget(win)
    view_menu = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    assert any(a.text() == "Classes && attributes" for a in view_menu.actions())  # shows "Classes & attributes"
    build_world(project)
    run = project.latest_prediction_run()
    project.update_run(run.id, status="cancelled")
    ctx.set_project(project)
    screen = win.screens["attributes"]
    states = []
    screen.controller.rescore_state.connect(lambda s, text: states.append(text))
    ctx.labels_changed.emit([])
    assert states and "no pre-label run yet" not in states[-1]
