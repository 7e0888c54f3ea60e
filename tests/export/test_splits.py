"""Issue #14 item 13: stratified splits keep every class in every split when it has enough images,
warn (and write classes.txt) when that is impossible, and round across the whole export."""

from __future__ import annotations

import random

import pytest

from tests.export.conftest import build_world
from tests.export.helpers import folder_names, manifest, run_export
from workflows.export_splits import allocate, global_sizes

NAMES = [f"class{i:02d}" for i in range(14)]
SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}


def test_largest_remainder_is_not_biased_to_one_split():
    assert global_sizes(83, [0.8, 0.1, 0.1]) == [67, 8, 8]  # was 66 / 13 / 4 per class with ties to val
    rng = random.Random(0)
    for _ in range(500):
        counts = [rng.randint(0, 40) for _ in range(rng.randint(1, 12))]
        fr = [rng.random() + 0.05 for _ in range(rng.randint(2, 4))]
        fr = [f / sum(fr) for f in fr]
        alloc = allocate(counts, fr)
        for n, row in zip(counts, alloc):
            assert sum(row) == n and min(row) >= 0
            if n >= len(fr):
                assert min(row) >= 1  # every class in every split when it has enough images
        if all(n == 0 or n >= 10 * len(fr) for n in counts):  # the floor of one never binds
            totals = [sum(r[j] for r in alloc) for j in range(len(fr))]
            assert totals == global_sizes(sum(counts), fr)


def test_every_class_in_every_split_and_same_class_index(project, tmp_path):
    from torchvision.datasets import ImageFolder

    build_world(project, NAMES, per_class=5)  # 6 decided images per class, 84 in all
    s = run_export(project, "imagefolder", tmp_path / "out", splits=SPLITS, seed=0)
    assert sum(s.by_split.values()) == 84 and not any("split" in w for w in s.warnings)
    maps = {name: ImageFolder(str(tmp_path / "out" / name)).class_to_idx for name in SPLITS}
    assert maps["train"] == maps["val"] == maps["test"] and len(maps["train"]) == 14
    assert not (tmp_path / "out" / "classes.txt").exists()


def test_impossible_split_warns_and_writes_the_canonical_index(project, tmp_path):
    build_world(project, ["zorbit", "quillan", "a/b"], per_class=1)  # 2 decided images per class
    s = run_export(project, "imagefolder", tmp_path / "out", splits=SPLITS, seed=0)
    warning = next(w for w in s.warnings if "not every class is in every split" in w)
    assert "zorbit" in warning and "classes.txt" in warning and "too few images" in warning
    lines = (tmp_path / "out" / "classes.txt").read_text(encoding="utf-8").splitlines()
    folders = folder_names(tmp_path / "out")
    assert [line.split("\t") for line in lines] == [[f, folders[f]] for f in folders]
    assert [line.split("\t")[1] for line in lines] == ["zorbit", "quillan", "a/b"]
    assert "classes.txt" in manifest(tmp_path / "out")["files"]


@pytest.mark.parametrize("seed", [0, 1])
def test_split_assignment_is_seeded(project, tmp_path, seed):
    build_world(project, NAMES[:4], per_class=5)
    a = run_export(project, "csv", tmp_path / "a", splits=SPLITS, seed=seed)
    b = run_export(project, "csv", tmp_path / "b", splits=SPLITS, seed=seed)
    assert (tmp_path / "a" / "labels.csv").read_text(encoding="utf-8").splitlines()[1:] == (
        tmp_path / "b" / "labels.csv"
    ).read_text(encoding="utf-8").splitlines()[1:]
    assert a.by_split == b.by_split
