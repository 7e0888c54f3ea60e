"""Images store: scan writes, counts, page queries (every sort and filter), paths, hashes."""

from __future__ import annotations

import os
import sqlite3

import pytest
from sqlalchemy import insert, update

from db import SORTS, ImageFilter, ProjectError, ScanRecord
from db.models import Image, LabelClass
from db.queries import FILTERS


def _rec(name: str, **kw) -> ScanRecord:
    base = {"size": 100, "mtime_ns": 1, "width": 10, "height": 10, "format": "PNG", "mode": "RGB"}
    return ScanRecord(rel_path=name, **{**base, **kw})


@pytest.fixture
def filled(project):
    """Six images with known predictions / decisions / imported labels, three classes."""
    with project.session() as s:
        s.execute(insert(LabelClass), [{"id": i, "name": n, "order": i} for i, n in [(1, "cat"), (2, "dog"), (3, "owl")]])
    ids = project.write_scan_batch([_rec(n) for n in ["b.png", "a.png", "c/d.png", "c/e.png", "f.png"]])
    bad = project.write_scan_batch([_rec("zz_bad.png", status="error", error="truncated (no PNG end chunk)")])
    b, a, d, e, f = ids
    rows = [
        # id, pred class, score, margin, imported class, issue score, decided class, review status, last decision
        (b, 1, 0.9, 0.5, 1, 0.1, None, "unreviewed", None),
        (a, 2, 0.3, 0.05, 1, 0.8, None, "unreviewed", None),  # disagrees (pred dog, imported cat)
        (d, 1, 0.5, 0.2, None, None, 3, "corrected", 2),  # decided owl
        (e, 3, 0.7, 0.1, 3, 0.2, 3, "accepted", 1),
        (f, None, None, None, 2, None, None, "unreviewed", None),  # no prediction
    ]
    with project.session() as s:
        s.execute(
            update(Image),
            [
                {"id": i, "pred_class_id": pc, "pred_score": sc, "pred_margin": m, "imported_class_id": ic,
                 "issue_score": iss, "label_class_id": lc, "review_status": rs, "last_decision_id": ld}
                for i, pc, sc, m, ic, iss, lc, rs, ld in rows
            ],
        )
    return {"b": b, "a": a, "d": d, "e": e, "f": f, "bad": bad[0]}


def _paths(rows):
    return [r.rel_path for r in rows]


def test_write_scan_batch_returns_ids_in_order_and_snapshot_sees_them(project):
    ids = project.write_scan_batch([_rec("x.png", size=5, mtime_ns=7), _rec("y.png")])
    assert len(set(ids)) == 2
    snap = project.scan_snapshot()
    assert snap["x.png"].id == ids[0] and (snap["x.png"].size, snap["x.png"].mtime_ns) == (5, 7)
    assert project.image(ids[1]).rel_path == "y.png"


def test_changed_file_drops_hash_and_stale_prediction_and_decision_goes_stale(project, filled):
    e = filled["e"]
    project.set_content_hash(e, "ab" * 32)
    stale: list[int] = []
    project.write_scan_batch([], changed={e: _rec("c/e.png", size=999, mtime_ns=5, width=20)}, stale_out=stale)
    row = project.image(e)
    assert (row.width, row.size, row.content_hash) == (20, 999, None)
    assert row.pred_class_id is None and row.pred_score is None
    # new bytes: back in review; the curator's decision stays in the history, marked stale
    assert stale == [e] and (row.review_status, row.label_class_id) == ("unreviewed", None)
    assert [(d.action, d.previous_class_id) for d in project.decision_history(e)][-1] == ("stale", 3)


def test_refreshed_file_keeps_hash_and_prediction(project, filled):
    b = filled["b"]
    project.set_content_hash(b, "cd" * 32)
    project.mark_missing([b])
    assert project.image(b).status == "missing"
    project.write_scan_batch([], refreshed={b: _rec("b.png")})
    row = project.image(b)
    assert (row.status, row.content_hash, row.pred_class_id) == ("ok", "cd" * 32, 1)


