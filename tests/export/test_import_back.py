"""Issue #14 item 16: importing what the tools themselves write back — Label Studio's JSON-MIN saved
elsewhere, FiftyOne's own re-export with copied images or absolute paths — matched by the carried
project path, then the relative path, then content hash when the file names agree."""

from __future__ import annotations

import json
import shutil

from tests.export.helpers import file_map, run_export
from workflows.import_labels import import_labels


def _imported(project) -> dict[str, str]:
    names = {c.id: c.name for c in project.list_classes()}
    return {r.rel_path: names[r.imported_class_id] for r in project.page_images(limit=1000) if r.imported_class_id}


def test_labelstudio_json_min_saved_elsewhere_matches_by_lazlabel_path(world, tmp_path):
    out = tmp_path / "ls"
    run_export(world.project, "labelstudio", out)
    tasks = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    rows = []  # what Label Studio's JSON-MIN export writes: data fields flattened, label by control name
    for n, t in enumerate(tasks, 1):
        row = dict(t["data"])
        row.update(id=n, annotator=1, annotation_id=n, created_at="2026-01-01T00:00:00Z",
                   updated_at="2026-01-01T00:00:00Z", lead_time=1.5,
                   label=t["annotations"][0]["result"][0]["value"]["choices"][0])
        rows.append(row)
    saved = tmp_path / "downloads" / "project-1-at-2026.json"
    saved.parent.mkdir()
    saved.write_text(json.dumps(rows), encoding="utf-8")
    r = import_labels(world.project, "labelstudio", saved, create_classes=False)
    assert r.n_imported == len(world.expected) and not r.unmatched
    assert _imported(world.project) == world.expected


def _fiftyone_reexport(src_root, dst, *, abs_paths: bool):
    """What `ds.export(dst, FiftyOneImageClassificationDataset)` writes for a dataset loaded from a
    lazlabel fiftyone export: class indices, no attributes, images copied into data/ (same file
    names) or, with abs_paths, keyed by the absolute paths of the loaded images."""
    doc = json.loads((src_root / "labels.json").read_text(encoding="utf-8"))
    classes = doc["classes"]
    data = {p.stem: p for p in (src_root / "data").iterdir()}
    labels = {}
    (dst / "data").mkdir(parents=True)
    for uuid, target in doc["labels"].items():
        img = data[uuid]
        if abs_paths:
            key = str(img)
        else:
            shutil.copyfile(img, dst / "data" / img.name)
            key = uuid
        labels[key] = classes.index(target["label"])
    (dst / "labels.json").write_text(json.dumps({"classes": classes, "labels": labels}), encoding="utf-8")


def test_fiftyone_reexport_with_absolute_paths_matches_through_the_export_file_map(world, tmp_path):
    out = tmp_path / "fo"
    run_export(world.project, "fiftyone", out)
    _fiftyone_reexport(out, tmp_path / "again", abs_paths=True)
    r = import_labels(world.project, "fiftyone", tmp_path / "again", create_classes=False)
    assert r.n_imported == len(world.expected) and not r.unmatched and r.n_by_content == 0
    assert _imported(world.project) == world.expected


def test_fiftyone_reexport_with_copied_images_matches_by_name_and_content(world, tmp_path):
    out = tmp_path / "fo"
    run_export(world.project, "fiftyone", out)
    assert any("~" in f for f in file_map(out))  # same-named sources got an export suffix
    _fiftyone_reexport(out, tmp_path / "again", abs_paths=False)
    shutil.rmtree(out)  # the original export is gone: only the copies remain
    r = import_labels(world.project, "fiftyone", tmp_path / "again", create_classes=False)
    assert r.n_imported == len(world.expected) and not r.unmatched
    assert r.n_by_content == len(world.expected)
    assert _imported(world.project) == world.expected


def test_same_name_different_content_is_not_matched(world, tmp_path):
    from PIL import Image

    d = tmp_path / "stranger" / "data"
    d.mkdir(parents=True)
    name = next(iter(world.expected)).rsplit("/", 1)[1]
    Image.new("RGB", (6, 5), (1, 2, 3)).save(d / name)
    (d.parent / "labels.json").write_text(
        json.dumps({"classes": ["cat"], "labels": {name.rsplit(".", 1)[0]: 0, "other": 0}}), encoding="utf-8"
    )
    (d / "other.png").write_bytes((world.root / next(iter(world.expected))).read_bytes())
    import pytest

    from workflows.errors import UserError

    # neither a same-named stranger nor the same bytes under another name is taken for an image
    with pytest.raises(UserError, match="none of the 2 labelled paths"):
        import_labels(world.project, "fiftyone", d.parent, create_classes=False)
