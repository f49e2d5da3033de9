"""Headline metrics of a run, computed from its ``Result`` (pure functions, no engine state).

Conventions (the report quotes them):
- The start value is the capital put in (``result.meta['capital']``), at bar 0's close: both
  sides pay their entry costs (spot fees and slippage, the hedge's opening trade) inside the
  run, so every return metric counts them. Without a known capital the first equity is used.
- Daily returns: equity sampled at each UTC midnight (the last bar close in each UTC day
  ``(D 00:00, D+1 00:00]``), with the start value as the first point, so the product of
  ``1 + r`` is the whole run's growth. Annualised with 365 days; with bars longer than a day
  there is one point per bar, annualised with ``365 days / bar`` periods a year.
- Sharpe and Sortino use rf = 0; Sortino's downside deviation is ``sqrt(mean(min(r, 0)^2))``
  over all daily returns. Undefined ratios (zero deviation, fewer than two returns) are NaN.
- Max drawdown is on the bar-level equity, a negative fraction; its duration runs from the
  peak before the deepest trough to the first bar back at that peak (or the end), in days.
- CAGR compounds the total return over the time from the first to the last bar close.
- Hedge effectiveness: ``1 - Var(hedged) / Var(unhedged)`` of daily returns; NaN if the
  unhedged variance is 0.
- Funding received / paid: per-bar changes of each leg's ``funding_cum_usd_<j>`` column,
  positive changes summed as received, negative ones as paid (both reported >= 0);
  net = received - paid. Fees and slippage are the final cumulative costs (>= 0).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from perphedge.engine.types import Result

DAYS_PER_YEAR = 365
_DAY_NS = 86_400 * 10**9
SIDES = ("hedged", "unhedged")
SIDE_METRICS = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_days",
    "final_equity",
)
# Every key compute_metrics returns, besides one ``attr_<component>`` per attribution part.
METRIC_KEYS: tuple[str, ...] = (
    *(f"{side}_{name}" for side in SIDES for name in SIDE_METRICS),
    "hedge_effectiveness",
    "funding_received_usd",
    "funding_paid_usd",
    "funding_net_usd",
    "fees_usd",
    "slippage_usd",
    "n_rebalances",
    "n_trades",
    "n_topups",
    "n_withdrawals",
    "n_liquidations",
    "max_margin_ratio",
    "min_liq_distance",
    "mean_leverage",
    "max_leverage",
    "attr_total",
    "equity_change",
)
LEG_COLUMN_PREFIXES = (
    "funding_cum_usd_",
    "margin_ratio_",
    "liq_distance_",
    "leverage_",
)


def close_index(index: pd.DatetimeIndex, bar_ns: int) -> pd.DatetimeIndex:
    """Bar close times (UTC) of bars labelled by their open."""
    idx = pd.DatetimeIndex(index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.as_unit("ns") + pd.Timedelta(bar_ns, unit="ns")


def daily_equity(equity: pd.Series, bar_ns: int) -> pd.Series:
    """Equity at each UTC day's end (last bar close in the day), preceded by the start value."""
    s = pd.Series(np.asarray(equity, dtype=np.float64), index=close_index(equity.index, bar_ns))
    if s.empty:
        return s
    daily = s.resample("1D", closed="right", label="right").last().dropna()
    if daily.index[0] != s.index[0]:
        daily = pd.concat([s.iloc[:1], daily])
    return daily


def daily_returns(equity: pd.Series, bar_ns: int) -> np.ndarray:
    """Simple returns between consecutive UTC day ends (first one from the start value)."""
    d = daily_equity(equity, bar_ns).to_numpy()
    if d.size < 2:
        return np.empty(0)
    return d[1:] / d[:-1] - 1.0


def total_return(equity: np.ndarray) -> float:
    """Final over initial equity, minus one."""
    e = np.asarray(equity, dtype=np.float64)
    return float(e[-1] / e[0] - 1.0) if e.size and e[0] != 0 else math.nan


def cagr(equity: np.ndarray, times_ns: np.ndarray) -> float:
    """Compound annual growth rate from the first to the last timestamp (365-day years)."""
    e = np.asarray(equity, dtype=np.float64)
    if e.size < 2 or e[0] <= 0:
        return math.nan
    years = (int(times_ns[-1]) - int(times_ns[0])) / _DAY_NS / DAYS_PER_YEAR
    if years <= 0:
        return math.nan
    growth = e[-1] / e[0]
    return -1.0 if growth <= 0 else float(growth ** (1.0 / years) - 1.0)


