"""One error family for attribute sources, each with a complete one-line message a user can act on."""

from __future__ import annotations


class AttributeSourceError(Exception):
    """Base: anything an attribute source could not do. `retryable` says a retry may help."""

    retryable = False


class OllamaUnreachable(AttributeSourceError):
    def __init__(self, host: str) -> None:
        super().__init__(
            f"cannot reach Ollama at {host}: is it running? Start it with `ollama serve` "
            "(another server: the project's ollama_host setting, $OLLAMA_HOST or --host URL)"
        )
        self.host = host


class ModelNotInstalled(AttributeSourceError):
    def __init__(self, model: str, host: str, installed: list[str] | None = None) -> None:
        have = f" (installed: {', '.join(installed)})" if installed else ""
        super().__init__(
            f"model '{model}' is not installed on the Ollama server at {host}: run `ollama pull {model}`{have}"
        )
        self.model = model


class ProposalTimeout(AttributeSourceError):
    retryable = True

    def __init__(self, class_name: str, model: str, seconds: float) -> None:
        super().__init__(
            f"Ollama ({model}) did not finish the attributes of '{class_name}' within {seconds:g} s; "
            "try a smaller model or a longer timeout"
        )


class OllamaServerError(AttributeSourceError):
    def __init__(self, message: str, status: int, *, context: str = "") -> None:
        where = f" for '{context}'" if context else ""
        said = " ".join(str(message).split())  # one line, whatever the server sent
        said = said if len(said) <= 300 else said[:300] + "..."
        super().__init__(f"Ollama answered HTTP {status}{where}: {said}")
        self.status = status
        self.retryable = status >= 500 or status in (408, 429)


class UnusableReply(AttributeSourceError):
    retryable = True

    def __init__(self, class_name: str, model: str, raw: str, why: str = "no attributes found") -> None:
        snippet = " ".join(raw.split())[:160]
        super().__init__(f"the reply of {model} for '{class_name}' is unusable ({why}): {snippet!r}")
        self.raw = raw


class ReplyTooLarge(AttributeSourceError):
    """The server kept sending past the byte cap (e.g. a stream that never ends a line)."""

    def __init__(self, host: str, bytes_read: int, limit: int, *, context: str = "") -> None:
        where = f" for '{context}'" if context else ""
        super().__init__(
            f"the reply of Ollama at {host}{where} passed {limit:,} bytes without ending; stopped reading "
            "(is this an Ollama server?)"
        )
        self.bytes_read = bytes_read
        self.limit = limit


class NotOllamaReply(AttributeSourceError):
    """HTTP 200, but the body is not the JSON Ollama sends: say what the server actually said."""

    def __init__(self, host: str, said: str, why: str = "not JSON", *, context: str = "") -> None:
        where = f" for '{context}'" if context else ""
        snippet = " ".join(said.split())[:160]
        super().__init__(
            f"the server at {host} answered HTTP 200{where} with {why}: {snippet!r} (is it Ollama?)"
        )
        self.said = said


class AttributeFileError(AttributeSourceError):
    """A malformed attribute file; the message names the file, line and column."""

    def __init__(self, path: str, message: str, line: int | None = None, column: int | None = None) -> None:
        where = path if line is None else f"{path}:{line}" + ("" if column is None else f":{column}")
        super().__init__(f"{where}: {message}")
        self.path, self.line, self.column = path, line, column


class SourceStopped(AttributeSourceError):
    """The caller asked to stop (cancel) while a request was in flight."""

    def __init__(self) -> None:
        super().__init__("stopped on request")
