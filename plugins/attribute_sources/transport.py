"""Limits every HTTP request to the LLM server enforces at the socket, whatever the framing.

The `ollama` client splits a streamed reply into lines before anyone sees it, and httpx's read
timeout restarts with every received byte, so a server that never sends a newline (or sends one
byte a second) grew memory without bound and ignored the timeout. Here the client's connection
pool gets a network backend whose reads check, on the thread that makes the request:

- a total deadline for the request (not per read),
- a cap on the raw bytes read (headers, framing and body together),
- a stop callback, polled every `POLL_S` while the server is silent (Ctrl+C, Cancel).

The limits are per thread (`limited(...)`), so one client serves a pool of worker threads.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

POLL_S = 0.1  # how often a silent read looks at the stop callback and the deadline


@dataclass
class Limits:
    """What one request may take. The callbacks build the exception to raise (the caller's
    error family, with its class name and model)."""

    deadline: float  # time.monotonic() value
    max_bytes: int
    on_deadline: Callable[[], BaseException]
    on_too_large: Callable[[int], BaseException]
    stop: Callable[[], bool] | None = None
    on_stop: Callable[[], BaseException] | None = None
    bytes_read: int = 0

    def check(self) -> None:
        if self.stop is not None and self.on_stop is not None and self.stop():
            raise self.on_stop()
        if time.monotonic() >= self.deadline:
            raise self.on_deadline()


_local = threading.local()


def current() -> Limits | None:
    return getattr(_local, "limits", None)


@contextlib.contextmanager
def limited(limits: Limits) -> Iterator[Limits]:
    """Apply `limits` to the requests this thread makes inside the block."""
    previous = current()
    _local.limits = limits
    try:
        yield limits
    finally:
        _local.limits = previous


class _GuardedStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        lim = current()
        if lim is None:
            return self._inner.read(max_bytes, timeout)
        started = time.monotonic()
        while True:
            lim.check()
            now = time.monotonic()
            wait = min(POLL_S, max(0.0, lim.deadline - now))
            if timeout is not None:
                if now - started >= timeout:
                    raise httpcore.ReadTimeout("timed out")
                wait = min(wait, timeout - (now - started))
            try:
                # a socket read that times out consumed nothing: reading again is safe
                data = self._inner.read(max_bytes, max(wait, 0.001))
            except httpcore.ReadTimeout:
                continue
            lim.bytes_read += len(data)
            if lim.bytes_read > lim.max_bytes:
                raise lim.on_too_large(lim.bytes_read)
            return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        lim = current()
        if lim is not None:
            lim.check()
            left = max(0.001, lim.deadline - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None):
        return _GuardedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        lim = current()
        if lim is not None:
            lim.check()
            left = max(0.001, lim.deadline - time.monotonic())
            timeout = left if timeout is None else min(timeout, left)
        return _GuardedStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        return _GuardedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def guarded_transport() -> httpx.HTTPTransport:
    """An httpx transport whose connections obey the calling thread's `Limits`.

    httpx does not take a network backend, so the one of its connection pool is wrapped (the
    `ollama` client passes `transport=` through to `httpx.Client`)."""
    transport = httpx.HTTPTransport()
    pool = transport._pool
    if not isinstance(pool, httpcore.ConnectionPool):  # pragma: no cover - a proxy in between
        return transport
    pool._network_backend = _GuardedBackend(pool._network_backend)
    return transport
