"""Use cases: propose (fake Ollama, real client), import/export of descriptor files."""

from __future__ import annotations

import json
import threading
import time

import pytest

from workflows.attributes import (
    compare_attribute_sets,
    export_attributes,
    import_attributes,
    list_ollama_models,
    propose_attributes,
    suggest_attributes,
)
from workflows.errors import UserError
from workflows.progress import Cancelled, CancelToken, drive

from .conftest import Reply, question_class


@pytest.fixture
def birds(project, fake_ollama):
    project.set_setting("ollama_host", fake_ollama.url)
    project.set_setting("ollama_model", "llama3.2")
    project.set_setting("reviewer", "ana")
    for name in ("cardinal", "blue jay", "robin", "crow"):
        project.add_class(name)
    return project


def per_class(body):
    name = question_class(body)
    return Reply(json.dumps({"attributes": [f"{name} feature one", f"{name} feature two"]}))


def test_propose_saves_each_class_with_provenance(birds, fake_ollama):
    fake_ollama.responder = per_class
    seen = []
    result = drive(propose_attributes(birds, concurrency=3, retries=0), seen.append)
    assert result.ok and len(result.saved) == 4 and result.model == "llama3.2:latest"
    assert [p.done for p in seen] == [0, 1, 2, 3, 4] and seen[-1].total == 4
    rows = birds.list_attributes("robin")
    assert [r.text for r in rows] == ["robin feature one", "robin feature two"]
    assert {(r.source, r.origin_model, r.prompt_version) for r in rows} == {
        ("llm", "llama3.2:latest", result.prompt_version)
    }
    assert rows[0].created_at is not None and rows[0].origin == f"ollama {fake_ollama.url}"
    assert birds.attribute_history("robin")[0].who == "ana"
    # a second run skips classes that already have attributes (resume), --replace re-asks
    again = drive(propose_attributes(birds))
    assert sorted(again.skipped) == ["blue jay", "cardinal", "crow", "robin"] and not again.saved
    fake_ollama.responder = lambda body: Reply('["new one"]')
    drive(propose_attributes(birds, class_ids=["robin"], replace=True))
    assert [r.text for r in birds.list_attributes("robin")] == ["new one"]


def test_one_failing_class_does_not_lose_the_others(birds, fake_ollama):
    def responder(body):
        name = question_class(body)
        if name == "blue jay":
            return Reply(status=500, error="llama runner process has terminated")
        if name == "crow":
            return Reply("Crows are black birds.")  # unusable
        return per_class(body)

    fake_ollama.responder = responder
    result = drive(propose_attributes(birds, concurrency=2, retries=1))
    assert {p.class_name for p in result.saved} == {"cardinal", "robin"}
    reasons = dict(result.failures)
    assert "HTTP 500" in reasons["blue jay"] and "unusable" in reasons["crow"]
    assert birds.list_attributes("blue jay") == [] and len(birds.list_attributes("cardinal")) == 2


def test_model_missing_and_server_down_write_nothing(birds, fake_ollama, closed_port_url):
    with pytest.raises(UserError, match="ollama pull mistral"):
        drive(propose_attributes(birds, model="mistral"))
    birds.set_setting("ollama_host", closed_port_url)
    with pytest.raises(UserError, match="ollama serve"):
        drive(propose_attributes(birds))
    with pytest.raises(UserError, match="ollama serve"):
        list_ollama_models(birds)
    assert birds.list_attributes() == [] and fake_ollama.chats() == []


def test_cancel_keeps_finished_classes(birds, fake_ollama):
    fake_ollama.responder = lambda body: Reply('["slow"]', delay=0.4)
    fake_ollama.script(Reply('["fast"]'))
    token = CancelToken()
    gen = propose_attributes(birds, concurrency=1, cancel=token, retries=0)
    progress = []
    with pytest.raises(Cancelled):
        for p in gen:
            progress.append(p)
            if p.done == 1:
                token.cancel()
    assert progress[-1].done == 1
    saved = [c.name for c in birds.list_classes() if c.n_attributes]
    assert saved == ["cardinal"]
    # resumable: the next run only asks for the rest
    fake_ollama.responder = per_class
    result = drive(propose_attributes(birds))
    assert result.skipped == ["cardinal"] and len(result.saved) == 3


