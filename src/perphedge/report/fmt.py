"""Number formatting and metric labels shared by the terminal table, the HTML pages and charts.

One place decides how a metric key is shown (percent, USD, ratio, count, days), so the terminal
summary, report.html, compare and the sweep report all print the same number the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real

NA = "n/a"

# Headline metrics that exist for both sides: (suffix, label). Keys are f"{side}_{suffix}".
SIDE_METRICS: tuple[tuple[str, str], ...] = (
    ("total_return", "Total return"),
    ("cagr", "CAGR"),
    ("volatility", "Volatility (ann.)"),
    ("sharpe", "Sharpe"),
    ("sortino", "Sortino"),
    ("max_drawdown", "Max drawdown"),
    ("max_drawdown_days", "Max drawdown duration"),
    ("final_equity", "Final equity"),
)
SIDES: tuple[str, str] = ("hedged", "unhedged")

# Metrics of the hedge itself (only meaningful for the hedged side): (key, label).
HEDGE_METRICS: tuple[tuple[str, str], ...] = (
    ("hedge_effectiveness", "Hedge effectiveness"),
    ("funding_received_usd", "Funding received"),
    ("funding_paid_usd", "Funding paid"),
    ("funding_net_usd", "Funding net"),
    ("fees_usd", "Fees"),
    ("slippage_usd", "Slippage"),
    ("n_rebalances", "Rebalances"),
    ("n_trades", "Trades"),
    ("n_topups", "Collateral top-ups"),
    ("n_withdrawals", "Collateral withdrawals"),
    ("n_liquidations", "Liquidations"),
    ("min_liq_distance", "Lowest distance to liquidation"),
    ("max_margin_ratio", "Highest margin ratio (liquidation at 1)"),
    ("mean_leverage", "Mean leverage"),
    ("max_leverage", "Highest leverage"),
)

# Attribution components in display order, with labels.
ATTRIBUTION_LABELS: dict[str, str] = {
    "spot": "Spot basket",
    "collateral_reval": "Collateral revaluation",
    "hedge_price": "Hedge price PnL",
    "funding": "Funding",
    "fees": "Fees",
    "slippage": "Slippage",
    "total": "Total",
}

_PCT_SUFFIXES = (
    "total_return",
    "cagr",
    "volatility",
    "max_drawdown",
    "hedge_effectiveness",
    "min_liq_distance",
    "_return",
    "_ratio_pct",
)
_RATIO_SUFFIXES = ("sharpe", "sortino", "leverage", "margin_ratio")


def is_missing(value: object) -> bool:
    """True for None, NaN and anything that is not a finite-or-infinite real number."""
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, Real):
        return math.isnan(float(value))
    return False


def fmt_pct(value: object, digits: int = 2) -> str:
    """A fraction as a percent: 0.1234 -> '12.34%'."""
    if is_missing(value):
        return NA
    return f"{float(value) * 100:,.{digits}f}%"  # type: ignore[arg-type]


def fmt_usd(value: object, digits: int = 2) -> str:
    """USD with thousands separators and the sign in front: -1234.5 -> '-$1,234.50'."""
    if is_missing(value):
        return NA
    v = float(value)  # type: ignore[arg-type]
    sign = "-" if v < 0 else ""
    return f"{sign}${abs(v):,.{digits}f}"


def fmt_ratio(value: object, digits: int = 2) -> str:
    """A plain number with fixed decimals: 1.2345 -> '1.23'."""
    if is_missing(value):
        return NA
    return f"{float(value):,.{digits}f}"  # type: ignore[arg-type]


def fmt_int(value: object) -> str:
    """A count: 12.0 -> '12'."""
    if is_missing(value):
        return NA
    return f"{int(round(float(value))):,d}"  # type: ignore[arg-type]


def fmt_days(value: object) -> str:
    """A duration in days: 12.25 -> '12.2 d'."""
    if is_missing(value):
        return NA
    return f"{float(value):,.1f} d"  # type: ignore[arg-type]


def fmt_leverage(value: object) -> str:
    """A leverage multiple: 2.654 -> '2.65x'."""
    if is_missing(value):
        return NA
    return f"{float(value):,.2f}x"  # type: ignore[arg-type]


def fmt_margin_ratio(value: object) -> str:
    """Maintenance / margin balance (liquidation at 1), small numbers kept: 0.02489 -> '0.0249'."""
    return fmt_ratio(value, 4)


def formatter_for(key: str) -> Callable[[object], str]:
    """The formatter for a metric key, chosen from its name (see docs/ARCHITECTURE.md keys)."""
    if key.startswith("n_"):
        return fmt_int
    if key.endswith("_days"):
        return fmt_days
    if (
        key.endswith("_usd")
        or key.endswith("final_equity")
        or key.startswith("attr_")
        or key == "equity_change"
    ):
        return fmt_usd
    if key.endswith(_PCT_SUFFIXES):
        return fmt_pct
    if key.endswith("leverage"):
        return fmt_leverage
    if key.endswith("margin_ratio"):
        return fmt_margin_ratio
    if key.endswith(_RATIO_SUFFIXES):
        return fmt_ratio
    return fmt_value


def fmt_value(value: object) -> str:
    """Generic cell text: floats with up to 6 significant digits, others via str()."""
    if is_missing(value):
        return NA
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,d}"
    if isinstance(value, Real):
        v = float(value)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v != 0 and (abs(v) >= 1e7 or abs(v) < 1e-4):
            return f"{v:.4g}"
        return f"{v:,.6g}" if abs(v) < 1000 else f"{v:,.2f}"
    return str(value)


def fmt_metric(key: str, value: object) -> str:
    """Format ``value`` the way metric ``key`` is always shown."""
    return formatter_for(key)(value)


def metric_label(key: str) -> str:
    """A human label for a metric key: 'hedged_max_drawdown' -> 'Hedged max drawdown'."""
    for suffix, label in SIDE_METRICS:
        for side in SIDES:
            if key == f"{side}_{suffix}":
                return f"{label} ({side})"
    for k, label in HEDGE_METRICS:
        if key == k:
            return label
    if key.startswith("attr_"):
        comp = key[len("attr_") :]
        return f"Attribution: {ATTRIBUTION_LABELS.get(comp, comp.replace('_', ' '))}"
    return key.replace("_", " ").capitalize()
