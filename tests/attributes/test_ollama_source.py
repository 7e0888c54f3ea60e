"""OllamaSource with the real `ollama` client against the fake server in conftest.py."""

from __future__ import annotations

import json

import pytest

from plugins.attribute_sources import (
    ModelNotInstalled,
    OllamaServerError,
    OllamaUnreachable,
    ProposalTimeout,
    UnusableReply,
)
from plugins.attribute_sources.ollama_source import OllamaSource
from plugins.attribute_sources.parsing import parse_reply
from plugins.attribute_sources.prompting import pick_other_classes, prompt_version

from .conftest import Reply


def src(url: str, **kw) -> OllamaSource:
    kw.setdefault("retry_backoff", 0.0)
    return OllamaSource(url, model="llama3.2", **kw)


@pytest.mark.parametrize("stream", [True, False])
def test_good_json_structured_output_request(fake_ollama, stream):
    fake_ollama.script(
        json.dumps({"attributes": ["Red crest", "black mask around the bill", "cardinal", ""]})
    )
    with src(fake_ollama.url, stream=stream) as s:
        p = s.propose("cardinal", other_classes=["blue jay"], domain_hint="birds", n=5)
    assert p.attributes == ("red crest", "black mask around the bill")
    assert p.model == "llama3.2" and p.prompt_version == prompt_version() and p.attempts == 1
    body = fake_ollama.chats()[0]
    assert body["stream"] is stream
    assert body["format"]["properties"]["attributes"]["type"] == "array"  # structured outputs
    question = body["messages"][-1]["content"]
    assert "cardinal" in question and "blue jay" in question and "birds" in question and "Give 5" in question


def test_fenced_json_prose_and_numbered_list(fake_ollama):
    fake_ollama.script(
        'Sure! Here you go:\n```json\n{"cardinal": ["crest", "Crest", "short conical bill."]}\n```',
        'The features are {"attributes": ["red body", "red body"]} as requested.',
        "Here are the features:\n1. Red plumage\n2) **Black face mask**\n- thick orange beak.\nEnjoy!",
    )
    with src(fake_ollama.url) as s:
        a = s.propose("cardinal")
        b = s.propose("cardinal")
        c = s.propose("cardinal")
    assert a.attributes == ("crest", "short conical bill") and a.found_as == "fenced-json"
    assert "1 duplicates" in a.warnings
    assert b.attributes == ("red body",) and b.found_as == "embedded-json"
    assert c.attributes == ("red plumage", "black face mask", "thick orange beak") and c.found_as == "list"


def test_http_500_is_retried_then_reported(fake_ollama):
    fake_ollama.script(Reply(status=500, error="llama runner process has terminated"), '["long tail"]')
    with src(fake_ollama.url, retries=1) as s:
        assert s.propose("lemur").attributes == ("long tail",)
    fake_ollama.script(*[Reply(status=500, error="llama runner process has terminated")] * 2)
    with src(fake_ollama.url, retries=1) as s, pytest.raises(OllamaServerError, match="HTTP 500.*terminated"):
        s.propose("lemur")


def test_model_missing_says_ollama_pull(fake_ollama):
    with src(fake_ollama.url) as s:
        with pytest.raises(ModelNotInstalled, match="ollama pull mistral"):
            s.propose("lemur", model="mistral")
        with pytest.raises(ModelNotInstalled, match=r"ollama pull gemma3.*installed: llama3.2:latest"):
            s.ensure_model("gemma3")
        assert s.ensure_model("llama3.2") == "llama3.2:latest"
        assert s.ensure_model("qwen2.5:7b") == "qwen2.5:7b"
    assert len(fake_ollama.chats()) == 1  # not retried


def test_server_down_names_host_and_ollama_serve(closed_port_url):
    with src(closed_port_url) as s:
        with pytest.raises(OllamaUnreachable, match=r"127\.0\.0\.1.*ollama serve"):
            s.list_models()
        with pytest.raises(OllamaUnreachable, match="ollama serve"):
            s.propose("lemur")