def test_mark_missing_never_deletes(project, filled):
    assert project.mark_missing([filled["d"], filled["e"]]) == 2
    assert project.mark_missing([filled["d"]]) == 0  # already missing
    c = project.counts()
    assert (c["total"], c["missing"], c["ok"], c["error"]) == (6, 2, 3, 1)
    assert project.current_label(filled["d"]).class_id == 3


def test_counts(project, filled):
    c = project.counts()
    assert (c["total"], c["ok"], c["error"], c["missing"]) == (6, 5, 1, 0)
    assert c["predicted"] == 4
    assert c["decided"] == 2
    assert c["by_review_status"] == {"unreviewed": 4, "accepted": 1, "corrected": 1}
    assert c["errors_by_reason"] == {"truncated": 1}
    assert c["disagreements"] == 1  # a: dog vs cat; d: no import; f: no current label
    assert project.image_errors() == [(filled["bad"], "zz_bad.png", "truncated (no PNG end chunk)")]


def test_every_sort_orders_as_documented(project, filled):
    ok = ImageFilter(status="ok")
    page = lambda sort, **kw: _paths(project.page_images(ok, sort, **kw))  # noqa: E731
    assert page("name") == ["a.png", "b.png", "c/d.png", "c/e.png", "f.png"]
    assert page("confidence") == ["a.png", "c/d.png", "c/e.png", "b.png", "f.png"]  # unpredicted last
    assert page("confidence_desc") == ["b.png", "c/e.png", "c/d.png", "a.png", "f.png"]  # most confident first
    assert page("margin") == ["a.png", "c/e.png", "c/d.png", "b.png", "f.png"]
    # predicted class (unpredicted last), then decided class (undecided last), then confidence
    assert page("class") == ["c/d.png", "b.png", "a.png", "c/e.png", "f.png"]
    # disagreeing first, then by issue score, highest first, unscored last
    assert page("disagreement") == ["a.png", "c/e.png", "b.png", "c/d.png", "f.png"]
    # latest decision first, then newest scanned
    assert page("recent") == ["c/d.png", "c/e.png", "f.png", "a.png", "b.png"]
    r1, r1b = page("random", seed=1), page("random", seed=1)
    assert r1 == r1b and sorted(r1) == sorted(page("name"))
    assert any(page("random", seed=s) != r1 for s in range(2, 6))
    assert set(SORTS) == {"name", "confidence", "confidence_desc", "margin", "class", "disagreement", "random",
                          "recent"}


def test_offset_limit_and_image_ids_agree(project, filled):
    all_ids = project.image_ids(ImageFilter(status="ok"), "confidence")
    assert [r.id for r in project.page_images(ImageFilter(status="ok"), "confidence", 1, 2)] == all_ids[1:3]
    assert project.page_images(ImageFilter(status="ok"), "name", 100, 10) == []


def test_every_filter(project, filled):
    def names(**kw):
        return sorted(_paths(project.page_images(ImageFilter(**kw))))

    assert names(status="error") == ["zz_bad.png"]
    assert names(status=("ok", "error")) == sorted(["a.png", "b.png", "c/d.png", "c/e.png", "f.png", "zz_bad.png"])
    assert names(status="ok", review_status="unreviewed") == ["a.png", "b.png", "f.png"]
    assert names(review_status=("accepted", "corrected")) == ["c/d.png", "c/e.png"]
    assert names(decided=True) == ["c/d.png", "c/e.png"]
    assert names(status="ok", decided=False) == ["a.png", "b.png", "f.png"]
    assert names(class_id=1) == ["b.png"]  # d was predicted cat but decided owl
    assert names(class_id=3) == ["c/d.png", "c/e.png"]
    assert names(pred_class_id=1) == ["b.png", "c/d.png"]
    assert names(label_class_id=3) == ["c/d.png", "c/e.png"]
    assert names(imported_class_id=1) == ["a.png", "b.png"]
    assert names(has_prediction=True) == ["a.png", "b.png", "c/d.png", "c/e.png"]
    assert names(status="ok", has_prediction=False) == ["f.png"]
    assert names(has_imported=False) == ["c/d.png", "zz_bad.png"]
    assert names(disagrees=True) == ["a.png"]
    assert len(names(disagrees=False)) == 5
    assert names(text="C/") == ["c/d.png", "c/e.png"]  # case-insensitive substring
    assert names(status="ok", text="e", class_id=3) == ["c/e.png"]
    assert project.count_images(ImageFilter(status="ok", review_status="unreviewed")) == 3
    assert set(FILTERS) >= {"status", "review_status", "class_id", "imported_class_id", "has_prediction",
                            "disagrees", "text"}


