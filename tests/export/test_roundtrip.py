"""Export -> import gives the same labels back; imports are matched, reported, never decisions."""

from __future__ import annotations

import csv
import json

import pytest

from tests.export.helpers import run_export
from workflows.errors import UserError
from workflows.import_labels import import_labels

PAIRS = [
    ("imagefolder", "folder", ""),
    ("hf-imagefolder", "folder", ""),
    ("imagenet", "folder", ""),
    ("csv", "csv", "labels.csv"),
    ("jsonl", "jsonl", "labels.jsonl"),
    ("fiftyone", "fiftyone", ""),
    ("labelstudio", "labelstudio", "tasks.json"),
]


def _imported(world, source):
    out = {}
    for rel, iid in world.images.items():
        labels = [x for x in world.project.imported_labels(iid) if x.source == source]
        if labels:
            out[rel] = labels[0].label
    return out


@pytest.mark.parametrize(("exporter", "importer", "file"), PAIRS)
def test_round_trip_gives_the_same_labels(hostile_world, tmp_path, exporter, importer, file):
    w = hostile_world
    out = tmp_path / "out"
    run_export(w.project, exporter, out, splits={"train": 0.5, "val": 0.5}, include_unsure_set=True)
    before = w.project.class_names_in_order()
    r = import_labels(w.project, importer, out / file if file else out)
    assert r.unmatched == [] and r.created_classes == []
    assert r.n_imported == len(w.expected)
    assert _imported(w, importer) == w.expected
    assert w.project.class_names_in_order() == before
    # imported labels are for audit: no decision was written
    for rel in w.expected:
        assert w.project.image(w.images[rel]).review_status in ("accepted", "corrected")
    for rel in w.predicted_only:
        assert w.project.image(w.images[rel]).review_status == "unreviewed"


def test_folder_import_of_a_class_folder_dataset(project):
    from tests.export.conftest import add_images

    ids = add_images(project, ["sparrow/1.png", "sparrow/2.png", "crow/a/3.png", "loose.png"])
    r = import_labels(project, "folder", project.image_root)
    assert (r.n_rows, r.n_imported, r.n_no_label) == (4, 3, 1)
    assert sorted(r.created_classes) == ["a", "sparrow"]  # the image's own folder names it
    assert [x.label for x in project.imported_labels(ids["crow/a/3.png"])] == ["a"]
    assert project.imported_labels(ids["loose.png"]) == []
    classes = dict((n, i) for i, n in project.class_names_in_order())
    with project.session() as s:
        from db.models import Image

        assert s.get(Image, ids["sparrow/1.png"]).imported_class_id == classes["sparrow"]
        assert s.get(Image, ids["sparrow/1.png"]).review_status == "unreviewed"


def test_paths_are_matched_tolerantly_and_unmatched_reported(project, tmp_path):
    from tests.export.conftest import add_images

    ids = add_images(project, ["a/x.png", "b/y.png", "c/z.png", "d/w.png"])
    root = project.image_root
    f = tmp_path / "labels.csv"
    with open(f, "w", encoding="utf-8-sig", newline="") as fh:  # with a BOM, semicolons, other headers
        w = csv.writer(fh, delimiter=";")
        w.writerow(["Filename", "Class"])
        w.writerows(
            [
                ["./a/x.png", "Cat"],
                [str(root / "b" / "y.png"), "cat"],
                ["c\\z.png", "dog"],
                ["images/d/w.png", "dog"],  # relative to the label file's folder
                ["nowhere/q.png", "dog"],
                ["/elsewhere/x.png", "dog"],
                ["a/x.png", "dog"],  # listed twice: the last one wins
            ]
        )
    project.add_class("CAT")
    r = import_labels(project, "csv", f, create_classes=False)
    assert r.unmatched == ["nowhere/q.png", "/elsewhere/x.png"]
    assert r.duplicates == 1 and r.n_imported == 4
    assert r.unknown_labels == 3  # 'dog' names no class and none was created
    assert [x.label for x in project.imported_labels(ids["b/y.png"])] == ["cat"]
    cat_id = dict((n, i) for i, n in project.class_names_in_order())["CAT"]
    assert project.imported_labels(ids["b/y.png"])[0].class_id == cat_id  # matched case-insensitively
    assert project.imported_labels(ids["a/x.png"])[0].label == "dog"


def test_reimport_of_a_source_replaces_it(project, tmp_path):
    from tests.export.conftest import add_images

    ids = add_images(project, ["a.png", "b.png"])
    f = tmp_path / "l.jsonl"
    f.write_text('{"path": "a.png", "label": "cat"}\n{"path": "b.png", "label": "dog"}\n', encoding="utf-8")
    import_labels(project, "jsonl", f)
    f.write_text('{"path": "a.png", "label": "dog"}\n', encoding="utf-8")
    r = import_labels(project, "jsonl", f)
    assert r.replaced == 2
    assert [x.label for x in project.imported_labels(ids["a.png"])] == ["dog"]
    assert project.imported_labels(ids["b.png"]) == []
    with project.session() as s:
        from db.models import Image

        assert s.get(Image, ids["b.png"]).imported_class_id is None
    # another source is kept beside it
    g = tmp_path / "l.csv"
    g.write_text("path,label\nb.png,cat\n", encoding="utf-8")
    import_labels(project, "csv", g)
    assert {x.source for x in project.imported_labels(ids["b.png"])} == {"csv"}
    assert project.imported_label_sources() == {"jsonl": 1, "csv": 1}


