"""The review screen's state: the queue, the position in it, the session's undo stack, and which
class's evidence is shown and compared. No Qt, no project: `ReviewController` fills it from the
project and the view mirrors its events."""

from __future__ import annotations

from desktop.models.events import EmitterGroup

QUEUE_SOURCES = ("queue", "selection")
# review queue orders the screen offers: key -> label (keys are workflows.review.QUEUE_ORDERS names)
QUEUE_ORDERS: dict[str, str] = {
    "lowest_confidence": "least confident first",
    "highest_confidence": "most confident first",
    "audit_sample": "audit sample (random)",  # workflows.vouch: the newest audit draw, undecided first
}


class ReviewModel:
    """Where the curator is.

    Events (`model.events.<name>`, each callback gets an `Event`):
    `queue` (value `(pos, length)`) when the queue or the position changes; `current` (value image
    id or None) when another image becomes current; `shown` (value `(shown_class, compare_class)`)
    when the evidence to show changes; `decided` (value the undo stack's length).
    """

    def __init__(self) -> None:
        self.events = EmitterGroup(self, "queue", "current", "shown", "decided")
        self.queue: list[int] = []
        self.source = "queue"
        self.order = "lowest_confidence"
        self.pos = -1
        self.shown_class: int | None = None
        self.compare_class: int | None = None
        self.auto_advance = True
        self.decided: list[int] = []  # images decided in this session, newest last (undo order)

    # -- reading ---------------------------------------------------------------------------------
    @property
    def current(self) -> int | None:
        return self.queue[self.pos] if 0 <= self.pos < len(self.queue) else None

    @property
    def has_next(self) -> bool:
        return self.pos + 1 < len(self.queue)

    @property
    def has_previous(self) -> bool:
        return self.pos > 0

    def next_id(self) -> int | None:
        return self.queue[self.pos + 1] if self.has_next else None

    def previous_id(self) -> int | None:
        return self.queue[self.pos - 1] if self.has_previous else None

    def position_text(self) -> str:
        if not self.queue:
            return "queue empty"
        return f"{self.pos + 1} / {len(self.queue)} in {'selection' if self.source == 'selection' else 'queue'}"

    # -- changing --------------------------------------------------------------------------------
    def reset(self) -> None:
        self.queue, self.pos, self.decided = [], -1, []
        self.shown_class = self.compare_class = None
        self.events.queue.emit((-1, 0))
        self.events.current.emit(None)
        self.events.decided.emit(0)

    def set_queue(self, ids: list[int], source: str = "queue", keep: int | None = None) -> int | None:
        """Replace the queue; the image to show is `keep` when given (put first in a review queue that
        lacks it), else the first. Returns that image id (None: empty queue)."""
        if source not in QUEUE_SOURCES:
            raise ValueError(f"unknown queue source {source!r}")
        self.queue, self.source = list(dict.fromkeys(ids)), source
        if keep is not None and keep not in self.queue and source == "queue":
            self.queue.insert(0, keep)
        target = keep if keep in self.queue else (self.queue[0] if self.queue else None)
        if target is None:
            self.pos = -1
            self.events.queue.emit((-1, 0))
            self.events.current.emit(None)
            return None
        self.go_to(target)
        return target

    def follow_selection(self, ids: list[int], current: int | None) -> None:
        """The browser selection became the queue (the current image stays where it is)."""
        self.queue, self.source = list(dict.fromkeys(ids)), "selection"
        self.pos = self.queue.index(current) if current in self.queue else -1
        self.events.queue.emit((self.pos, len(self.queue)))

    def go_to(self, image_id: int) -> None:
        """Make `image_id` current (inserted after the current place when not queued)."""
        if image_id not in self.queue:
            self.queue.insert(self.pos + 1 if self.pos >= 0 else 0, image_id)
        changed = self.current != image_id
        self.pos = self.queue.index(image_id)
        self.events.queue.emit((self.pos, len(self.queue)))
        if changed:
            self.events.current.emit(image_id)

    def show(self, shown: int | None, compare: int | None = None) -> None:
        """Which class's evidence is shown, and which class it is compared with."""
        self.shown_class, self.compare_class = shown, compare
        self.events.shown.emit((shown, compare))

    def show_class(self, class_id: int | None) -> None:
        self.show(class_id, self.compare_class)

    def compare_with(self, class_id: int | None) -> None:
        self.show(self.shown_class, class_id)

    # -- undo stack -------------------------------------------------------------------------------
    def record_decided(self, ids: list[int]) -> None:
        self.decided.extend(ids)
        self.events.decided.emit(len(self.decided))

    def undo_target(self) -> int | None:
        """The image the next undo is for: the newest decided one, else the current image."""
        return self.decided[-1] if self.decided else self.current

    def undone(self, image_id: int) -> None:
        if self.decided and self.decided[-1] == image_id:
            self.decided.pop()
            self.events.decided.emit(len(self.decided))