def test_models_listing(birds):
    assert [m.name for m in list_ollama_models(birds)] == ["llama3.2:latest", "qwen2.5:7b"]


def test_import_imagenet_descriptors(project, shared_data):
    path = shared_data / "descriptors" / "imagenet.json"
    t0 = time.perf_counter()
    result = import_attributes(project, path, who="ana")
    elapsed = time.perf_counter() - t0  # reported by scripts/bench_attributes.py, not asserted
    print(f"imagenet import: {elapsed:.2f} s")
    assert result.classes_in_file == 1000 and len(result.classes_added) == 1000
    assert result.attributes_added == 5800 and "order of the 1000 classes in the file" in result.order_note
    specs = project.class_specs()
    assert specs[0][1:] == ("tench", tuple(json.loads(path.read_text())["tench"]))
    assert [name for _, name, _ in specs][:3] == ["tench", "goldfish", "great white shark"]
    assert project.list_attributes("goldfish")[0].origin == "imagenet.json"
    # importing the same file again changes nothing
    again = import_attributes(project, path)
    assert again.attributes_added == 0 and again.attribute_set_version == result.attribute_set_version


def test_import_reports_duplicates_and_existing_order(project, tmp_path):
    project.add_class("zebra")
    f = tmp_path / "d.json"
    f.write_text('{"bazaar": ["stalls", "Stalls", "people"], "alpaca": []}', encoding="utf-8")
    r = import_attributes(project, f)
    assert r.duplicates_dropped == [("bazaar", "Stalls")]
    assert "appended after the 1 existing" in r.order_note and r.classes_not_in_file == ["zebra"]
    assert [c.name for c in project.list_classes()] == ["zebra", "bazaar", "alpaca"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"a": ["x"],\n "b": ["y",]}', r"d\.json:2:\d+: invalid JSON"),
        ('{"a": ["x"],\n "b": "y"}', r"d\.json:2:2: class 'b': expected a list"),
        ('{"a": ["x"],\n "A": ["y"]}', r"d\.json:2: class 'A' appears again \(first at line 1\)"),
        ('{"a": ["x"],\n\n "b": ["ok", 3]}', r"d\.json:3:2: class 'b': item 2 is int"),
        ('["a", "b"]', r"expected an object"),
        ('{"a": ["' + "x" * 600 + '"]}', r"d\.json:1: class 'a': attribute is 600 characters"),
    ],
)
def test_malformed_json_is_a_clear_error_and_writes_nothing(project, tmp_path, content, match):
    project.add_class("keep")
    f = tmp_path / "d.json"
    f.write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=match):
        import_attributes(project, f)
    assert [c.name for c in project.list_classes()] == ["keep"]


