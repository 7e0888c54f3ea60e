"""Evidence use cases and `lazlabel explain`: the calibrated, localised evidence of a real run."""

from __future__ import annotations

import json

import pytest

from cli.main import main
from engine.evidence import FOUND_AT, WEAK_AT
from workflows.evidence import EXPLAIN_SCHEMA, explain_document, image_evidence, presence_calibration
from workflows.prelabel import run_prelabel
from workflows.progress import drive


@pytest.fixture
def prelabelled(engine_project):
    project, ids, cids = engine_project
    drive(run_prelabel(project))
    return project, ids, cids


def _check_attribute(a: dict, size: tuple[int, int]) -> None:
    assert 0.0 <= a["share"] <= 1.0
    assert a["presence"]["label"] in ("found", "weak", "not found")
    s = a["presence"]["score"]
    assert (a["presence"]["label"] == "found") == (s >= FOUND_AT) and (a["presence"]["label"] == "not found") == (s < WEAK_AT)
    x, y = a["peak"]
    x0, y0, x1, y1 = a["box"]
    assert 0 <= x0 <= x <= x1 <= size[0] and 0 <= y0 <= y <= y1 <= size[1]


def test_explain_document_is_calibrated_localised_and_honest(prelabelled):
    project, ids, _cids = prelabelled
    cal = presence_calibration(project)
    distinct = {h for h in project.content_hashes(ids).values() if h}
    assert cal is not None and cal.n_images == len(distinct) and cal.stats
    assert presence_calibration(project) == cal  # kept beside the cache, read back unchanged
    for iid in ids[:4]:
        doc = explain_document(project, iid, calibration=cal)
        assert doc["schema"] == EXPLAIN_SCHEMA and doc["class"] == doc["predicted"]["class"]
        shares = [a["share"] for a in doc["attributes"]]
        assert abs(sum(shares) - (1.0 if any(shares) else 0.0)) < 1e-3
        for a in doc["attributes"]:
            _check_attribute(a, tuple(doc["image_size"]))
            assert a["against"] == (a["contribution"] < 0) and (a["share"] == 0 or not a["against"])
        ru = doc["runner_up"]
        assert ru is not None and ru["class"] != doc["class"] and ru["score_gap"] >= 0
        for a in ru["not_found"]:
            assert a["presence"]["label"] == "not found"


def test_image_evidence_keeps_nine_classes_and_never_leads_with_an_absent_attribute(prelabelled):
    project, ids, cids = prelabelled
    for iid in ids:
        ev = image_evidence(project, iid)
        assert len(ev.topk) == len(cids)  # fewer than nine classes: all of them
        main_reason = ev.shown.main_reason
        assert main_reason is None or main_reason.presence.label != "not found"


def test_explanations_of_a_rescore_never_reencode(prelabelled, monkeypatch):
    from engine.models import ClipModel
    from workflows.rescore import rescore

    project, ids, _cids = prelabelled
    monkeypatch.setattr(ClipModel, "encode_images", lambda *a, **k: (_ for _ in ()).throw(AssertionError("re-encoded")))
    cid = next(iter(project.class_names_by_id()))
    project.set_class_active(cid, False)
    drive(rescore(project, preview=False))
    doc = explain_document(project, ids[0])
    assert all(a["peak"] is not None for a in doc["attributes"])


def test_cli_explain_text_and_json(prelabelled, capsys):
    project, ids, cids = prelabelled
    path = project.location
    rels = [project.image(i).rel_path for i in ids[:2]]
    assert main(["explain", rels[0], "--format", "json", "-p", path]) == 0  # options anywhere after the command
    one = json.loads(capsys.readouterr().out)
    assert isinstance(one, dict) and one["image"] == rels[0]
    assert main(["-p", path, "explain", "--format", "json", *rels]) == 0
    many = json.loads(capsys.readouterr().out)
    assert [d["image"] for d in many] == rels
    other = next(n for n in project.class_names_by_id().values() if n != one["class"])
    assert main(["-p", path, "explain", rels[0], "--class", other, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["class"] == other
    assert main(["-p", path, "explain", rels[0]]) == 0
    text = capsys.readouterr().out
    assert rels[0] in text and "why not" in text and "share" in text
    assert main(["-p", path, "explain", rels[0], "no/such.png"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no/such.png" in err
