"""A template hedge policy: hedge less while the basket is calm, fully while it is volatile.

Copy this file to a new name (the file name is the policy name), edit it, and point a config at
it::

    policy:
      name: my_policy
      params:
        window: 7d
        calm_vol: 0.01

perphedge looks for ``policy.name`` in ``strategies/`` next to the config, then in the project's
``strategies/`` (the folder holding ``configs/``), then among its built-in policies (``fixed``,
``rolling_beta``, ``funding_aware``, ``scheduled``); a file here with a built-in's name
replaces the built-in, and the run's notes say so.

Rules a policy must follow (every run checks the result):
- ``targets(ctx, *, ...)`` takes the context and keyword-only parameters with defaults; the
  parameters come from the config's ``policy.params`` and unknown names are refused.
- It returns one target hedge ratio per bar, shape ``(T,)`` (split over the hedge legs by
  their weights) or ``(T, J)`` (one column per leg). ``NaN`` keeps the current hedge.
- Row ``t`` may use rows ``0..t`` of the context only: the decision at a bar's close cannot see
  later bars. Rolling windows that end at ``t`` are fine; ``shift(-1)`` or a centred window is
  look-ahead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perphedge.policy import PolicyContext, duration_bars


def targets(
    ctx: PolicyContext,
    *,
    window: str = "7d",
    calm_vol: float = 0.01,
    calm_ratio: float = 0.5,
) -> np.ndarray:
    """``calm_ratio`` of the base ratio while the basket's trailing volatility per bar is below
    ``calm_vol``, the full base ratio otherwise (and during the warm-up)."""
    # the trailing window as a whole number of bars (an error names the parameter otherwise)
    n = duration_bars(window, ctx.bar_ns, "window")
    # ctx.basket_returns[t] is the basket's return over bar t; row 0 is NaN
    returns = pd.Series(ctx.basket_returns)
    # rolling(...) ends at row t, so row t sees rows t-n+1 .. t only: no look-ahead
    vol = returns.rolling(n, min_periods=n).std().to_numpy()
    calm = vol < calm_vol  # NaN during the warm-up compares False: hedge fully
    return np.where(calm, calm_ratio, 1.0) * ctx.base_ratio
