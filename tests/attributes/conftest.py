"""A small Ollama-speaking HTTP server on 127.0.0.1 for the real `ollama` client.

It implements what lazlabel uses, with Ollama's wire format: `GET /api/tags`, `POST /api/chat`
(NDJSON streaming with chunked transfer, or one JSON object), `{"error": ...}` bodies with the
status codes Ollama uses (404 "model ... not found, try pulling it first"). Tests script replies.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    error: str = ""
    delay: float = 0.0  # before the headers
    chunk_delay: float = 0.0  # between streamed chunks
    chunk_size: int = 12
    stream_error: str = ""  # sent as an {"error": ...} line after the first chunk, as Ollama does
    # misbehaving servers (issue 13): "no-newline" streams `total_bytes` without ever ending a line,
    # as fast as the client reads; "trickle" does the same one byte per `chunk_delay`; "stall"
    # sends the headers, then nothing until the server closes; "raw" sends `body`
    # as it is (HTTP 200, `content_type`).
    mode: str = ""
    total_bytes: int = 0
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"


class _QuietServer(ThreadingHTTPServer):
    """Clients closing kept-alive connections is normal; don't print tracebacks for it."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime())


class FakeOllama:
    def __init__(self) -> None:
        self.models = ["llama3.2:latest", "qwen2.5:7b"]
        self.queue: list[Reply] = []
        self.responder: Callable[[dict[str, Any]], Reply] | None = None
        self.requests: list[tuple[str, str, dict[str, Any]]] = []
        self.closing = threading.Event()
        self.tags_raw: Reply | None = None  # a "raw" reply for GET /api/tags
        self.sent = 0  # body bytes of misbehaving replies handed to the socket
        self.stalling = threading.Event()  # a "stall" reply is holding its connection
        self.disconnected = threading.Event()  # the client hung up on a misbehaving reply
        self.finished = threading.Event()  # a misbehaving reply was sent to its end
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, status: int, obj: Any) -> None:
                body = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                fake.requests.append(("GET", self.path, {}))
                if self.path == "/api/tags" and fake.tags_raw is not None:
                    fake.misbehave(self, "", fake.tags_raw)
                elif self.path == "/api/tags":
                    self._json(200, {"models": [fake.tag(m) for m in fake.models]})
                else:
                    self._json(404, {"error": "404 page not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append(("POST", self.path, body))
                if self.path != "/api/chat":
                    self._json(404, {"error": "404 page not found"})
                    return
                model = body.get("model", "")
                if model not in fake.models and f"{model}:latest" not in fake.models:
                    self._json(404, {"error": f'model "{model}" not found, try pulling it first'})
                    return
                reply = fake.next_reply(body)
                if reply.delay and fake.closing.wait(reply.delay):
                    return
                if reply.mode:
                    try:
                        fake.misbehave(self, model, reply)
                    except (BrokenPipeError, ConnectionResetError):
                        fake.disconnected.set()
                    return
                if reply.status != 200:
                    self._json(reply.status, {"error": reply.error or "internal error"})
                    return
                try:
                    if body.get("stream", True):
                        self._stream(model, reply)
                    else:
                        self._json(200, fake.final(model, reply.content))
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _stream(self, model: str, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                text = reply.content
                pieces = [text[i : i + reply.chunk_size] for i in range(0, len(text), reply.chunk_size)]
                lines = [
                    {
                        "model": model,
                        "created_at": _now(),
                        "message": {"role": "assistant", "content": p},
                        "done": False,
                    }
                    for p in pieces
                ] + [fake.final(model, "")]
                if reply.stream_error:
                    lines = lines[:1] + [{"error": reply.stream_error}]
                for obj in lines:
                    if reply.chunk_delay and fake.closing.wait(reply.chunk_delay):
                        return
                    data = (json.dumps(obj) + "\n").encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @staticmethod
    def tag(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "model": name,
            "modified_at": "2026-11-01T10:00:00.000000000Z",
            "size": 2019393189,
            "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "llama",
                "families": ["llama"],
                "parameter_size": "3.2B",
                "quantization_level": "Q4_K_M",
            },
        }

    @staticmethod
    def final(model: str, content: str) -> dict[str, Any]:
        return {
            "model": model,
            "created_at": _now(),
            "message": {"role": "assistant", "content": content},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
            "load_duration": 10_000,
            "prompt_eval_count": 80,
            "prompt_eval_duration": 100_000,
            "eval_count": 40,
            "eval_duration": 500_000,
        }

    def misbehave(self, handler: BaseHTTPRequestHandler, model: str, reply: Reply) -> None:
        """Serve one of the misbehaving replies; `sent` counts the body bytes handed to the socket."""
        w = handler.wfile
        if reply.mode == "raw":
            handler.send_response(200)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            w.write(reply.body)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/x-ndjson")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def chunk(data: bytes) -> None:
            w.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            w.flush()
            self.sent += len(data)

        if reply.mode == "stall":  # headers sent, then silence: the client is blocked reading
            w.flush()
            self.stalling.set()
            self.closing.wait()
            return
        head = json.dumps({"model": model, "message": {"role": "assistant", "content": ""}})
        head = head[: head.rindex('""') + 1].encode()  # the content string opened, never closed
        chunk(head)
        if reply.mode == "no-newline":
            block = b"x" * 65536
            while self.sent < reply.total_bytes:
                chunk(block)
        elif reply.mode == "trickle":
            while self.sent < reply.total_bytes:
                if self.closing.wait(reply.chunk_delay):
                    return
                chunk(b"x")
        else:
            raise ValueError(f"unknown mode {reply.mode!r}")
        w.write(b"0\r\n\r\n")
        self.finished.set()  # the whole misbehaving body went out: the client never stopped it

    def next_reply(self, body: dict[str, Any]) -> Reply:
        with self.lock:
            if self.queue:
                return self.queue.pop(0)
        if self.responder is not None:
            return self.responder(body)
        return Reply(json.dumps({"attributes": ["a long tail", "striped fur"]}))

    def script(self, *replies: Reply | str) -> None:
        self.queue.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def chats(self) -> list[dict[str, Any]]:
        return [b for m, p, b in self.requests if p == "/api/chat"]

    def close(self) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_ollama():
    server = FakeOllama()
    yield server
    server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def question_class(body: dict[str, Any]) -> str:
    """The class name asked about in a chat request built by lazlabel's prompt."""
    text = body["messages"][-1]["content"]
    return text.split("distinguishing a ", 1)[1].split(" in a photo", 1)[0]
