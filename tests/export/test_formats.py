"""Every export format read back by the consumer that training code uses."""

from __future__ import annotations

import csv
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from plugins.exporters.base import MANIFEST_NAME
from tests.export.conftest import walk_files
from tests.export.helpers import file_map, folder_names, manifest, run_export


def _imagefolder_labels(split_dir: Path, out: Path) -> dict[str, str]:
    """source path -> label as torchvision's ImageFolder sees it (folder decoded via the manifest)."""
    from torchvision.datasets import ImageFolder

    ds = ImageFolder(str(split_dir))
    assert len(ds) > 0
    img, _ = ds[0]  # really loads
    assert img.size == (6, 5)
    names, files = folder_names(out), file_map(out)
    idx_to_folder = {i: c for c, i in ds.class_to_idx.items()}
    out_labels = {}
    for path, idx in ds.samples:
        rel = Path(path).relative_to(out).as_posix()
        out_labels[files[rel]] = names[idx_to_folder[idx]]
    return out_labels


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_imagefolder_reads_back_with_torchvision_in_every_mode(hostile_world, tmp_path, mode):
    out = tmp_path / "tree"
    summary = run_export(hostile_world.project, "imagefolder", out, mode=mode)
    assert summary.out_dir == out and summary.n_samples == len(hostile_world.expected)
    got = _imagefolder_labels(out / "train", out)
    assert got == hostile_world.expected
    sample = next(p for p in (out / "train").rglob("*.png"))
    src = hostile_world.root / file_map(out)[sample.relative_to(out).as_posix()]
    check = {
        "copy": lambda: not sample.is_symlink() and not os.path.samefile(sample, src),
        "hardlink": lambda: os.path.samefile(sample, src) and not sample.is_symlink(),
        "symlink": lambda: sample.is_symlink() and os.path.samefile(sample, src),
    }[mode]
    assert check()
    assert sample.read_bytes() == src.read_bytes()


def test_splits_are_stratified_and_seeded(project, tmp_path):
    from tests.export.conftest import build_world

    w = build_world(project, ["cat", "dog", "owl"], per_class=19)  # 20 labelled per class
    splits = {"train": 0.7, "val": 0.2, "test": 0.1}
    a = run_export(project, "imagefolder", tmp_path / "a", splits=splits, seed=1)
    assert a.by_split == {"train": 42, "val": 12, "test": 6}
    per_split = {}
    for s in splits:
        labels = _imagefolder_labels(tmp_path / "a" / s, tmp_path / "a")
        per_split[s] = labels
        for cls in ("cat", "dog", "owl"):  # every class split in the same proportions
            assert sum(1 for v in labels.values() if v == cls) == round(splits[s] * 20)
    assert set().union(*map(set, per_split.values())) == set(w.expected)
    run_export(project, "csv", tmp_path / "b", splits=splits, seed=1)
    run_export(project, "csv", tmp_path / "c", splits=splits, seed=2)

    def assignment(d):
        with open(tmp_path / d / "labels.csv", encoding="utf-8") as f:
            return {r["path"]: r["split"] for r in csv.DictReader(f)}

    same = {src: s for s, labels in per_split.items() for src in labels}
    assert assignment("b") == same  # same seed, same split, whatever the format
    assert assignment("c") != same


