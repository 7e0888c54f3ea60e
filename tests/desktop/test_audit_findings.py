"""The Audit screen's check tabs: stored findings shown per check, each row opening its images in Review."""

from __future__ import annotations

import pytest

from tests.desktop.test_audit import write_audit
from tests.desktop.test_review import build_world


def write_findings(project, world) -> None:
    from workflows.audit_findings import save_findings

    ids, cids, names = world["ids"], world["classes"], world["order"]
    run = project.latest_audit_run_id()
    save_findings(project, "duplicates", run, {"threshold": 0.97, "n_images": 4, "groups": [
        {"image_ids": [ids[1], ids[3]], "kind": "near", "min_similarity": 0.981}]})
    save_findings(project, "outliers", run, {"k": 10, "items": [
        {"image_id": ids[2], "score": 0.01, "mean_distance": 0.4, "flagged": True},
        {"image_id": ids[0], "score": 0.5, "mean_distance": 0.1, "flagged": False}]})
    save_findings(project, "overlap", run, {"pairs": [
        {"class_a": cids[names[1]], "class_b": cids[names[2]], "n_overlapping": 3, "joint_probability": 0.02}]})
    save_findings(project, "health", run, {"overall": 0.8, "n_labelled": 4, "classes": [
        {"class_id": cids[names[1]], "n_labelled": 2, "label_issues": 1, "label_noise": 0.5,
         "inverse_label_issues": 0, "inverse_label_noise": 0.0, "label_quality": 0.5}]})
    save_findings(project, "decisions", run, {"items": [
        {"image_id": ids[0], "decided_class_id": cids[names[0]], "suggested_class_id": cids[names[1]],
         "p_decided": 0.05, "p_suggested": 0.9, "action": "corrected", "reviewer": "bea",
         "at": "2026-12-01T10:00:00+00:00", "note": None}]})


@pytest.fixture
def screens(ctx, project, qtbot):
    from desktop.audit.view import AuditView
    from desktop.review.view import ReviewView

    world = build_world(project)
    write_audit(project, world)
    write_findings(project, world)
    ctx.set_project(project)
    audit, review = AuditView(ctx), ReviewView(ctx)
    for v in (audit, review):
        qtbot.addWidget(v)
    audit.resize(1200, 800)
    audit.show()
    audit.activate()
    return audit, review, world


def test_each_check_has_a_tab_with_its_count(screens):
    audit, _review, _world = screens
    titles = [audit.tabs.tabText(i) for i in range(audit.tabs.count())]
    assert titles == ["Label issues (2)", "Duplicates (1)", "Outliers (1)", "Overlapping classes (1)", "Health",
                      "Second opinion (1)"]
    decisions = audit.finding_tabs["decisions"].tree.topLevelItem(0)
    assert decisions.text(5) == "bea" and decisions.text(6) == "2026-12-01 10:00"  # reviewer and time
    assert "Label health <b>0.80</b>" in audit.finding_tabs["health"].header.text()


def test_a_duplicate_group_opens_as_the_review_queue(screens, ctx, project):
    audit, review, world = screens
    ids = world["ids"]
    tab = audit.finding_tabs["duplicates"]
    group = tab.tree.topLevelItem(0)
    assert group.childCount() == 2 and group.child(1).text(0) == project.image(ids[3]).rel_path
    asked = []
    ctx.screen_requested.connect(asked.append)
    tab.tree.setCurrentItem(group)
    tab.open_button.click()
    assert asked == ["review"] and ctx.selection == [ids[1], ids[3]] and ctx.current_image == ids[1]
    assert review.controller.queue == [ids[1], ids[3]] and review.controller.current_id == ids[1]
    tab.tree.setCurrentItem(group.child(1))  # one image of the group: shown first, the group stays the queue
    tab.open_selected()
    assert ctx.current_image == ids[3] and review.controller.current_id == ids[3]


def test_overlapping_classes_show_their_attributes_side_by_side(screens):
    from tests.desktop.test_review import CLASSES

    audit, _review, world = screens
    tab = audit.finding_tabs["overlap"]
    names = world["order"]
    assert tab.tree.topLevelItem(0).text(0) == names[1]
    assert tab.attr_titles[0].text() == f"<b>{names[1]}</b>" and tab.attr_titles[1].text() == f"<b>{names[2]}</b>"
    shown = [[lst.item(i).text() for i in range(lst.count())] for lst in tab.attr_lists]
    assert shown == [list(CLASSES[names[1]]), list(CLASSES[names[2]])]
    # the pair's audited images (given one class, model says the other) open in Review
    assert set(tab.selected_ids()) == {world["ids"][1]}


def test_outlier_rows_are_flagged_or_listed(screens, ctx):
    audit, _review, world = screens
    tree = audit.finding_tabs["outliers"].tree
    assert tree.topLevelItemCount() == 2 and tree.topLevelItem(0).text(4) == "yes" and tree.topLevelItem(1).text(4) == ""
    tree.setCurrentItem(tree.topLevelItem(0))
    audit.finding_tabs["outliers"].open_selected()
    assert ctx.current_image == world["ids"][2]