@pytest.mark.parametrize(
    ("fmt", "name", "content", "message"),
    [
        ("csv", "l.csv", "file,colour\na.png,red\n", "no label column"),
        ("jsonl", "l.jsonl", '{"path": "a.png", "label": "x"}\n{not json\n', "line 2"),
        ("fiftyone", "labels.json", '{"classes": ["a"], "labels": {"u": 3}}', "class index 3"),
        ("labelstudio", "tasks.json", '{"broken": ', "not a readable JSON"),
        ("csv", "l.csv", "path,label\nnot/here.png,cat\n", "none of the 1 labelled paths"),
        ("csv", "l.csv", "path,label\na.png,\n", "carry no label"),
    ],
)
def test_bad_label_files_give_clear_errors_and_write_nothing(project, tmp_path, fmt, name, content, message):
    from tests.export.conftest import add_images

    ids = add_images(project, ["a.png"])
    f = tmp_path / name
    f.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        import_labels(project, fmt, f)
    assert project.imported_labels(ids["a.png"]) == []
    assert project.class_names_in_order() == []


def test_labelstudio_import_reads_label_studio_own_export(project, tmp_path):
    from tests.export.conftest import add_images

    ids = add_images(project, ["birds/1.jpg".replace(".jpg", ".png"), "birds/2.png", "birds/3.png"])
    tasks = [
        {  # what Label Studio exports for local-files storage: newest non-cancelled annotation wins
            "id": 1,
            "data": {"image": "/data/local-files/?d=birds%2F1.png"},
            "annotations": [
                {
                    "id": 5,
                    "created_at": "2026-01-01T00:00:00Z",
                    "was_cancelled": False,
                    "result": [{"type": "choices", "value": {"choices": ["robin"]}}],
                },
                {
                    "id": 6,
                    "created_at": "2026-01-02T00:00:00Z",
                    "was_cancelled": False,
                    "result": [{"type": "choices", "value": {"choices": ["wren"]}}],
                },
                {
                    "id": 7,
                    "created_at": "2026-01-03T00:00:00Z",
                    "was_cancelled": True,
                    "result": [{"type": "choices", "value": {"choices": ["crow"]}}],
                },
            ],
            "predictions": [{"result": [{"type": "choices", "value": {"choices": ["owl"]}}]}],
        },
        {
            "id": 2,
            "data": {"image": "birds/2.png"},
            "annotations": [],
            "predictions": [{"result": [{"type": "choices", "value": {"choices": ["owl"]}}]}],
        },
    ]
    f = tmp_path / "export.json"
    f.write_text(json.dumps(tasks), encoding="utf-8")
    r = import_labels(project, "labelstudio", f)
    assert (r.n_rows, r.n_imported, r.n_no_label) == (2, 1, 1)  # predictions are not labels
    assert [x.label for x in project.imported_labels(ids["birds/1.png"])] == ["wren"]


def test_labelstudio_import_reads_json_min(project, tmp_path):
    """Label Studio's flat JSON-MIN export: one row per annotation (a task's id repeats), the label
    under the control's name, as a string, a choices object or a taxonomy path; newest wins."""
    from tests.export.conftest import add_images

    ids = add_images(project, ["birds/1.png", "birds/2.png", "birds/3.png", "birds/4.png"])
    rows = [
        {"image": "/data/local-files/?d=birds%2F1.png", "id": 1, "choice": "robin", "annotator": 1,
         "annotation_id": 5, "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
         "lead_time": 3.2},
        {"image": "/data/local-files/?d=birds%2F1.png", "id": 1, "choice": "wren", "annotator": 2,
         "annotation_id": 6, "created_at": "2026-01-02T00:00:00Z", "updated_at": "2026-01-02T00:00:00Z",
         "lead_time": 1.0},
        {"image": "birds/2.png", "id": 2},  # no annotation yet
        {"image": "birds/3.png", "id": 3, "choice": {"choices": ["crow"]}, "annotation_id": 9},
        {"image": "birds/4.png", "id": 4, "choice": {"taxonomy": [["corvid", "jay"]]}, "annotation_id": 10},
    ]
    f = tmp_path / "export-min.json"
    f.write_text(json.dumps(rows), encoding="utf-8")
    r = import_labels(project, "labelstudio", f)
    assert (r.n_rows, r.n_imported, r.n_no_label) == (4, 3, 1)
    got = {p: [x.label for x in project.imported_labels(ids[p])] for p in ids}
    assert got == {"birds/1.png": ["wren"], "birds/2.png": [], "birds/3.png": ["crow"], "birds/4.png": ["jay"]}


def test_labelstudio_json_min_with_ambiguous_label_fields_is_a_clear_error(project, tmp_path):
    from tests.export.conftest import add_images

    add_images(project, ["a.png"])
    f = tmp_path / "min.json"
    f.write_text(json.dumps([{"image": "a.png", "id": 1, "mood": "calm", "weather": "rain"}]), encoding="utf-8")
    with pytest.raises(UserError, match="mood, weather"):
        import_labels(project, "labelstudio", f)
