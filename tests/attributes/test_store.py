"""AttributesMixin on a real SQLite project: edits, the edit log, versions, merges."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from db.models import Decision, Explanation, Image, ImportedLabel, Prediction, Run
from db.store_attributes import AttributeEditError


def test_classes_are_trimmed_and_unique_case_insensitively(project):
    cid = project.add_class("  great   white shark ", "ana")
    assert [c.name for c in project.list_classes()] == ["great white shark"]
    with pytest.raises(AttributeEditError, match="already exists"):
        project.add_class("Great White Shark", "ana")
    with pytest.raises(AttributeEditError, match="empty"):
        project.add_class("   ")
    assert project.get_class("GREAT WHITE SHARK").id == cid
    project.rename_class(cid, "white shark", "bo")
    assert project.list_classes()[0].name == "white shark"
    edits = project.attribute_history(cid)
    assert [e.action for e in edits] == ["rename_class", "add_class"]
    assert edits[0].before == {"name": "great white shark"} and edits[0].after == {"name": "white shark"}
    assert edits[0].who == "bo"


def test_attribute_edits_are_logged_and_version_tracks_content(project):
    cid = project.add_class("cardinal", "ana")
    a1 = project.add_attribute(cid, "red plumage", "manual", "ana")
    a2 = project.add_attribute(
        cid, "a crest on the head", "llm", "ana", origin_model="llama3.2", prompt_version="p1"
    )
    v0 = project.attribute_set_version()
    assert project.class_specs() == [(cid, "cardinal", ("red plumage", "a crest on the head"))]

    project.edit_attribute(a1, "bright red plumage", "bo")
    v1 = project.attribute_set_version()
    assert v1 != v0
    project.edit_attribute(a1, "red plumage", "bo")  # undo by editing back
    assert project.attribute_set_version() == v0

    project.set_attribute_active(a2, False, "bo")
    assert project.class_specs()[0][2] == ("red plumage",)
    project.set_attribute_active(a2, True, "bo")
    assert project.attribute_set_version() == v0

    project.reorder_attributes(cid, [a2, a1], "bo")
    assert project.class_specs()[0][2] == ("a crest on the head", "red plumage")
    assert project.attribute_set_version() != v0

    rows = project.list_attributes(cid)
    crest = next(r for r in rows if r.id == a2)
    assert (crest.source, crest.origin_model, crest.prompt_version) == ("llm", "llama3.2", "p1")
    assert next(r for r in rows if r.id == a1).edited and not crest.edited
    with pytest.raises(AttributeEditError, match="already has"):
        project.add_attribute(cid, "Red Plumage")
    with pytest.raises(AttributeEditError, match="exactly once"):
        project.reorder_attributes(cid, [a1])

    project.delete_attribute(a2, "cy")
    hist = project.attribute_history(attribute_id=a2)
    assert hist[0].action == "delete" and hist[0].before["text"] == "a crest on the head"
    assert hist[0].who == "cy"
    actions = [e.action for e in project.attribute_history(cid)]
    assert (
        actions.count("edit") == 2 and "disable" in actions and "enable" in actions and "reorder" in actions
    )


def test_inactive_class_leaves_specs_and_snapshot_is_stored_once(project):
    a = project.add_class("alpha")
    b = project.add_class("beta")
    project.add_attribute(b, "striped")
    project.set_class_active(a, False)
    assert [name for _, name, _ in project.class_specs()] == ["beta"]
    v = project.snapshot_attribute_set()
    assert project.snapshot_attribute_set() == v
    assert project.get_attribute_set(v[:10]) == [("beta", ("striped",))]
    assert len(project.list_attribute_sets()) == 1
    project.set_class_active(a, True)
    assert project.snapshot_attribute_set() != v
    assert len(project.list_attribute_sets()) == 2


def test_replace_attributes_bulk_merge_and_replace(project):
    keep = project.add_class("tench")
    project.add_attribute(keep, "a freshwater fish", "manual")
    stats = project.replace_attributes(
        [("tench", ["olive green", "A freshwater fish"]), ("goldfish", ["orange", "orange", "long tail"])],
        mode="merge",
        who="ana",
        origin="f.json",
    )
    assert stats.classes_added == ["goldfish"]
    assert stats.duplicates_dropped == [("goldfish", "orange")]
    specs = {name: attrs for _, name, attrs in project.class_specs()}
    assert specs == {"tench": ("a freshwater fish", "olive green"), "goldfish": ("orange", "long tail")}
    assert [c.name for c in project.list_classes()] == ["tench", "goldfish"]

    project.replace_attributes([(keep, ["dark bar on the side"])], mode="replace", who="bo", source="import")
    assert project.class_specs()[0][2] == ("dark bar on the side",)
    log = project.attribute_history(keep)[0]
    assert log.action == "bulk_replace" and log.before["texts"] == ["a freshwater fish", "olive green"]
    with pytest.raises(AttributeEditError, match="empty"):
        project.replace_attributes([("x", ["ok", "  "])])
    assert [c.name for c in project.list_classes()] == ["tench", "goldfish"]  # nothing half written


def _seed_labels(project, src, dst):
    with project.session() as s:
        img = Image(rel_path="a.jpg", label_class_id=src, pred_class_id=src, imported_class_id=src)
        s.add(img)
        run = Run(model_id="m", engine_config={}, attribute_set_version="v")
        s.add(run)
        s.flush()
        s.add(Decision(image_id=img.id, class_id=src, action="accepted", result_status="accepted"))
        s.add(
            Prediction(
                run_id=run.id,
                image_id=img.id,
                class_id=src,
                score=1.0,
                margin=0.5,
                topk=[[src, 0.9], [dst, 0.5]],
            )
        )
        s.add(ImportedLabel(image_id=img.id, label="x", class_id=src, source="folder"))
        s.add(Explanation(run_id=run.id, image_id=img.id, class_id=src, data={}))
        s.add(Explanation(run_id=run.id, image_id=img.id, class_id=dst, data={"keep": 1}))


def test_merge_moves_attributes_and_repoints_labels(project):
    src = project.add_class("kitty")
    dst = project.add_class("cat")
    project.add_attribute(src, "whiskers")
    project.add_attribute(src, "pointed ears")
    project.add_attribute(dst, "Whiskers")
    _seed_labels(project, src, dst)
    with pytest.raises(AttributeEditError, match="used by 1 decisions"):
        project.delete_class(src)
    project.merge_classes([src], dst, "ana")
    assert [c.name for c in project.list_classes()] == ["cat"]
    assert project.class_specs()[0][2] == ("Whiskers", "pointed ears")
    with project.session() as s:
        img = s.scalars(select(Image)).one()
        assert (img.label_class_id, img.pred_class_id, img.imported_class_id) == (dst, dst, dst)
        assert s.scalars(select(Decision.class_id)).all() == [dst]
        pred = s.scalars(select(Prediction)).one()
        assert pred.class_id == dst and pred.topk == [[dst, 0.9]]
        assert s.scalars(select(ImportedLabel.class_id)).all() == [dst]
        assert [e.data for e in s.scalars(select(Explanation))] == [{"keep": 1}]
    assert project.attribute_history(dst)[0].action == "merge_classes"


def test_delete_unused_class_and_errors(project):
    cid = project.add_class("temp")
    project.add_attribute(cid, "thing")
    project.delete_class(cid, "ana")
    assert project.list_classes() == []
    assert project.attribute_history()[0].action == "delete_class"
    with pytest.raises(AttributeEditError, match="no class with id"):
        project.rename_class(cid, "x")
    with pytest.raises(AttributeEditError, match="no attribute"):
        project.edit_attribute(999, "x")


def test_reorder_classes_changes_specs_order_and_version(project):
    a, b, c = (project.add_class(n) for n in ("a", "b", "c"))
    v = project.attribute_set_version()
    project.reorder_classes([c, a, b], "ana")
    assert [name for _, name, _ in project.class_specs()] == ["c", "a", "b"]
    assert project.attribute_set_version() != v
    assert project.attribute_history()[0].action == "reorder_classes"
    with pytest.raises(AttributeEditError, match="exactly once"):
        project.reorder_classes([a, b])
    assert project.class_usage(a) == {"decisions": 0, "imported_labels": 0, "labelled_images": 0}
