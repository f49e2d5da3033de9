"""How closely a hedge tracks what it hedges: the figures a cross hedge is judged by.

A hedge of an altcoin basket with the coins' own perpetuals leaves almost nothing but funding and
costs; a cross hedge (the same basket short ETH) leaves the basis between ETH and the basket.
These figures separate the two:

- ``tracking_error``: annualised standard deviation (ddof 1, 365 days) of the daily **price
  residual**, the hedged equity's daily change less the funding received and plus the fees and
  slippage paid that day, over the previous day's hedged equity. Funding and costs are left out
  so that it measures basis risk alone.
- ``worst_day``: the lowest daily return of the hedged equity (UTC days, everything included),
  with ``worst_day_unhedged`` beside it.
- ``hedge_effectiveness``: ``1 - Var(hedged) / Var(unhedged)`` of daily returns, as in the
  metrics.

Daily points are UTC day ends, starting from the capital, as in :mod:`perphedge.metrics`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from perphedge.engine.types import Result
from perphedge.metrics import daily_equity, daily_returns, from_start, hedge_effectiveness

DAYS_PER_YEAR = 365.0


def _daily_cum(ts: pd.DataFrame, column: str, bar_ns: int) -> np.ndarray:
    """A cumulative column at each day end, preceded by 0 at the start."""
    return from_start(ts[column], 0.0).pipe(daily_equity, bar_ns).to_numpy(dtype=np.float64)


def price_residuals(result: Result, bar_ns: int) -> np.ndarray:
    """Daily hedged equity change without funding, fees and slippage, over the day's start."""
    ts = result.timeseries
    capital = result.meta.get("capital")
    start = float(capital) if capital is not None else None
    eq = daily_equity(from_start(ts["equity_hedged"], start), bar_ns).to_numpy(dtype=np.float64)
    if eq.size < 2:
        return np.empty(0)
    fund = _daily_cum(ts, "funding_cum_usd", bar_ns)
    costs = _daily_cum(ts, "fees_cum_usd", bar_ns) + _daily_cum(ts, "slippage_cum_usd", bar_ns)
    change = np.diff(eq) - np.diff(fund) + np.diff(costs)
    return change / eq[:-1]


def hedge_quality(result: Result, bar_ns: int) -> dict[str, float]:
    """``tracking_error``, ``worst_day``, ``worst_day_unhedged`` and ``hedge_effectiveness``."""
    ts = result.timeseries
    capital = result.meta.get("capital")
    start = float(capital) if capital is not None else None
    hedged = daily_returns(from_start(ts["equity_hedged"], start), bar_ns)
    unhedged = daily_returns(from_start(ts["equity_unhedged"], start), bar_ns)
    resid = price_residuals(result, bar_ns)
    te = float(np.std(resid, ddof=1) * math.sqrt(DAYS_PER_YEAR)) if resid.size > 1 else math.nan
    return {
        "tracking_error": te,
        "worst_day": float(hedged.min()) if hedged.size else math.nan,
        "worst_day_unhedged": float(unhedged.min()) if unhedged.size else math.nan,
        "hedge_effectiveness": hedge_effectiveness(hedged, unhedged),
    }
