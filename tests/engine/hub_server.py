"""A loopback HTTP server speaking the part of the Hugging Face hub API that
``huggingface_hub.hf_hub_download`` uses: ``HEAD``/``GET /{repo}/resolve/{revision}/{file}`` with
the ``X-Repo-Commit``, ``ETag`` / ``X-Linked-Etag`` / ``X-Linked-Size`` headers, ``Range`` requests
(206), and 404s with ``X-Error-Code`` (RepoNotFound, RevisionNotFound, EntryNotFound).

Faults for tests: `drop_after[file] = n` sends n bytes of the first GET of that file and closes
the connection (the client must resume with a Range request); `corrupt` files are served with
bytes that do not match their advertised sha256; `delay_s` slows the body down (cancel tests).
"""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


class FakeHub:
    """Serve `repos` ({repo_id: {filename: bytes}}) on 127.0.0.1 until `close()`."""

    def __init__(self, repos: dict[str, dict[str, bytes]]) -> None:
        self.repos = repos
        self.commits = {r: hashlib.sha1(r.encode()).hexdigest() for r in repos}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range header)
        self.drop_after: dict[str, int] = {}
        self.corrupt: set[str] = set()
        self.short: set[str] = set()  # served 10 bytes short of the advertised size
        self.gated: set[str] = set()  # repos answering 403 GatedRepo
        self.delay_s = 0.0
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:  # quiet
                pass

            def do_HEAD(self) -> None:  # noqa: N802 - http.server naming
                hub._handle(self, body=False)

            def do_GET(self) -> None:  # noqa: N802
                hub._handle(self, body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    @staticmethod
    def is_lfs(name: str) -> bool:
        return name.endswith((".safetensors", ".bin"))

    def _error(self, h: BaseHTTPRequestHandler, code: str) -> None:
        h.send_response(404)
        h.send_header("X-Error-Code", code)
        h.send_header("Content-Length", "0")
        h.end_headers()

    def _handle(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(h.path.split("?")[0])
        self.requests.append((h.command, path, h.headers.get("Range")))
        try:
            left, rest = path.lstrip("/").split("/resolve/", 1)
            rev, fname = rest.split("/", 1)
        except ValueError:
            return self._error(h, "RepoNotFound")
        if left in self.gated:
            h.send_response(403)
            h.send_header("X-Error-Code", "GatedRepo")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if left not in self.repos:
            return self._error(h, "RepoNotFound")
        if rev not in ("main", self.commits[left]):
            return self._error(h, "RevisionNotFound")
        files = self.repos[left]
        if fname not in files:
            return self._error(h, "EntryNotFound")
        data = files[fname]
        if self.is_lfs(fname):
            etag = hashlib.sha256(data).hexdigest()
        else:
            etag = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        served = bytes(len(data)) if fname in self.corrupt else data
        if fname in self.short:
            served = data[:-10]
        start = 0
        rng = h.headers.get("Range")
        if rng and rng.startswith("bytes="):
            start = int(rng[len("bytes="):].split("-")[0])
        h.send_response(206 if start else 200)
        h.send_header("X-Repo-Commit", self.commits[left])
        h.send_header("ETag", f'"{etag}"')
        if self.is_lfs(fname):
            h.send_header("X-Linked-Etag", f'"{etag}"')
            h.send_header("X-Linked-Size", str(len(data)))
        h.send_header("Content-Length", str(len(served) - start))
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.end_headers()
        if not body:
            return
        part = served[start:]
        cut = self.drop_after.pop(fname, None) if not start else None
        if cut is not None:
            h.wfile.write(part[:cut])
            h.wfile.flush()
            h.close_connection = True
            h.connection.shutdown(2)  # the connection drops mid-file
            return
        step = 16 * 1024
        for i in range(0, len(part), step):
            if self.delay_s:
                time.sleep(self.delay_s)
            try:
                h.wfile.write(part[i:i + step])
                h.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
