"""Scheduled: hedge only inside given date windows (the guides' "temporary insurance").

Parameters:
- ``windows`` (required): list of ``[start, end]`` pairs of UTC dates or datetimes
  (``"2024-03-01"``, ``"2024-03-01 12:00"``; naive means UTC). A window covers ``[start, end)``.
- ``ratio`` (float, default: the config's ``hedge.ratio``): the ratio inside the windows.

The decision at the close of bar ``t`` hedges when that close time lies in a window, so the
hedge is opened at the first bar close at or after ``start`` and closed at the first bar close
at or after ``end``. Outside every window the target is 0. Only the bar's own time is used.
"""

from __future__ import annotations

import numpy as np

from perphedge.errors import StrategyError
from perphedge.policy import to_utc_timestamp


def targets(ctx, *, windows: list, ratio: float | None = None) -> np.ndarray:
    """``ratio`` (default base_ratio) while the bar close is inside a window, else 0."""
    inside_ratio = ctx.base_ratio if ratio is None else float(ratio)
    if inside_ratio < 0:
        raise StrategyError("policy.params.ratio", f"must be >= 0, got {ratio}")
    close_ns = ctx.close_times.as_unit("ns").asi8
    inside = np.zeros(ctx.n_bars, dtype=bool)
    for i, pair in enumerate(windows):
        path = f"windows[{i}]"
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise StrategyError(f"policy.params.{path}", f"expected [start, end], got {pair!r}")
        start = to_utc_timestamp(pair[0], path)
        end = to_utc_timestamp(pair[1], path)
        if not start < end:
            raise StrategyError(f"policy.params.{path}", f"start {start} is not before end {end}")
        inside |= (close_ns >= start.as_unit("ns").value) & (close_ns < end.as_unit("ns").value)
    return np.where(inside, inside_ratio, 0.0)