def test_text_filter_treats_wildcards_literally(project):
    project.write_scan_batch([_rec("100%_done.png"), _rec("100x_done.png"), _rec("a_b.png"), _rec("axb.png")])
    assert _paths(project.page_images(ImageFilter(text="100%"))) == ["100%_done.png"]
    assert _paths(project.page_images(ImageFilter(text="a_b"))) == ["a_b.png"]


def test_unknown_sort_is_a_clear_error(project):
    with pytest.raises(ValueError, match="unknown sort 'bogus'.*confidence"):
        project.page_images(sort="bogus")


def test_current_label_and_missing_ids(project, filled):
    d = project.current_label(filled["d"])
    assert (d.class_id, d.review_status, d.decision_id, d.pred_class_id) == (3, "corrected", 2, 1)
    assert d.effective_class_id == 3
    b = project.current_label(filled["b"])
    assert (b.class_id, b.review_status, b.decision_id, b.effective_class_id) == (None, "unreviewed", None, 1)
    for call in (project.image, project.image_path, project.current_label):
        with pytest.raises(ProjectError, match="no image with id 12345"):
            call(12345)
    assert [r.id for r in project.images([filled["e"], 12345, filled["a"]])] == [filled["e"], filled["a"]]


def test_image_path_is_lossless_for_non_utf8_names(project):
    raw = b"caf\xe9/\xff\xfe.png"  # latin-1 folder, invalid UTF-8 file name
    text = raw.decode("utf-8", "backslashreplace")
    (i,) = project.write_scan_batch([_rec(text, raw_path=raw)])
    path = project.image_path(i)
    assert os.fsencode(path) == os.fsencode(project.image_root) + b"/" + raw
    assert project.image(i).rel_path == "caf\\xe9/\\xff\\xfe.png"
    assert project.image_paths([i]) == {i: path}


def test_content_hashes_respect_expected_size_and_mtime(project, filled):
    a, b = filled["a"], filled["b"]
    targets = {t.id for t in project.images_for_hashes()}
    assert filled["bad"] not in targets and a in targets
    n = project.set_content_hashes({a: "11" * 32, b: "22" * 32}, expect={a: (100, 1), b: (100, 999)})
    assert n == 1  # b's file "changed" since it was read: no hash stored
    assert project.content_hashes([a, b]) == {a: "11" * 32, b: None}
    assert project.images_with_hash("11" * 32) == [a]
    assert a not in {t.id for t in project.images_for_hashes()}


def test_page_queries_use_indexes(project, filled):
    """The review queue by confidence/name walks an index: no sort of the whole table."""
    if project.is_team:
        pytest.skip("SQLite's query plan; PostgreSQL's planner picks by table statistics")
    project.analyze()
    con = sqlite3.connect(project.path)
    for order in ("pred_score", "rel_path"):
        plan = " ".join(
            r[3]
            for r in con.execute(
                f"EXPLAIN QUERY PLAN SELECT id FROM image WHERE status='ok' AND review_status='unreviewed' "
                f"ORDER BY {order}, id LIMIT 200"
            )
        )
        assert "ix_image_status_review" in plan, plan
    con.close()
