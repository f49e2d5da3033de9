"""Funding-aware: drop (or cut) the hedge while trailing funding makes the shorts pay.

Positive funding means longs pay shorts; shorts pay when the rate is negative. At each decision
the policy sums each leg's funding rates over the trailing ``window`` (bars ending with the
decision bar) and annualises the sum: ``annualised = sum * 365d / window``. This does not depend
on the funding interval (8h, 4h or 1h), so an interval change mid-run is handled. If the shorts
pay more than ``threshold`` a year (``-annualised > threshold``), the leg's ratio is
``reduced_ratio``; otherwise it is ``base_ratio``. Each leg decides on its own funding and its
ratio is multiplied by the leg's weight.

Parameters:
- ``window`` (duration, default ``3d``): trailing window, a whole number of bars.
- ``threshold`` (float, default 0.05): annualised fraction paid by shorts that triggers the
  cut (0.05 = shorts paying more than 5 % a year).
- ``reduced_ratio`` (float >= 0, default 0.0): ratio while the cut is on.

Causality: bar ``t`` uses the funding events of bars ``t - n + 1 .. t`` only. Until a full window
of bars exists the policy returns ``base_ratio``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perphedge.errors import StrategyError
from perphedge.policy import duration_bars

_YEAR_NS = 365 * 86_400 * 10**9


def targets(
    ctx, *, window: str = "3d", threshold: float = 0.05, reduced_ratio: float = 0.0
) -> np.ndarray:
    """base_ratio, or reduced_ratio while trailing annualised funding paid by shorts > threshold."""
    if reduced_ratio < 0:
        raise StrategyError("policy.params.reduced_ratio", f"must be >= 0, got {reduced_ratio}")
    n = duration_bars(window, ctx.bar_ns, "window")
    rates = pd.DataFrame(np.nan_to_num(ctx.funding_rate, nan=0.0))
    trailing = rates.rolling(n, min_periods=n).sum().to_numpy()
    annualised = trailing * (_YEAR_NS / (n * ctx.bar_ns))
    cut = np.nan_to_num(-annualised, nan=-np.inf) > threshold  # warm-up rows: no cut
    ratio = np.where(cut, reduced_ratio, ctx.base_ratio)
    return ratio * ctx.leg_weights[None, :]
