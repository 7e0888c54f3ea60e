"""Evidence off the GUI thread: one background thread, the newest request wins.

`workflows.evidence.image_evidence` may read the feature cache, calibrate presence or load the
model on a cache miss, so it never runs on the GUI thread. Results come back through a Qt signal
(queued into the GUI thread); answers to requests that were superseded are dropped by the caller
comparing keys. A small cache keeps the evidence of images already seen (going back is instant).
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

CACHE_SIZE = 64


class EvidenceLoader(QObject):
    """`request(key, fn)`: run `fn()` in the background; `loaded(key, result)` or
    `failed(key, exception)` follow in the GUI thread. Cached results answer at once."""

    loaded = Signal(object, object)
    failed = Signal(object, object)

    def __init__(self) -> None:
        # No Qt parent, on purpose: a parent would destroy the C++ object while the worker thread
        # may be emitting on it (a segfault). Python owns it; the queued job's bound method keeps
        # it alive until its answer is emitted.
        super().__init__()
        self._pool: ThreadPoolExecutor | None = None
        self._cache: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()
        self.latest: Hashable | None = None

    def request(self, key: Hashable, fn: Callable[[], Any]) -> bool:
        """Ask for `key`; returns True when answered from the cache (signal already emitted)."""
        self.latest = key
        if key in self._cache:
            self._cache.move_to_end(key)
            self.loaded.emit(key, self._cache[key])
            return True
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence")
        self._pool.submit(self._run, key, fn)
        return False

    def _run(self, key: Hashable, fn: Callable[[], Any]) -> None:
        if key != self.latest:  # superseded while queued: skip the work
            return
        try:
            result = fn()
        except BaseException as err:  # noqa: BLE001 - delivered to the GUI thread
            self.failed.emit(key, err)
            return
        self.loaded.emit(key, result)

    def remember(self, key: Hashable, result: Any) -> None:
        self._cache[key] = result
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def clear(self) -> None:
        self._cache.clear()
        self.latest = None

    def shutdown(self) -> None:
        """Drop queued requests; a running one finishes in the background (its answer is ignored)."""
        self.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


def evidence_failure(err: BaseException) -> tuple[str, bool]:
    """What an evidence panel says when loading failed, and whether it is a bug to report
    (one policy for Review and Audit: a user's problem is a line, a bug opens the bug dialog)."""
    from workflows.errors import is_user_error

    if is_user_error(err):
        return f"no evidence: {err}", False
    return "no evidence (error)", True
