"""A decided file whose content changes goes back into review (issue #13 item 2): the decision
history is kept and marked stale, exports leave it out until someone decides again, and `scan`
says how many decided images changed. A file only touched (same bytes) keeps its decision."""

from __future__ import annotations

import csv
import os
import shutil

from cli.main import main
from db.models import LabelClass
from tests.scan.corpus import noise, save
from workflows.progress import drive
from workflows.review import ReviewError
from workflows.scan import scan_folder


def _setup(project):
    root = project.image_root
    for i, name in enumerate(["decided.png", "other.png", "kept.png"]):
        save(root / name, noise((10, 8), seed=i), "PNG")
    drive(scan_folder(project))
    with project.session() as s:
        s.add_all([LabelClass(name="cat"), LabelClass(name="dog")])
    ids = {r.rel_path: r.id for r in project.page_images()}
    cat = project.class_names_by_id()
    cat_id = next(i for i, n in cat.items() if n == "cat")
    project.record_decisions([ids["decided.png"], ids["kept.png"]], "corrected", class_id=cat_id, reviewer="ana")
    return root, ids, cat_id


def _exported_paths(project, out) -> set[str]:
    assert main(["-p", project.location, "export", "csv", str(out), "--overwrite"]) == 0
    with open(out / "labels.csv", newline="") as f:
        return {row["path"] for row in csv.DictReader(f)}


def test_replaced_file_goes_back_into_review_and_out_of_exports(project, tmp_path, capsys):
    root, ids, cat_id = _setup(project)
    assert _exported_paths(project, tmp_path / "out") == {"decided.png", "kept.png"}
    capsys.readouterr()

    shutil.copy(root / "other.png", root / "decided.png")  # `cp other.png decided.png`
    st = os.stat(root / "decided.png")
    os.utime(root / "decided.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert main(["-p", project.location, "scan", "-q"]) == 0
    out = capsys.readouterr().out
    assert "1 changed (1 of them decided: back in review" in out

    lab = project.current_label(ids["decided.png"])
    assert (lab.class_id, lab.review_status) == (None, "unreviewed")
    trail = project.decision_history(ids["decided.png"])
    assert [(d.action, d.class_id, d.stale) for d in trail] == [("corrected", cat_id, True), ("stale", None, False)]
    assert trail[-1].previous_class_id == cat_id and trail[-1].previous_status == "corrected"
    assert _exported_paths(project, tmp_path / "out") == {"kept.png"}
    assert project.counts()["decided"] == 1

    # undo cannot bring the old label back onto the new pixels
    try:
        project.undo_decision(ids["decided.png"])
    except ReviewError as err:
        assert "no longer has" in str(err)
    else:
        raise AssertionError("undo crossed a content change")

    # someone looks again: decided, exported
    project.record_decisions([ids["decided.png"]], "corrected", class_id=cat_id, reviewer="bo")
    assert _exported_paths(project, tmp_path / "out") == {"decided.png", "kept.png"}


def test_touched_file_with_the_same_bytes_keeps_its_decision(project):
    root, ids, cat_id = _setup(project)
    st = os.stat(root / "kept.png")
    os.utime(root / "kept.png", ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    res = drive(scan_folder(project))
    assert res.stale_decisions == 0 and res.changed == 0 and res.refreshed == 1
    lab = project.current_label(ids["kept.png"])
    assert (lab.class_id, lab.review_status) == (cat_id, "corrected")
