"""One colour per attribute position, shared by the overlay, the legend and the comparison."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

# Distinct, colour-blind-friendly hues (Okabe-Ito + Tableau), readable over photos.
_HEX = (
    "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7",
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
)


def attribute_colour(position: int) -> QColor:
    """Colour of the attribute at `position` in its class's list (stable across screens)."""
    return QColor(_HEX[position % len(_HEX)])


def colour_array(n: int) -> np.ndarray:
    """`[n, 3]` RGB rows of the first `n` attribute colours (for the heat map)."""
    rows = [attribute_colour(i) for i in range(n)]
    return np.asarray([[c.red(), c.green(), c.blue()] for c in rows], dtype=np.float64).reshape(n, 3)