@pytest.mark.parametrize("stream", [True, False])
def test_slow_reply_times_out(fake_ollama, stream):
    fake_ollama.script(*[Reply('["x"]', delay=3.0)] * 2)
    with src(fake_ollama.url, timeout=0.3, retries=1, stream=stream) as s:
        with pytest.raises(ProposalTimeout, match=r"'lemur' within 0.3 s"):
            s.propose("lemur")
    assert len(fake_ollama.chats()) == 2  # one retry


def test_slow_stream_hits_the_per_class_deadline(fake_ollama):
    fake_ollama.script(
        Reply(json.dumps({"attributes": ["a b c d e f g"] * 5}), chunk_delay=0.15, chunk_size=4)
    )
    with src(fake_ollama.url, timeout=0.5, retries=0) as s, pytest.raises(ProposalTimeout):
        s.propose("lemur")


def test_prose_only_reply_is_unusable_after_retries(fake_ollama):
    fake_ollama.script("I cannot help with that.", "Lemurs are primates from Madagascar.")
    with src(fake_ollama.url, retries=1) as s, pytest.raises(UnusableReply, match="Madagascar"):
        s.propose("lemur")
    temps = [b["options"]["temperature"] for b in fake_ollama.chats()]
    assert temps[1] > temps[0]  # a different sample on retry


def test_list_models(fake_ollama):
    with src(fake_ollama.url) as s:
        models = s.list_models()
    assert [m.name for m in models] == ["llama3.2:latest", "qwen2.5:7b"]
    assert models[0].parameter_size == "3.2B" and models[0].size == 2019393189


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('["Long tail", "long tail", "  ", "lemur", "a lemur", 3]', ["long tail"]),
        ('<think>maybe ["no"]</think>{"attributes": ["ringed tail"]}', ["ringed tail"]),
        ('[{"feature": "Big eyes"}, {"feature": "grey fur."}]', ["big eyes", "grey fur"]),
        ("* Ringed tail\n* Grey fur;\n\nThat is all.", ["ringed tail", "grey fur"]),
        ('{"attributes": ["LED display"]}', ["LED display"]),
        ('["3.5 inch screen"]', ["3.5 inch screen"]),
    ],
)
def test_parse_reply_normalises(raw, expected):
    assert parse_reply(raw, "lemur").attributes == expected


def test_parse_reply_caps_length_and_flags_other_languages():
    long = "a very long tail, " + "with many many rings of black and white fur along its entire length " * 3
    out = parse_reply(json.dumps([long, "x"]), "lemur", n=1)
    assert (
        len(out.attributes) == 1
        and len(out.attributes[0]) <= 100
        and out.attributes[0].startswith("a very long")
    )
    assert any("shortened" in w for w in out.warnings) and any("extra" in w for w in out.warnings)
    zh = parse_reply('{"lemur": ["环尾", "灰色毛皮"]}', "lemur")
    assert zh.attributes == ["环尾", "灰色毛皮"] and any("English" in w for w in zh.warnings)


def test_other_classes_prefers_shared_words_then_neighbours():
    names = ["tench", "goldfish", "great white shark", "tiger shark", "hammerhead shark", "electric ray"]
    assert pick_other_classes("tiger shark", names, limit=3) == [
        "great white shark",
        "hammerhead shark",
        "goldfish",
    ]


def test_error_inside_the_stream_is_retried(fake_ollama):
    fake_ollama.script(
        Reply('["partial', stream_error="an error was encountered while running the model"), '["ok"]'
    )
    with src(fake_ollama.url, retries=1) as s:
        assert s.propose("lemur").attributes == ("ok",)
    fake_ollama.script(Reply('["partial', stream_error="an error was encountered while running the model"))
    with (
        src(fake_ollama.url, retries=0) as s,
        pytest.raises(OllamaServerError, match="while running the model"),
    ):
        s.propose("lemur")


def test_host_defaults_to_ollama_host_env(fake_ollama, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", fake_ollama.url)
    with OllamaSource() as s:
        assert s.host == fake_ollama.url and s.list_models()
