"""Keys and clicks a curator spends, counted between decisions (issue #21). No Qt: the review
screen's event filter (`desktop.review.keys.EffortFilter`) feeds it, the controller takes the
counts with each decision and stores them (`workflows.effort.record`)."""

from __future__ import annotations


class EffortCounter:
    """Running counts since the last decision."""

    def __init__(self) -> None:
        self.keys = 0
        self.clicks = 0

    def key(self, n: int = 1) -> None:
        self.keys += n

    def click(self, n: int = 1) -> None:
        self.clicks += n

    def take(self) -> tuple[int, int]:
        """(keys, clicks) since the last take; starts counting again."""
        out = (self.keys, self.clicks)
        self.keys = self.clicks = 0
        return out
