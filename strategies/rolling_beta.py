"""Rolling beta: the minimum-variance hedge ratio of the basket against each hedge coin.

At each decision the ratio of leg ``j`` is ``base_ratio * beta_j``, where
``beta_j = rho * sigma_basket / sigma_coin = Cov(r_basket, r_coin) / Var(r_coin)`` over the last
``lookback`` of returns sampled every ``sample``, then clipped to ``[min_ratio, max_ratio]`` and
multiplied by the leg's weight (each leg is regressed on its own coin; with one leg that is the
textbook minimum-variance ratio).

Parameters:
- ``lookback`` (duration, default ``30d``): length of the estimation window; a whole multiple
  of ``sample``, at least two samples.
- ``sample`` (duration or ``bar``, default ``1d``): return frequency. Sample points are the bar
  closes that fall on the period aligned to the UTC epoch (``1d``: 00:00 UTC closes; on weekly
  bars, which open on Mondays, to the bar grid); ``bar`` uses every bar. Between sample points the last estimate is held.
- ``min_ratio`` / ``max_ratio`` (defaults 0 and 2): clip of the final ratio (before weights).

Causality: the estimate at bar ``t`` uses sample points with closes at or before bar ``t``'s
close only. Until a full window of returns exists the policy returns ``base_ratio``; if the coin's
return variance over a window is zero, the previous estimate is kept (``base_ratio`` before any).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perphedge.errors import StrategyError
from perphedge.policy import duration_ns


def targets(
    ctx,
    *,
    lookback: str = "30d",
    sample: str = "1d",
    min_ratio: float = 0.0,
    max_ratio: float = 2.0,
) -> np.ndarray:
    """Minimum-variance ratio per leg, times base_ratio, clipped, split by leg weights."""
    if not 0.0 <= min_ratio <= max_ratio:
        raise StrategyError(
            "policy.params.min_ratio",
            f"need 0 <= min_ratio <= max_ratio, got {min_ratio}, {max_ratio}",
        )
    bar = ctx.bar_ns
    sample_ns = bar if sample == "bar" else duration_ns(sample, "sample")
    if sample_ns % bar:
        raise StrategyError("policy.params.sample", f"{sample} is not a whole number of bars")
    look_ns = duration_ns(lookback, "lookback")
    if look_ns % sample_ns or look_ns // sample_ns < 2:
        raise StrategyError(
            "policy.params.lookback",
            f"{lookback} must be a whole multiple of sample ({sample}) and at least two samples",
        )
    n = look_ns // sample_ns
    close_ns = ctx.index.as_unit("ns").asi8 + bar
    # aligned to the bar grid's phase: the epoch, or Monday for weekly bars (row 0 only)
    phase = int(close_ns[0] % bar) if close_ns.size else 0
    rows = np.flatnonzero((close_ns - phase) % sample_ns == 0)
    n_bars, n_legs = ctx.n_bars, ctx.n_legs
    ratio = np.full((n_bars, n_legs), np.nan)
    if rows.size >= 2:
        basket = ctx.basket_value[rows]
        r_basket = pd.Series(basket[1:] / basket[:-1] - 1.0)
        coin = ctx.hedge_price[rows]
        for j in range(n_legs):
            r_coin = pd.Series(coin[1:, j] / coin[:-1, j] - 1.0)
            cov = r_basket.rolling(n, min_periods=n).cov(r_coin).to_numpy()
            var = r_coin.rolling(n, min_periods=n).var().to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                beta = np.where(var > 0, cov / var, np.nan)
            ratio[rows[1:], j] = np.clip(beta * ctx.base_ratio, min_ratio, max_ratio)
    held = pd.DataFrame(ratio).ffill().fillna(ctx.base_ratio).to_numpy()  # ffill is causal
    return held * ctx.leg_weights[None, :]
