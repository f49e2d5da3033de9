"""Fixed ratio: hedge ``hedge.ratio`` of the basket's dollar value at every decision.

No parameters. The ratio is split over the hedge legs by their weights. This is the guides'
"short as much as you hold" rule when the ratio is 1.
"""

from __future__ import annotations

import numpy as np


def targets(ctx) -> np.ndarray:
    """The config's base ratio on every bar."""
    return np.full(ctx.n_bars, ctx.base_ratio, dtype=np.float64)
