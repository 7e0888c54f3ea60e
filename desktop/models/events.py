"""A minimal event emitter for the screen models: no Qt, so the models can be tested on their own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """What changed (`type`), on which model (`source`) and the new `value`."""

    type: str
    source: Any
    value: Any = None


@dataclass
class EventEmitter:
    """`connect(callback)`; `emit(value)` calls each callback with an `Event`, in connect order."""

    source: Any
    type: str
    _callbacks: list[Callable[[Event], Any]] = field(default_factory=list)
    blocked: bool = False  # True: emit() does nothing (quiet resets)

    def connect(self, callback: Callable[[Event], Any]) -> Callable[[Event], Any]:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[[Event], Any] | None = None) -> None:
        if callback is None:
            self._callbacks.clear()
        elif callback in self._callbacks:
            self._callbacks.remove(callback)

    def emit(self, value: Any = None) -> None:
        if self.blocked:
            return
        event = Event(self.type, self.source, value)
        for cb in list(self._callbacks):
            cb(event)


class EmitterGroup:
    """`model.events.<name>`: one emitter per kind of change."""

    def __init__(self, source: Any, *names: str) -> None:
        for name in names:
            setattr(self, name, EventEmitter(source, name))
