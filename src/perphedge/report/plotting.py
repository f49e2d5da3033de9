"""Matplotlib plumbing shared by every chart: figures without pyplot, date axes, number axes.

Charts are drawn on :class:`matplotlib.figure.Figure` objects with an explicit Agg canvas, so
no pyplot global state (current figure, backend selection, rcParams) is touched and charts can
be rendered from worker processes or threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

FIGSIZE: tuple[float, float] = (11.0, 6.0)
DPI = 110
# Plotting more points than a chart has pixels only costs time; long runs (e.g. 18 months of
# 1-minute bars) are thinned to about this many points per line, keeping each bucket's min and
# max so spikes and drawdown troughs stay visible.
MAX_POINTS = 3000

HEDGED_COLOR = "#1f5fa8"
UNHEDGED_COLOR = "#e07b24"
GOOD_COLOR = "#2e8b57"
BAD_COLOR = "#c0392b"
NEUTRAL_COLOR = "#7f8c8d"
LEG_COLORS = ("#1f5fa8", "#8e44ad", "#16a085", "#d35400", "#2c3e50", "#c0392b")


def new_figure(
    nrows: int = 1,
    *,
    height_ratios: Sequence[float] | None = None,
    sharex: bool = True,
    figsize: tuple[float, float] = FIGSIZE,
) -> tuple[Figure, list[Axes]]:
    """A Figure with an Agg canvas and ``nrows`` stacked axes (a list even for one)."""
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    gs_kw = {"height_ratios": list(height_ratios)} if height_ratios else None
    axes = fig.subplots(nrows, 1, sharex=sharex, gridspec_kw=gs_kw, squeeze=False)
    out = [ax for row in axes for ax in row]
    for ax in out:
        style_axes(ax)
    return fig, out


def style_axes(ax: Axes) -> None:
    """Light grid, no top/right spines: the data stands out, the frame does not."""
    ax.grid(True, alpha=0.3, linewidth=0.6)
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)
    ax.tick_params(labelsize=9)


def save_png(fig: Figure, path: Path) -> Path:
    """Write the figure as PNG without a software/time stamp, so identical input gives same bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, metadata={"Software": None})
    return path


def to_utc_index(index: pd.Index) -> pd.DatetimeIndex:
    """Any datetime-like index as ``datetime64[ns, UTC]``."""
    idx = pd.DatetimeIndex(index)
    idx = idx.tz_localize("UTC") if idx.tz is None else idx.tz_convert("UTC")
    return idx.as_unit("ns")


def to_utc_times(values: pd.Series | Sequence[object]) -> pd.DatetimeIndex:
    """Event/trade times (Timestamps, ISO strings or int ns) as ``datetime64[ns, UTC]``."""
    s = pd.Series(values)
    if len(s) and pd.api.types.is_numeric_dtype(s.dtype):
        return pd.DatetimeIndex(pd.to_datetime(s.astype("int64"), unit="ns", utc=True))
    return to_utc_index(pd.to_datetime(s, utc=True))


def plot_x(index: pd.DatetimeIndex) -> np.ndarray:
    """Naive UTC datetime64 values, which matplotlib's date axis plots without tz warnings."""
    return to_utc_index(index).tz_convert(None).to_numpy()


def thin_positions(values: np.ndarray, max_points: int = MAX_POINTS) -> np.ndarray:
    """Row positions to plot: all rows if few, else per bucket the first row and each column's
    min and max (NaN-safe), plus the last row. ``values`` is (T,) or (T, k)."""
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    n = v.shape[0]
    if n <= max_points:
        return np.arange(n)
    per_bucket = 1 + 2 * v.shape[1]
    n_buckets = max(1, max_points // per_bucket)
    edges = np.linspace(0, n, n_buckets + 1).astype(int)
    keep: list[int] = [0, n - 1]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if hi <= lo:
            continue
        keep.append(lo)
        block = v[lo:hi]
        for k in range(block.shape[1]):
            col = block[:, k]
            if np.isnan(col).all():
                continue
            keep.append(lo + int(np.nanargmin(col)))
            keep.append(lo + int(np.nanargmax(col)))
    return np.unique(np.asarray(keep, dtype=int))


def format_date_axis(ax: Axes, x: np.ndarray, *, label: bool = True) -> None:
    """Concise auto dates on x, limits padded for one-point series, optional 'Date (UTC)'."""
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if len(x):
        lo, hi = x[0], x[-1]
        if lo == hi:
            pad = np.timedelta64(12, "h")
            lo, hi = lo - pad, hi + pad
        ax.set_xlim(lo, hi)
    if label:
        ax.set_xlabel("Date (UTC)")


def _usd_tick(v: float, _pos: object = None) -> str:
    """$950, $2.5k, $12k, $1.25M: one style per magnitude, so an axis reads consistently."""
    sign = "-" if v < 0 else ""
    a = abs(v)
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if a >= scale:
            x = a / scale
            text = f"{x:,.2f}".rstrip("0").rstrip(".")
            return f"{sign}${text}{suffix}"
    if a >= 100 or a == 0:
        return f"{sign}${a:,.0f}"
    return f"{sign}${a:,.2f}".rstrip("0").rstrip(".")


def _pct_tick(v: float, _pos: object = None) -> str:
    pct = v * 100
    whole = abs(pct - round(pct)) < 1e-9
    return f"{pct:.0f}%" if whole else f"{pct:.1f}%"


# Stateless tick formatters (their functions ignore the axis), kept for callers that share one
# instance between axes, e.g. perphedge.sweep.charts. New code: usd_formatter()/pct_formatter().
USD_FORMATTER = FuncFormatter(_usd_tick)
PCT_FORMATTER = FuncFormatter(_pct_tick)


def usd_formatter() -> FuncFormatter:
    """USD ticks ($950, $12k, $1.25M); a new instance per axis."""
    return FuncFormatter(_usd_tick)


def pct_formatter() -> PercentFormatter:
    """Fractions as percent ticks, decimals chosen from the visible range. A new instance per
    axis: matplotlib formatters remember the axis they are attached to."""
    return PercentFormatter(xmax=1.0, decimals=None)


def safe_text(text: object) -> str:
    """Text for a chart label with ``$`` escaped, so user names never switch on mathtext."""
    return str(text).replace("$", r"\$")


def line_style(n_points: int) -> dict[str, object]:
    """Markers for very short series (one or two bars would otherwise draw nothing)."""
    return {"marker": "o", "markersize": 4} if n_points <= 3 else {}


def value_at(
    index: pd.DatetimeIndex, values: np.ndarray, times: pd.DatetimeIndex
) -> tuple[np.ndarray, np.ndarray]:
    """x and y for markers at event ``times``: the series value at the bar holding each time."""
    if len(times) == 0 or len(index) == 0:
        return np.array([], dtype="datetime64[ns]"), np.array([], dtype=float)
    pos = index.get_indexer(times, method="pad")
    ok = pos >= 0
    pos = pos[ok]
    return plot_x(index[pos]), np.asarray(values, dtype=float)[pos]


def no_data(ax: Axes, text: str) -> None:
    """A grey note in the middle of an empty panel."""
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        color=NEUTRAL_COLOR,
        fontsize=11,
    )