def periods_per_year(bar_ns: int) -> float:
    """Return periods a year of :func:`daily_returns`: 365, or 365 days / bar for longer bars."""
    return DAYS_PER_YEAR * _DAY_NS / max(int(bar_ns), _DAY_NS)


def volatility(returns: np.ndarray, periods: float = DAYS_PER_YEAR) -> float:
    """Annualised standard deviation (ddof 1) of returns, ``periods`` of them a year."""
    r = np.asarray(returns, dtype=np.float64)
    return float(np.std(r, ddof=1) * math.sqrt(periods)) if r.size >= 2 else math.nan


def sharpe(returns: np.ndarray, periods: float = DAYS_PER_YEAR) -> float:
    """Annualised Sharpe ratio of returns, rf = 0; NaN when the deviation is 0."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return math.nan
    sd = np.std(r, ddof=1)
    return float(np.mean(r) / sd * math.sqrt(periods)) if sd > 0 else math.nan


def sortino(returns: np.ndarray, periods: float = DAYS_PER_YEAR) -> float:
    """Annualised Sortino ratio, rf = 0, downside deviation over all periods; NaN if it is 0."""
    r = np.asarray(returns, dtype=np.float64)
    if r.size < 2:
        return math.nan
    dd = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return float(np.mean(r) / dd * math.sqrt(periods)) if dd > 0 else math.nan


def max_drawdown(equity: np.ndarray, times_ns: np.ndarray) -> tuple[float, float]:
    """Deepest drawdown (<= 0) and its duration in days (peak to recovery, or to the end)."""
    e = np.asarray(equity, dtype=np.float64)
    if e.size == 0:
        return math.nan, math.nan
    peaks = np.maximum.accumulate(e)
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(peaks > 0, e / peaks - 1.0, 0.0)
    trough = int(np.argmin(dd))
    depth = float(dd[trough])
    if depth >= 0.0:
        return 0.0, 0.0
    peak_value = peaks[trough]
    peak = int(np.flatnonzero(e[: trough + 1] == peak_value)[0])
    after = np.flatnonzero(e[trough:] >= peak_value)
    end = trough + int(after[0]) if after.size else e.size - 1
    return depth, (int(times_ns[end]) - int(times_ns[peak])) / _DAY_NS


def hedge_effectiveness(hedged: np.ndarray, unhedged: np.ndarray) -> float:
    """``1 - Var(hedged) / Var(unhedged)`` (ddof 1); NaN if the unhedged variance is 0."""
    h = np.asarray(hedged, dtype=np.float64)
    u = np.asarray(unhedged, dtype=np.float64)
    if h.size < 2 or u.size < 2:
        return math.nan
    vu = np.var(u, ddof=1)
    return float(1.0 - np.var(h, ddof=1) / vu) if vu > 0 else math.nan


def from_start(equity: pd.Series, start_value: float | None) -> pd.Series:
    """The curve with its first point replaced by the value put in (entry costs then count)."""
    if start_value is None or equity.empty:
        return equity
    values = equity.to_numpy(dtype=np.float64, copy=True)
    values[0] = float(start_value)
    return pd.Series(values, index=equity.index, name=equity.name)


def side_metrics(
    equity: pd.Series, bar_ns: int, side: str, start_value: float | None = None
) -> dict[str, float]:
    """Return, CAGR, volatility, Sharpe, Sortino, drawdown and final equity of one curve,
    measured from ``start_value`` (the capital) when given."""
    equity = from_start(equity, start_value)
    e = equity.to_numpy(dtype=np.float64)
    t = close_index(equity.index, bar_ns).asi8
    r = daily_returns(equity, bar_ns)
    n = periods_per_year(bar_ns)
    mdd, mdd_days = max_drawdown(e, t)
    return {
        f"{side}_total_return": total_return(e),
        f"{side}_cagr": cagr(e, t),
        f"{side}_volatility": volatility(r, n),
        f"{side}_sharpe": sharpe(r, n),
        f"{side}_sortino": sortino(r, n),
        f"{side}_max_drawdown": mdd,
        f"{side}_max_drawdown_days": mdd_days,
        f"{side}_final_equity": float(e[-1]) if e.size else math.nan,
    }


def leg_columns(ts: pd.DataFrame, prefix: str) -> list[str]:
    """Per-leg columns ``<prefix><j>`` (``leverage_0``, ...), excluding other names."""
    return [c for c in ts.columns if c.startswith(prefix) and c[len(prefix) :].isdigit()]


def funding_split(ts: pd.DataFrame) -> tuple[float, float]:
    """(received, paid) in USD from the per-leg cumulative funding columns, both >= 0."""
    cols = leg_columns(ts, "funding_cum_usd_")
    if not cols:
        return 0.0, 0.0
    cum = ts[cols].to_numpy(dtype=np.float64)
    step = np.diff(cum, axis=0, prepend=0.0)
    return float(step[step > 0].sum()), float(-step[step < 0].sum())


def _final_cost(ts: pd.DataFrame, column: str) -> float:
    """Final value of a cumulative cost column as a non-negative USD amount."""
    if column not in ts.columns or ts.empty:
        return 0.0
    return float(abs(ts[column].iloc[-1]))


def _reduce(ts: pd.DataFrame, prefix: str, how: str, open_only: bool = False) -> float:
    """max/min/mean of the finite per-leg values; ``open_only`` keeps bars with a position."""
    cols = leg_columns(ts, prefix)
    if not cols:
        return math.nan
    v = ts[cols].to_numpy(dtype=np.float64)
    if open_only:
        held = [f"contracts_{c[len(prefix) :]}" for c in cols]
        if all(h in ts.columns for h in held):
            v = np.where(ts[held].to_numpy(dtype=np.float64) != 0.0, v, np.nan)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return math.nan
    return float({"max": np.max, "min": np.min, "mean": np.mean}[how](v))


def event_counts(events: pd.DataFrame, trades: pd.DataFrame) -> dict[str, int]:
    """Counts of rebalances, top-ups, withdrawals and liquidations (events) and ledger trades."""
    kinds = (
        events["kind"].astype(str).value_counts()
        if "kind" in events.columns
        else pd.Series(dtype=int)
    )
    return {
        "n_rebalances": int(kinds.get("rebalance", 0)),
        "n_trades": len(trades),
        "n_topups": int(kinds.get("topup", 0)),
        "n_withdrawals": int(kinds.get("withdraw", 0)),
        "n_liquidations": int(kinds.get("liquidation", 0)),
    }


def compute_metrics(result: Result, bar_ns: int) -> dict[str, float | int]:
    """All metric keys of docs/ARCHITECTURE.md ("Metric keys") for one finished run."""
    ts = result.timeseries
    capital = result.meta.get("capital")
    start = float(capital) if capital is not None else None
    out: dict[str, float | int] = {}
    for side in SIDES:
        out.update(side_metrics(ts[f"equity_{side}"], bar_ns, side, start))
    out["hedge_effectiveness"] = hedge_effectiveness(
        daily_returns(from_start(ts["equity_hedged"], start), bar_ns),
        daily_returns(from_start(ts["equity_unhedged"], start), bar_ns),
    )
    received, paid = funding_split(ts)
    out["funding_received_usd"] = received + 0.0  # + 0.0: no "-0.0" in the outputs
    out["funding_paid_usd"] = paid + 0.0
    out["funding_net_usd"] = received - paid
    out["fees_usd"] = _final_cost(ts, "fees_cum_usd")
    out["slippage_usd"] = _final_cost(ts, "slippage_cum_usd")
    out.update(event_counts(result.events, result.trades))
    out["max_margin_ratio"] = _reduce(ts, "margin_ratio_", "max")
    out["min_liq_distance"] = _reduce(ts, "liq_distance_", "min")
    out["mean_leverage"] = _reduce(ts, "leverage_", "mean", open_only=True)
    out["max_leverage"] = _reduce(ts, "leverage_", "max")
    attribution = dict(result.attribution)
    for name, value in attribution.items():
        if name != "total":
            out[f"attr_{name}"] = float(value)
    out["attr_total"] = float(
        attribution.get("total", sum(v for k, v in attribution.items() if k != "total"))
    )
    eq = from_start(ts["equity_hedged"], start).to_numpy(dtype=np.float64)
    out["equity_change"] = float(eq[-1] - eq[0]) if eq.size else math.nan
    return out