def test_hf_imagefolder_loads_offline_with_datasets(world, tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    out = tmp_path / "hf"
    run_export(
        world.project, "hf-imagefolder", out, splits={"train": 0.5, "test": 0.5}, include_unsure_set=True
    )
    ds = datasets.load_dataset("imagefolder", data_dir=str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert set(ds) == {"train", "test"}  # the unsure set is not taken for a split
    got = {}
    for split in ds.values():
        assert {"image", "label", "score", "action", "source_path"} <= set(split.features)
        for row in split:
            assert row["image"].size == (6, 5)
            got[row["source_path"]] = row["label"]
    assert got == world.expected


def test_csv_and_jsonl_carry_label_decision_and_evidence(world, tmp_path):
    run_export(world.project, "csv", tmp_path / "c", include_unsure_set=True)
    run_export(world.project, "jsonl", tmp_path / "j", include_unsure_set=True)
    with open(tmp_path / "c" / "labels.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    with open(tmp_path / "j" / "labels.jsonl", encoding="utf-8") as f:
        objs = [json.loads(line) for line in f]
    assert [r["path"] for r in rows] == [o["path"] for o in objs]
    for r, o in zip(rows, objs):
        assert (r["label"] or None) == o["label"]
        assert r["action"] == o["action"]
        assert Path(o["src_path"]).is_file()
        assert json.loads(r["top_attributes"] or "[]") == o["top_attributes"]
    labelled = {o["path"]: o for o in objs if o["label"]}
    assert {p: o["label"] for p, o in labelled.items()} == world.expected
    assert {o["path"]: o["action"] for o in objs if not o["label"]} == world.unsure
    corrected = next(o for o in objs if o["action"] == "corrected")
    assert corrected["reviewer"] == "bo" and corrected["predicted_label"] != corrected["label"]
    assert corrected["model_id"] == "tiny-test-model" and corrected["decided_at"].endswith("Z")
    # the score is the model's score for the exported label, not for its own (wrong) top class
    assert 0 < corrected["score"] < 0.5
    # the evidence as the review screen reads it: presence and share (no calibration in this world:
    # presence is judged within the class: part A stands one spread above the class's mean, part B below)
    assert corrected["top_attributes"] == [
        {"text": f"{corrected['label']} part A", "share": 1.0, "presence": "found", "presence_score": 2.0},
        {"text": f"{corrected['label']} part B", "share": 0.0, "presence": "not found", "presence_score": -2.0},
    ]


def test_fiftyone_labels_json(world, tmp_path):
    """Without splits OUT itself is the dataset; a decision's provenance rides in custom attributes."""
    out = tmp_path / "fo"
    run_export(world.project, "fiftyone", out)
    assert not (out / "train").exists()
    doc = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    assert doc["classes"] == ["cat", "dog"]
    data = {p.stem: p for p in (out / "data").iterdir()}
    assert set(doc["labels"]) == set(data)
    files = file_map(out)
    got = {files[data[u].relative_to(out).as_posix()]: t["label"] for u, t in doc["labels"].items()}
    assert got == world.expected
    for u, t in doc["labels"].items():
        src = files[data[u].relative_to(out).as_posix()]
        attrs = t["attributes"]
        assert attrs["lazlabel_path"] == src and attrs["lazlabel_reviewer"] in ("ana", "bo")
        assert "confidence" not in t or 0 < t["confidence"] <= 1
        if attrs["lazlabel_action"] == "corrected":
            assert attrs["lazlabel_predicted_label"] != t["label"]
        else:
            assert attrs["lazlabel_action"] == "accepted" and 0 < t["confidence"] <= 1
    split = tmp_path / "fo-split"
    run_export(world.project, "fiftyone", split, splits={"train": 0.5, "val": 0.5})
    for s in ("train", "val"):
        assert (split / s / "labels.json").is_file() and (split / s / "data").is_dir()
    assert "add_dir" in (split / "README.txt").read_text(encoding="utf-8")


def test_labelstudio_tasks_with_predictions(world, tmp_path):
    out = tmp_path / "ls"
    run_export(world.project, "labelstudio", out, include_predictions_above=0.0)
    tasks = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    assert len(tasks) == len(world.expected) + len(world.predicted_only)
    config = ET.fromstring((out / "label_config.xml").read_text(encoding="utf-8"))
    assert [c.get("value") for c in config.iter("Choice")] == ["cat", "dog"]
    for t in tasks:
        pred = t["predictions"][0]
        assert pred["model_version"] == "tiny-test-model" and 0 < pred["score"] <= 1
        assert pred["result"][0]["value"]["choices"][0] in ("cat", "dog")
        assert (out / t["data"]["image"].removeprefix("/data/local-files/?d=")).is_file()
        path = t["data"]["lazlabel_path"]
        if path in world.expected:
            assert t["annotations"][0]["result"][0]["value"]["choices"] == [world.expected[path]]
        else:  # a prediction is offered, not claimed as an annotation
            assert path in world.predicted_only and t["annotations"] == []


def test_imagenet_lists_and_synsets(world, tmp_path):
    out = tmp_path / "in"
    run_export(world.project, "imagenet", out, splits={"train": 0.5, "val": 0.5})
    synsets = (out / "synsets.txt").read_text(encoding="utf-8").splitlines()
    assert synsets == ["cat", "dog"]
    files, got = file_map(out), {}
    for split in ("train", "val"):
        for line in (out / f"{split}.txt").read_text(encoding="utf-8").splitlines():
            rel, idx = line.rsplit(" ", 1)
            assert (out / split / rel).is_file() and rel.split("/")[0] == synsets[int(idx)]
            got[files[f"{split}/{rel}"]] = synsets[int(idx)]
    assert got == world.expected


def test_selection_options(world, tmp_path):
    p = world.project
    only_decided = run_export(p, "jsonl", tmp_path / "a")
    assert only_decided.n_samples == len(world.expected)
    with_preds = run_export(p, "jsonl", tmp_path / "b", include_predictions_above=0.0)
    rows = [json.loads(x) for x in (tmp_path / "b" / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    predicted = [r for r in rows if r["action"] == "predicted"]
    assert with_preds.n_samples == len(world.expected) + len(world.predicted_only)
    assert {r["path"] for r in predicted} == set(world.predicted_only)
    high = run_export(p, "jsonl", tmp_path / "c", include_predictions_above=2.0)
    assert high.n_samples == len(world.expected)
    dogs = run_export(p, "jsonl", tmp_path / "d", classes=["DOG"])  # names are case-insensitive
    rows = [json.loads(x) for x in (tmp_path / "d" / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    assert dogs.n_samples == sum(1 for v in world.expected.values() if v == "dog")
    assert {r["label"] for r in rows} == {"dog"}
    assert manifest(tmp_path / "d")["classes"] == [{"index": 0, "name": "dog", "folder": "dog"}]


def test_tree_files_never_overwrite_each_other(world, tmp_path):
    out = tmp_path / "t"
    s = run_export(world.project, "imagefolder", out)
    images = [f for f in walk_files(out) if f.endswith(".png")]
    assert len(images) == s.n_files == len(world.expected)  # src0/x.png and src1/x.png both kept
    assert set(file_map(out).values()) == set(world.expected)
    assert (out / MANIFEST_NAME).is_file()
