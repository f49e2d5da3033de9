"""Charts over many runs, shared by `backtest compare` and the sweep report:
overlaid equity curves, a heat map of a metric over two parameters, a risk/return scatter.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.ticker import Formatter

from perphedge.domain import Timeframe
from perphedge.errors import ConfigError
from perphedge.report.fmt import fmt_metric, fmt_pct, fmt_usd, formatter_for, metric_label
from perphedge.report.plotting import (
    LEG_COLORS,
    NEUTRAL_COLOR,
    UNHEDGED_COLOR,
    format_date_axis,
    line_style,
    new_figure,
    no_data,
    pct_formatter,
    plot_x,
    safe_text,
    save_png,
    thin_positions,
    to_utc_index,
    usd_formatter,
)

# Colours for up to 10 overlaid curves, then they repeat with a different line style.
CURVE_COLORS = (*LEG_COLORS[:4], "#27ae60", "#e67e22", "#7f8c8d", "#b7950b", "#e84393", "#0984e3")
MAX_ANNOTATED_CELLS = 225  # heat maps larger than 15 x 15 show colours only


def axis_formatter(key: str) -> Formatter | None:
    """Tick formatter matching how metric ``key`` is printed (percent or USD), else None."""
    f = formatter_for(key)
    if f is fmt_pct:
        return pct_formatter()
    if f is fmt_usd:
        return usd_formatter()
    return None


def overlay_equity(
    curves: Mapping[str, pd.Series],
    out_path: Path | str,
    *,
    title: str = "Equity curves",
    normalize: bool = False,
    dashed: frozenset[str] | set[str] = frozenset(),
    same_color_as: Mapping[str, str] | None = None,
) -> Path:
    """Several equity curves (USD, indexed by UTC time) on one chart; ``normalize`` rebases each
    to 1.0 at its first value so runs of different capital compare. Names in ``dashed`` are drawn
    dashed (e.g. the unhedged reference), orange unless ``same_color_as`` maps them to the curve
    whose colour they share (e.g. each run's own unhedged side)."""
    same_color_as = same_color_as or {}
    colors: dict[str, str] = {}
    fig, (ax,) = new_figure(1)
    ax.set_title(title, fontsize=12, loc="left")
    ax.set_ylabel("Growth of 1 (x)" if normalize else "Equity (USD)")
    if not normalize:
        ax.yaxis.set_major_formatter(usd_formatter())
    if not curves:
        no_data(ax, "no curves")
    lo = hi = None
    for name, series in curves.items():
        s = series.dropna()
        if len(s) == 0:
            continue
        idx = to_utc_index(s.index)
        y = s.to_numpy(dtype=float)
        if normalize and y[0] != 0:
            y = y / y[0]
        pos = thin_positions(y)
        x = plot_x(idx[pos])
        ls = "--" if name in dashed else ("-" if len(colors) < len(CURVE_COLORS) else ":")
        if name in same_color_as and same_color_as[name] in colors:
            color = colors[same_color_as[name]]
        elif name in dashed:
            color = UNHEDGED_COLOR
        else:
            color = CURVE_COLORS[len(colors) % len(CURVE_COLORS)]
        colors[name] = color
        ax.plot(
            x, y[pos], color=color, ls=ls, lw=1.4, label=safe_text(name), **line_style(len(pos))
        )
        lo = x[0] if lo is None or x[0] < lo else lo
        hi = x[-1] if hi is None or x[-1] > hi else hi
    if lo is not None:
        ax.legend(loc="best", fontsize=9, framealpha=0.85, ncol=1 if len(curves) <= 8 else 2)
        format_date_axis(ax, np.array([lo, hi]))
    return save_png(fig, Path(out_path))


def heatmap(
    df: pd.DataFrame,
    x: str,
    y: str,
    value: str,
    out_path: Path | str,
    *,
    title: str | None = None,
    higher_is_better: bool = True,
) -> Path:
    """Heat map of column ``value`` over the parameter columns ``x`` and ``y`` (mean over any
    other parameters), each cell annotated with the formatted metric. Missing cells are grey."""
    for col in (x, y, value):
        if col not in df.columns:
            raise ConfigError(
                "", f"heat map: no column {col!r}; columns: {', '.join(map(str, df.columns))}"
            )
    data = df[[x, y, value]].copy()
    data[value] = pd.to_numeric(data[value], errors="coerce")
    grid = data.pivot_table(index=y, columns=x, values=value, aggfunc="mean", dropna=False)
    grid = grid.reindex(index=_axis_order(data[y]), columns=_axis_order(data[x]))
    vals = grid.to_numpy(dtype=float)
    fig, (ax,) = new_figure(1, sharex=False)
    ax.grid(False)
    cmap = colormaps["RdYlGn" if higher_is_better else "RdYlGn_r"].with_extremes(bad="#d5d8dc")
    masked = np.ma.masked_invalid(vals)
    if masked.count():
        im = ax.imshow(masked, cmap=cmap, aspect="auto", origin="lower")
        cbar = fig.colorbar(im, ax=ax, shrink=0.9)
        cbar.set_label(metric_label(value))
        fmt = axis_formatter(value)
        if fmt is not None:
            cbar.ax.yaxis.set_major_formatter(fmt)
    else:
        no_data(ax, f"no values of {value}")
    ax.set_xticks(range(grid.shape[1]), [safe_text(_tick(v)) for v in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [safe_text(_tick(v)) for v in grid.index])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title or f"{metric_label(value)} by {x} and {y}", fontsize=12, loc="left")
    if vals.size <= MAX_ANNOTATED_CELLS and masked.count():
        finite = vals[np.isfinite(vals)]
        mid = (finite.min() + finite.max()) / 2 if finite.size else 0.0
        for i in range(vals.shape[0]):
            for j in range(vals.shape[1]):
                v = vals[i, j]
                near_mid = np.isfinite(v) and abs(v - mid) < 0.35 * (np.ptp(finite) or 1)
                ax.text(
                    j, i, fmt_metric(value, v), ha="center", va="center", fontsize=9,
                    color="black" if near_mid or not np.isfinite(v) else "white",
                )  # fmt: skip
    return save_png(fig, Path(out_path))


def _axis_order(values: pd.Series) -> list[object]:
    """Distinct parameter values in a natural order: numbers ascending, timeframes such as
    8h/1d/7d by length, other text in order of first appearance."""
    uniq = list(pd.unique(values.dropna()))
    if all(isinstance(v, (int, float, np.integer, np.floating)) for v in uniq):
        return sorted(uniq)
    try:
        return sorted(uniq, key=lambda v: Timeframe.parse(str(v)).ms)
    except ValueError:
        return uniq


def _tick(v: object) -> str:
    """Parameter value as a tick label: floats without trailing noise (0.25, 1e-05)."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):g}"
    return str(v)


def risk_return_scatter(
    df: pd.DataFrame,
    x_metric: str,
    y_metric: str,
    unhedged_point: tuple[float, float] | Mapping[str, float] | None,
    out_path: Path | str,
    *,
    label: str | None = None,
    color_by: str | None = None,
    title: str | None = None,
) -> Path:
    """One point per run (risk ``x_metric`` vs return ``y_metric``), the unhedged reference as a
    star. ``unhedged_point`` is (x, y) or a mapping with the two metric keys (e.g. the unhedged
    side's metrics renamed). ``label`` names a column to annotate points with (first 30);
    ``color_by`` a column to colour them by."""
    for col in (x_metric, y_metric, label, color_by):
        if col is not None and col not in df.columns:
            raise ConfigError(
                "", f"scatter: no column {col!r}; columns: {', '.join(map(str, df.columns))}"
            )
    fig, (ax,) = new_figure(1, sharex=False)
    xs = pd.to_numeric(df[x_metric], errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(df[y_metric], errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(xs) & np.isfinite(ys)
    if color_by is not None:
        cvals = df[color_by]
        if pd.api.types.is_numeric_dtype(cvals):
            sc = ax.scatter(xs[ok], ys[ok], c=cvals.to_numpy(dtype=float)[ok], cmap="viridis",
                            s=36, edgecolor="white", linewidth=0.5, zorder=3)  # fmt: skip
            fig.colorbar(sc, ax=ax, shrink=0.9).set_label(color_by)
        else:
            cats = cvals.astype(str).to_numpy()
            for n, cat in enumerate(sorted(set(cats[ok]))):
                sel = ok & (cats == cat)
                ax.scatter(xs[sel], ys[sel], s=36, color=CURVE_COLORS[n % len(CURVE_COLORS)],
                           edgecolor="white", linewidth=0.5, zorder=3, label=safe_text(f"{color_by}={cat}"))  # fmt: skip
    else:
        ax.scatter(xs[ok], ys[ok], s=36, color=LEG_COLORS[0], edgecolor="white", linewidth=0.5,
                   zorder=3, label=f"hedged ({int(ok.sum())} runs)")  # fmt: skip
    if label is not None:
        texts = df[label].astype(str).to_numpy()
        for xi, yi, t in list(zip(xs[ok], ys[ok], texts[ok], strict=True))[:30]:
            ax.annotate(safe_text(t), (xi, yi), xytext=(4, 3), textcoords="offset points", fontsize=7,
                        color=NEUTRAL_COLOR)  # fmt: skip
    if unhedged_point is not None:
        if isinstance(unhedged_point, Mapping):
            ux, uy = float(unhedged_point[x_metric]), float(unhedged_point[y_metric])
        else:
            ux, uy = float(unhedged_point[0]), float(unhedged_point[1])
        ax.scatter([ux], [uy], marker="*", s=260, color=UNHEDGED_COLOR, edgecolor="black",
                   linewidth=0.6, zorder=4, label="unhedged")  # fmt: skip
    if not ok.any() and unhedged_point is None:
        no_data(ax, "no finite points")
    ax.axhline(0.0, color=NEUTRAL_COLOR, lw=0.8)
    ax.set_xlabel(metric_label(x_metric))
    ax.set_ylabel(metric_label(y_metric))
    for axis, key in ((ax.xaxis, x_metric), (ax.yaxis, y_metric)):
        fmt = axis_formatter(key)
        if fmt is not None:
            axis.set_major_formatter(fmt)
    ax.set_title(
        title or f"{metric_label(y_metric)} vs {metric_label(x_metric)}", fontsize=12, loc="left"
    )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=9, framealpha=0.85)
    return save_png(fig, Path(out_path))