def test_non_utf8_and_bad_csv(project, tmp_path):
    f = tmp_path / "d.csv"
    f.write_bytes(b"class,attribute\ncat,whiskers\ndog,\xff\xfe bark\n")
    with pytest.raises(UserError, match=r"d\.csv:3:5: not UTF-8"):
        import_attributes(project, f)
    f.write_text("class,attribute\ncat,whiskers,extra\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"d\.csv:2: expected 2 columns"):
        import_attributes(project, f)
    with pytest.raises(UserError, match="cannot tell the format"):
        import_attributes(project, tmp_path / "x.yaml") if (tmp_path / "x.yaml").write_text("a") else None
    assert project.list_classes() == []


def test_csv_roundtrip_and_replace_mode(project, tmp_path):
    tmp_path = tmp_path / "files"
    tmp_path.mkdir()
    f = tmp_path / "in.csv"
    f.write_text(
        '\ufeffclass,attribute\ncat,whiskers\ncat,"pointed ears, upright"\nfish,\ndog,wet nose\n',
        encoding="utf-8",
    )
    import_attributes(project, f)
    assert [(n, a) for _, n, a in project.class_specs()] == [
        ("cat", ("whiskers", "pointed ears, upright")),
        ("fish", ()),
        ("dog", ("wet nose",)),
    ]
    out = tmp_path / "out.csv"
    res = export_attributes(project, out)
    assert res.classes == 3 and res.attributes == 3
    assert out.read_text(encoding="utf-8").splitlines()[2] == 'cat,"pointed ears, upright"'
    p2 = tmp_path / "rt.json"
    export_attributes(project, p2)
    assert json.loads(p2.read_text()) == {
        "cat": ["whiskers", "pointed ears, upright"],
        "fish": [],
        "dog": ["wet nose"],
    }
    v = project.attribute_set_version()
    (tmp_path / "new.json").write_text('{"cat": ["stripes"]}')
    r = import_attributes(project, tmp_path / "new.json", mode="replace")
    assert r.attributes_removed == 2 and project.class_specs()[0][2] == ("stripes",)
    assert project.attribute_set_version() != v
    import_attributes(project, p2, mode="replace")  # undo by re-importing the export
    assert project.attribute_set_version() == v
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.csv",
        "new.json",
        "out.csv",
        "rt.json",
    ]  # no temp left


def test_export_skips_disabled_unless_asked(project, tmp_path):
    cid = project.add_class("cat")
    aid = project.add_attribute(cid, "whiskers")
    project.add_attribute(cid, "tail")
    project.set_attribute_active(aid, False)
    export_attributes(project, tmp_path / "a.json")
    export_attributes(project, tmp_path / "b.json", include_inactive=True)
    assert json.loads((tmp_path / "a.json").read_text()) == {"cat": ["tail"]}
    assert json.loads((tmp_path / "b.json").read_text()) == {"cat": ["whiskers", "tail"]}


def test_compare_attribute_sets(project):
    cid = project.add_class("cat")
    aid = project.add_attribute(cid, "whiskers")
    v1 = project.snapshot_attribute_set()
    project.edit_attribute(aid, "long whiskers")
    project.add_class("dog")
    v2 = project.snapshot_attribute_set()
    diff = compare_attribute_sets(project, v1, v2)
    assert diff["classes_added"] == ["dog"]
    assert diff["changed"]["cat"]["removed"] == ["whiskers"] and diff["changed"]["cat"]["added"] == [
        "long whiskers"
    ]


def test_propose_runs_requests_concurrently(birds, fake_ollama):
    live, peak, lock = [0], [0], threading.Lock()
    pair = threading.Barrier(2, timeout=10)  # passes only when two requests are in flight together

    def responder(body):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        try:
            pair.wait()
        finally:
            with lock:
                live[0] -= 1
        return per_class(body)

    fake_ollama.responder = responder
    result = drive(propose_attributes(birds, concurrency=2, retries=0))
    assert result.ok and peak[0] == 2


def test_suggest_previews_without_saving(birds, fake_ollama):
    fake_ollama.script('{"attributes": ["red crest"]}')
    proposal = suggest_attributes(birds, "cardinal")
    assert proposal.attributes == ("red crest",) and proposal.model == "llama3.2"
    assert birds.list_attributes() == []
    fake_ollama.script(Reply(status=500, error="boom"))
    with pytest.raises(UserError, match="HTTP 500"):
        suggest_attributes(birds, "cardinal", retries=0)


def test_model_removed_mid_run_stops_the_rest(birds, fake_ollama):
    def responder(body):
        fake_ollama.models = ["qwen2.5:7b"]  # the next request finds no llama3.2
        return per_class(body)

    fake_ollama.responder = responder
    progress = []
    result = drive(propose_attributes(birds, concurrency=1, retries=0), progress.append)
    assert [p.class_name for p in result.saved] == ["cardinal"]
    assert len(result.failures) == 1 and "ollama pull llama3.2" in result.failures[0][1]
    assert sorted(result.not_attempted) == ["crow", "robin"] and not result.ok
    assert len(fake_ollama.chats()) == 2  # nothing sent after the fatal error
