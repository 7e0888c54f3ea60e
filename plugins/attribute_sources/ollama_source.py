"""Attribute proposals from a local LLM served by Ollama, through the official `ollama` client.

Structured outputs (`format=` a JSON schema) are requested, and the reply is still parsed
defensively (see `parsing`). Transport failures become one `AttributeSourceError` family with
messages that say what to do: start the server, pull the model, wait longer.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from plugins.attribute_sources import prompting
from plugins.attribute_sources.errors import (
    AttributeSourceError,
    ModelNotInstalled,
    NotOllamaReply,
    OllamaServerError,
    OllamaUnreachable,
    ProposalTimeout,
    ReplyTooLarge,
    SourceStopped,
    UnusableReply,
)
from plugins.attribute_sources.parsing import parse_reply

DEFAULT_HOST = "http://127.0.0.1:11434"
MAX_REPLY_BYTES = 4 * 1024 * 1024  # raw bytes per request; a 512-token streamed reply is ~150 KB


@dataclass(frozen=True)
class Proposal:
    """What the model proposed for one class, with the provenance to store beside it."""

    attributes: tuple[str, ...]
    model: str
    prompt_version: str
    raw: str
    warnings: tuple[str, ...] = ()
    found_as: str = ""
    attempts: int = 1
    seconds: float = 0.0


@dataclass(frozen=True)
class ModelInfo:
    name: str
    size: int | None = None
    family: str | None = None
    parameter_size: str | None = None
    quantization: str | None = None
    modified_at: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _canonical(model: str) -> str:
    """Ollama names without a tag mean `:latest`."""
    model = model.strip()
    return model if ":" in model.rsplit("/", 1)[-1] else f"{model}:latest"


class OllamaSource:
    """Proposes visual attributes for class names. Thread-safe: one instance serves a pool.

    `timeout` is the per-class budget in seconds (a stalled connection or a reply still streaming
    when it runs out both count); `retries` extra attempts are made after a timeout, a 5xx or an
    unusable reply, waiting `retry_backoff * attempt` seconds in between.
    """

    name = "ollama"

    def __init__(
        self,
        host: str | None = None,
        *,
        model: str | None = None,
        timeout: float = 120.0,
        retries: int = 2,
        retry_backoff: float = 1.0,
        stream: bool = True,
        options: dict[str, Any] | None = None,
        max_reply_chars: int = 20_000,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self.host = (host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST).rstrip("/")
        self.model = model
        self.timeout = float(timeout)
        if not math.isfinite(self.timeout) or self.timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self.retries = max(0, int(retries))
        self.retry_backoff = float(retry_backoff)
        self.stream = stream
        self.options = {"temperature": 0.2, "num_predict": 512} | dict(options or {})
        self.max_reply_chars = max_reply_chars
        self.max_reply_bytes = int(max_reply_bytes)
        import httpx  # deferred: listing file formats must not pay for the HTTP stack
        import ollama

        from plugins.attribute_sources.transport import guarded_transport

        self._client = ollama.Client(
            host=self.host,
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
            transport=guarded_transport(),
        )

    def _limits(
        self, *, class_name: str = "", model: str = "", stop: Callable[[], bool] | None = None
    ) -> Any:
        """This request's total deadline, raw byte cap and stop check (see `transport`)."""
        from plugins.attribute_sources.transport import Limits, limited

        def on_deadline() -> AttributeSourceError:
            if class_name:
                return ProposalTimeout(class_name, model or "-", self.timeout)
            return AttributeSourceError(f"Ollama at {self.host} did not answer within {self.timeout:g} s")

        return limited(
            Limits(
                deadline=time.monotonic() + self.timeout,
                max_bytes=self.max_reply_bytes,
                on_deadline=on_deadline,
                on_too_large=lambda n: ReplyTooLarge(self.host, n, self.max_reply_bytes, context=class_name),
                stop=stop,
                on_stop=SourceStopped,
            )
        )

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OllamaSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- error mapping -------------------------------------------------------------------------
    def _translate(
        self, err: BaseException, *, model: str = "", class_name: str = ""
    ) -> AttributeSourceError:
        import httpx
        import ollama
        import pydantic

        if isinstance(err, AttributeSourceError):
            return err
        if isinstance(err, (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout)):
            return OllamaUnreachable(self.host)
        if isinstance(err, ollama.ResponseError):
            msg = str(err.error)
            if err.status_code == 404 and "not found" in msg.lower() and model:
                return ModelNotInstalled(model, self.host)
            return OllamaServerError(msg, err.status_code if err.status_code > 0 else 500, context=class_name)
        if isinstance(err, httpx.TimeoutException):
            if not class_name:
                return AttributeSourceError(f"Ollama at {self.host} did not answer within {self.timeout:g} s")
            return ProposalTimeout(class_name, model or "-", self.timeout)
        if isinstance(err, json.JSONDecodeError):
            return NotOllamaReply(self.host, err.doc, context=class_name)
        if isinstance(err, UnicodeDecodeError):
            said = err.object[max(0, err.start - 60) : err.end + 60]
            said = said.decode("utf-8", "backslashreplace") if isinstance(said, bytes) else str(said)
            return NotOllamaReply(self.host, said, "text that is not UTF-8", context=class_name)
        if isinstance(err, pydantic.ValidationError):
            said = next((e.get("input") for e in err.errors()), "")
            return NotOllamaReply(
                self.host,
                json.dumps(said, default=str)[:400],
                "JSON that is not an Ollama reply",
                context=class_name,
            )
        if isinstance(err, (httpx.TransportError, ValueError)):
            return OllamaServerError(f"broken reply ({type(err).__name__}: {err})", 502, context=class_name)
        return AttributeSourceError(f"Ollama request failed: {type(err).__name__}: {err}")

    # -- models ----------------------------------------------------------------------------------
    def list_models(self, *, stop: Callable[[], bool] | None = None) -> list[ModelInfo]:
        """Models installed on the server (`/api/tags`), sorted by name."""
        try:
            with self._limits(stop=stop):
                resp = self._client.list()
        except Exception as err:  # noqa: BLE001 - translated into the source error family
            raise self._translate(err) from err
        out = []
        for m in resp.models:
            d = m.details.model_dump() if m.details is not None else {}
            out.append(
                ModelInfo(
                    name=m.model or "",
                    size=int(m.size) if m.size is not None else None,
                    family=d.get("family"),
                    parameter_size=d.get("parameter_size"),
                    quantization=d.get("quantization_level"),
                    modified_at=m.modified_at.isoformat() if m.modified_at else None,
                    details=d,
                )
            )
        return sorted(out, key=lambda m: m.name)

    def ensure_model(self, model: str, *, stop: Callable[[], bool] | None = None) -> str:
        """Check `model` is installed (fail fast, once, before hundreds of requests); returns
        the installed name it matched."""
        installed = [m.name for m in self.list_models(stop=stop)]
        wanted = _canonical(model)
        for name in installed:
            if name == model or _canonical(name) == wanted:
                return name
        raise ModelNotInstalled(model, self.host, installed)

    # -- proposals ---------------------------------------------------------------------------------
    def propose(
        self,
        class_name: str,
        *,
        other_classes: Sequence[str] = (),
        domain_hint: str = "",
        n: int = 6,
        model: str | None = None,
        stop: Callable[[], bool] | None = None,
        messages: list[dict[str, str]] | None = None,
        prompt_version: str | None = None,
    ) -> Proposal:
        """Ask for `n` visual attributes of `class_name`; retries transient failures.

        `messages` (with its `prompt_version`) replaces the descriptor prompt, e.g. the confusion
        prompt (`prompting.build_contrast_messages`); the reply is parsed the same way."""
        model = model or self.model
        if not model:
            raise AttributeSourceError("no Ollama model chosen (set `ollama_model` or pass --model)")
        if messages is None:
            messages = prompting.build_messages(
                class_name, other_classes=other_classes, domain_hint=domain_hint, n=n
            )
            prompt_version = prompting.prompt_version()
        schema = prompting.response_schema(n)
        version = prompt_version or "custom"
        t0 = time.monotonic()
        for attempt in range(1, self.retries + 2):
            if stop is not None and stop():
                raise SourceStopped()
            try:
                options = dict(self.options)
                if attempt > 1:  # a different sample on retry
                    options["temperature"] = min(
                        1.0, float(options.get("temperature", 0.2)) + 0.3 * (attempt - 1)
                    )
                raw = self._chat(model, messages, schema, options, class_name, stop)
                parsed = parse_reply(raw, class_name, n=n)
                if not parsed.attributes:
                    raise UnusableReply(class_name, model, raw)
                return Proposal(
                    tuple(parsed.attributes),
                    model,
                    version,
                    raw,
                    tuple(parsed.warnings),
                    parsed.found_as,
                    attempt,
                    time.monotonic() - t0,
                )
            except SourceStopped:
                raise
            except Exception as err:  # noqa: BLE001 - translated, then retried or raised
                e = self._translate(err, model=model, class_name=class_name)
                if not e.retryable or attempt > self.retries:
                    raise e from err
            if _sleep(self.retry_backoff * attempt, stop):
                raise SourceStopped()
        raise AssertionError("unreachable")  # pragma: no cover

    def _chat(
        self,
        model: str,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        options: dict[str, Any],
        class_name: str,
        stop: Callable[[], bool] | None,
    ) -> str:
        with self._limits(class_name=class_name, model=model, stop=stop) as limits:
            if not self.stream:
                resp = self._client.chat(
                    model=model, messages=messages, format=schema, options=options, stream=False
                )
                return resp.message.content or ""
            parts: list[str] = []
            size = 0
            chunks = self._client.chat(
                model=model, messages=messages, format=schema, options=options, stream=True
            )
            try:
                for chunk in chunks:
                    piece = chunk.message.content or ""
                    parts.append(piece)
                    size += len(piece)
                    if chunk.done or size >= self.max_reply_chars:
                        break
                    limits.check()  # also between lines that arrive in time
            finally:
                chunks.close()
            return "".join(parts)


def _sleep(seconds: float, stop: Callable[[], bool] | None) -> bool:
    """Sleep in short steps; True when asked to stop."""
    end = time.monotonic() + seconds
    ev = threading.Event()
    while True:
        if stop is not None and stop():
            return True
        left = end - time.monotonic()
        if left <= 0:
            return False
        ev.wait(min(left, 0.05))
