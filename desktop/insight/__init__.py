"""The Insight screen: where the labels stand, in pictures (QPainter charts over workflows.stats)."""
