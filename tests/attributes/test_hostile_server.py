"""Issue 13 (items 5, 13, 14): an Ollama-speaking server that misbehaves, through the real `ollama`
client and the real loopback HTTP server of conftest.py.

Memory is judged by the bytes the client read and by tracemalloc's peak, never by timing.
"""

from __future__ import annotations

import json
import threading
import tracemalloc

import pytest

from plugins.attribute_sources import (
    NotOllamaReply,
    OllamaServerError,
    ProposalTimeout,
    ReplyTooLarge,
    SourceStopped,
)
from plugins.attribute_sources.ollama_source import MAX_REPLY_BYTES, OllamaSource

from .conftest import Reply

MiB = 1024 * 1024
READ = 64 * 1024  # one socket read of the HTTP stack


def src(url: str, **kw) -> OllamaSource:
    kw.setdefault("retry_backoff", 0.0)
    kw.setdefault("retries", 0)
    return OllamaSource(url, model="llama3.2", **kw)


def test_reply_without_newline_stops_at_the_byte_cap(fake_ollama):
    """Before: the client buffered the whole never-ending line (2.25 GB in the probe)."""
    cap = 256 * 1024
    with src(fake_ollama.url, max_reply_bytes=cap) as s:
        s.propose("lemur")  # the default good reply: imports and connection set up before measuring
        fake_ollama.script(Reply(mode="no-newline", total_bytes=32 * MiB))
        tracemalloc.start()
        try:
            with pytest.raises(ReplyTooLarge) as err:
                s.propose("lemur")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert cap < err.value.bytes_read <= cap + READ
    assert "lemur" in str(err.value) and "without ending" in str(err.value)
    assert peak < 8 * MiB  # the server offered 32 MiB
    assert not fake_ollama.finished.is_set()  # the client hung up before the server was done


@pytest.mark.parametrize("stream", [True, False])
def test_default_cap_applies_to_both_transports(fake_ollama, stream):
    fake_ollama.script(Reply(mode="no-newline", total_bytes=3 * MAX_REPLY_BYTES))
    with src(fake_ollama.url, stream=stream) as s, pytest.raises(ReplyTooLarge) as err:
        s.propose("lemur")
    assert err.value.bytes_read <= MAX_REPLY_BYTES + READ


def test_trickle_without_newline_hits_the_total_deadline(fake_ollama):
    """One byte every 20 ms: each read is quick, so a per-read timeout never fired."""
    fake_ollama.script(Reply(mode="trickle", total_bytes=400, chunk_delay=0.02))
    with src(fake_ollama.url, timeout=0.5) as s, pytest.raises(ProposalTimeout, match="within 0.5 s"):
        s.propose("lemur")
    assert not fake_ollama.finished.is_set()  # stopped while the server was still trickling


def test_stalled_request_stops_when_asked(fake_ollama):
    """A stop (Ctrl+C, Cancel) ends a request blocked on a silent server, long before its timeout."""
    fake_ollama.script(Reply(mode="stall"))
    stop = threading.Event()
    outcome: list[BaseException] = []

    def ask() -> None:
        with src(fake_ollama.url, timeout=120) as s:
            try:
                s.propose("lemur", stop=stop.is_set)
            except BaseException as err:  # noqa: BLE001 - handed to the test thread
                outcome.append(err)

    t = threading.Thread(target=ask)
    t.start()
    assert fake_ollama.stalling.wait(30)
    stop.set()
    t.join(30)  # the request's own timeout is 120 s
    assert not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], SourceStopped)


@pytest.mark.parametrize("stream", [True, False])
def test_non_json_200_reports_what_the_server_said(fake_ollama, stream):
    page = b"<html><body><h1>Welcome to nginx!</h1></body></html>\n"
    fake_ollama.script(Reply(mode="raw", body=page))
    with src(fake_ollama.url, stream=stream) as s, pytest.raises(NotOllamaReply) as err:
        s.propose("lemur")
    msg = str(err.value)
    assert "HTTP 200" in msg and "Welcome to nginx!" in msg and "502" not in msg


def test_non_json_model_list_reports_what_the_server_said(fake_ollama):
    fake_ollama.tags_raw = Reply(mode="raw", body=b"It works!")
    with src(fake_ollama.url) as s, pytest.raises(NotOllamaReply, match="HTTP 200.*It works!"):
        s.list_models()
    fake_ollama.tags_raw = Reply(mode="raw", body=b'{"hello": [1]}', content_type="application/json")
    with src(fake_ollama.url) as s, pytest.raises(NotOllamaReply, match="JSON that is not an Ollama reply"):
        s.list_models()


def test_invalid_utf8_is_reported_not_stored(fake_ollama):
    content = json.dumps({"attributes": ["ringed tXXil", "grey fur"]})
    line = json.dumps(
        {"model": "llama3.2", "message": {"role": "assistant", "content": content}, "done": True}
    ).encode()
    body = line.replace(b"XX", b"\xff\xfe") + b"\n"
    fake_ollama.script(Reply(mode="raw", body=body, content_type="application/x-ndjson"))
    with src(fake_ollama.url) as s:
        p = s.propose("lemur")
    assert p.attributes == ("grey fur",)
    assert any("UTF-8" in w for w in p.warnings)


def test_server_error_pages_become_one_line(fake_ollama):
    page = "<html>\n<body>\n<h1>502 Bad Gateway</h1>\n" + "<p>nginx</p>\n" * 200 + "</body></html>"
    fake_ollama.script(Reply(status=502, error=page))
    with src(fake_ollama.url) as s, pytest.raises(OllamaServerError) as err:
        s.propose("lemur")
    msg = str(err.value)
    assert "\n" not in msg and "502 Bad Gateway" in msg and len(msg) < 400
