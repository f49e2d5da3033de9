"""The five PNG charts of one run: equity, hedge ratio, margin, costs, attribution.

Each chart is a function ``(result, path) -> path``; :data:`RUN_CHARTS` lists them in report
order so callers can drive a progress bar over them. Long series are thinned for plotting only
(see :func:`perphedge.report.plotting.thin_positions`); every number in tables comes from the
full data.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from perphedge.engine.types import Result
from perphedge.report.access import (
    events_of,
    find_config_value,
    leg_indices,
    leg_label,
    ratio_definition,
    run_title,
)
from perphedge.report.fmt import ATTRIBUTION_LABELS, fmt_pct, fmt_usd
from perphedge.report.plotting import (
    BAD_COLOR,
    GOOD_COLOR,
    HEDGED_COLOR,
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
    value_at,
)


def _frame(result: Result) -> pd.DataFrame:
    ts = result.timeseries
    return ts.set_axis(to_utc_index(ts.index), axis=0)


def _col(ts: pd.DataFrame, name: str) -> np.ndarray:
    if name in ts.columns:
        return ts[name].to_numpy(dtype=float, na_value=np.nan)
    return np.full(len(ts), np.nan)


def _last(values: np.ndarray) -> float:
    """Last value of a cumulative series, NaN for an empty run."""
    return float(values[-1]) if len(values) else float("nan")


MAX_LIQUIDATION_LINES = 30  # more than this are drawn as a rug, not lines across the panels


def _mark_liquidations(axes: list[Axes], result: Result) -> int:
    """Liquidations on every panel: red dashed vertical lines, or, when there are more than
    :data:`MAX_LIQUIDATION_LINES` (which would paint the chart red), red ticks along each
    panel's bottom. Returns how many there were."""
    times = events_of(result, "liquidation")
    xs = plot_x(times)
    for ax in axes:
        if len(times) > MAX_LIQUIDATION_LINES:
            ax.plot(
                xs, np.zeros(len(xs)), "|", color=BAD_COLOR, markersize=9, alpha=0.6,
                transform=ax.get_xaxis_transform(),
            )  # fmt: skip
            continue
        for t in xs:
            ax.axvline(t, color=BAD_COLOR, linestyle="--", linewidth=1.2, alpha=0.8)
    return len(times)


def _liq_handle(count: int = 1) -> Line2D:
    if count > MAX_LIQUIDATION_LINES:
        return Line2D([], [], color=BAD_COLOR, marker="|", ls="", markersize=9,
                      label=f"liquidation ({count:,d}, ticks)")  # fmt: skip
    return Line2D([], [], color=BAD_COLOR, linestyle="--", linewidth=1.2, label="liquidation")


def _clip_outliers(ax: Axes, values: np.ndarray, floor: float, unit: str) -> None:
    """Keep an axis readable when a few values are orders of magnitude above the rest (e.g.
    leverage of a wallet emptied by a liquidation): the top is set near the bulk of the data
    and a note gives the true maximum."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    top, bulk = float(finite.max()), max(float(np.percentile(finite, 95)), floor)
    if top > 10 * bulk:
        lo = min(0.0, float(finite.min()))
        ax.set_ylim(lo, 1.5 * bulk)
        ax.text(0.995, 0.97, f"off scale: max {top:,.4g}{unit}", transform=ax.transAxes,
                ha="right", va="top", fontsize=8, color=BAD_COLOR)  # fmt: skip


def equity_chart(result: Result, path: Path) -> Path:
    """Hedged vs unhedged USD equity, and both drawdowns beneath."""
    ts = _frame(result)
    hedged, unhedged = _col(ts, "equity_hedged"), _col(ts, "equity_unhedged")
    with np.errstate(invalid="ignore", divide="ignore"):
        dd_h = hedged / np.fmax.accumulate(hedged) - 1.0
        dd_u = unhedged / np.fmax.accumulate(unhedged) - 1.0
    pos = thin_positions(np.column_stack([hedged, unhedged, dd_h, dd_u]))
    x = plot_x(ts.index[pos])
    fig, (ax, ax_dd) = new_figure(2, height_ratios=(3, 1.3))
    style = line_style(len(pos))
    m = result.metrics
    ax.plot(
        x,
        unhedged[pos],
        color=UNHEDGED_COLOR,
        lw=1.3,
        label=f"Unhedged (total {fmt_pct(m.get('unhedged_total_return'))})",
        **style,
    )
    ax.plot(
        x,
        hedged[pos],
        color=HEDGED_COLOR,
        lw=1.6,
        label=f"Hedged (total {fmt_pct(m.get('hedged_total_return'))})",
        **style,
    )
    ax.yaxis.set_major_formatter(usd_formatter())
    ax.set_ylabel("Equity (USD)")
    ax.set_title(
        f"{safe_text(run_title(result))}: hedged vs unhedged equity", fontsize=12, loc="left"
    )
    # unhedged drawdown as a light area, hedged as a line on top: both stay readable
    ax_dd.fill_between(x, dd_u[pos], 0, color=UNHEDGED_COLOR, alpha=0.22, lw=0)
    ax_dd.plot(x, dd_u[pos], color=UNHEDGED_COLOR, lw=0.8, label="Unhedged", **style)
    ax_dd.plot(x, dd_h[pos], color=HEDGED_COLOR, lw=1.2, label="Hedged", **style)
    ax_dd.yaxis.set_major_formatter(pct_formatter())
    ax_dd.set_ylabel("Drawdown (%)")
    lo = np.nanmin(np.concatenate([dd_h, dd_u, [0.0]]))
    ax_dd.set_ylim(min(lo * 1.08, -0.01), 0.005)
    handles, labels = ax.get_legend_handles_labels()
    n_liq = _mark_liquidations([ax, ax_dd], result)
    if n_liq:
        handles.append(_liq_handle(n_liq))
        labels.append(handles[-1].get_label())
    ax.legend(handles, labels, loc="best", fontsize=9, framealpha=0.85)
    format_date_axis(ax_dd, x)
    ax.tick_params(labelbottom=False)
    return save_png(fig, path)


MAX_RATIO_PANELS = 4  # up to this many legs get a panel each; more share one panel


def hedge_ratio_chart(result: Result, path: Path) -> Path:
    """Target vs actual hedge ratio per leg (a panel per leg), rebalances marked."""
    ts = _frame(result)
    legs = leg_indices(ts)
    n_panels = len(legs) if 1 < len(legs) <= MAX_RATIO_PANELS else 1
    fig, axes = new_figure(n_panels)
    axes[0].set_title(
        f"{safe_text(run_title(result))}: target vs actual hedge ratio", fontsize=12, loc="left"
    )
    ylabel = f"Hedge ratio ({ratio_definition(result)})"
    if n_panels == 1:
        axes[0].set_ylabel(ylabel)
    else:
        fig.supylabel(ylabel, fontsize=10)
    x_all = plot_x(ts.index)
    if not legs:
        no_data(axes[0], "no hedge legs in this run")
    shared = len(legs) > MAX_RATIO_PANELS
    for n, j in enumerate(legs):
        ax = axes[0] if n_panels == 1 else axes[n]
        label = safe_text(leg_label(result, j))
        if shared:  # many legs in one panel: a colour per leg
            color = t_color = r_color = LEG_COLORS[n % len(LEG_COLORS)]
            suffix = f" ({label})"
        else:  # black target, blue actual, orange rebalance dots
            color, t_color, r_color, suffix = HEDGED_COLOR, "#222222", UNHEDGED_COLOR, ""
            if n_panels > 1:
                ax.set_title(label, fontsize=10, loc="right", color="#444444")
        target, actual = _col(ts, f"target_ratio_{j}"), _col(ts, f"actual_ratio_{j}")
        pos = thin_positions(np.column_stack([target, actual]))
        x = plot_x(ts.index[pos])
        style = line_style(len(pos))
        ax.step(
            x, target[pos], where="post", color=t_color, lw=1.6, ls="--",
            label=f"target{suffix}", alpha=0.9, **style,
        )  # fmt: skip
        ax.plot(x, actual[pos], color=color, lw=1.0, alpha=0.8, label=f"actual{suffix}", **style)
        reb = events_of(result, "rebalance", leg=j)
        if len(reb) <= 400:
            rx, ry = value_at(ts.index, actual, reb)
            ax.scatter(
                rx, ry, s=16, color=r_color, edgecolor="white", linewidth=0.5, zorder=3,
                label=f"rebalance{suffix} ({len(reb)})",
            )  # fmt: skip
        else:  # too many to mark on the line: a rug along the bottom instead
            ax.plot(
                plot_x(reb), np.zeros(len(reb)), "|", color=r_color, markersize=6, alpha=0.4,
                transform=ax.get_xaxis_transform(), label=f"rebalance{suffix} ({len(reb)}, rug)",
            )  # fmt: skip
    liquidated = _mark_liquidations(axes, result)
    for ax in axes:
        handles, labels = ax.get_legend_handles_labels()
        if liquidated and ax is axes[0]:
            handles.append(_liq_handle(liquidated))
            labels.append(handles[-1].get_label())
        if handles:
            ax.legend(handles, labels, loc="best", fontsize=8 if n_panels > 1 else 9,
                      framealpha=0.85, ncol=2 if shared else 1)  # fmt: skip
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    format_date_axis(axes[-1], x_all)
    return save_png(fig, path)


def margin_chart(result: Result, path: Path) -> Path:
    """Leverage, margin ratio and distance to liquidation per leg; top-ups, withdrawals and
    liquidations marked."""
    ts = _frame(result)
    legs = leg_indices(ts)
    fig, (ax_lev, ax_mr, ax_ld) = new_figure(3, height_ratios=(1.2, 1, 1))
    ax_lev.set_title(
        f"{safe_text(run_title(result))}: margin account and distance to liquidation",
        fontsize=12,
        loc="left",
    )
    ax_lev.set_ylabel("Leverage (x)")
    ax_mr.set_ylabel("Margin ratio\n(liquidation at 1)")
    ax_ld.set_ylabel("Distance to\nliquidation (%)")
    ax_ld.yaxis.set_major_formatter(pct_formatter())
    x_all = plot_x(ts.index)
    band = find_config_value(result.meta.get("resolved_config"), "leverage_band")
    if isinstance(band, (list, tuple)) and len(band) == 2:
        for b in band:
            ax_lev.axhline(float(b), color=NEUTRAL_COLOR, ls=":", lw=1.0)
        ax_lev.axhspan(float(band[0]), float(band[1]), color=NEUTRAL_COLOR, alpha=0.06,
                       label=f"leverage band {float(band[0]):g}-{float(band[1]):g}x")  # fmt: skip
    if not legs:
        for ax in (ax_lev, ax_mr, ax_ld):
            no_data(ax, "no hedge legs in this run")
    any_ld = False
    max_mr = 0.0
    for n, j in enumerate(legs):
        color = LEG_COLORS[n % len(LEG_COLORS)]
        lev, mr, ld = (_col(ts, f"{c}_{j}") for c in ("leverage", "margin_ratio", "liq_distance"))
        pos = thin_positions(np.column_stack([lev, mr, ld]))
        x = plot_x(ts.index[pos])
        style = line_style(len(pos))
        label = safe_text(leg_label(result, j))
        suffix = f", {label}" if len(legs) > 1 else ""
        ax_lev.plot(x, lev[pos], color=color, lw=1.1, label=label, **style)
        ax_mr.plot(x, mr[pos], color=color, lw=1.1, **style)
        ax_ld.plot(x, ld[pos], color=color, lw=1.1, **style)
        any_ld |= bool(np.isfinite(ld).any())
        if np.isfinite(mr).any():
            max_mr = max(max_mr, float(np.nanmax(mr)))
        tx, ty = value_at(ts.index, lev, events_of(result, "topup", leg=j))
        if len(tx):
            ax_lev.scatter(tx, ty, marker="^", s=40, color=GOOD_COLOR, zorder=3,
                           label=f"top-up{suffix} ({len(tx)})")  # fmt: skip
        wx, wy = value_at(ts.index, lev, events_of(result, "withdraw", leg=j))
        if len(wx):
            ax_lev.scatter(wx, wy, marker="v", s=40, color=UNHEDGED_COLOR, zorder=3,
                           label=f"withdrawal{suffix} ({len(wx)})")  # fmt: skip
    if max_mr >= 0.5:  # only draw the liquidation line when it is near enough to be seen
        ax_mr.axhline(1.0, color=BAD_COLOR, lw=1.0, ls="-", alpha=0.7)
    if legs and not any_ld:
        no_data(ax_ld, "no liquidation price (no open short, or none reachable)")
    ax_ld.axhline(0.0, color=BAD_COLOR, lw=1.0, alpha=0.7)
    hi_band = float(band[1]) if isinstance(band, (list, tuple)) and len(band) == 2 else 0.0
    all_lev = np.concatenate([_col(ts, f"leverage_{j}") for j in legs]) if legs else np.array([])
    all_mr = np.concatenate([_col(ts, f"margin_ratio_{j}") for j in legs]) if legs else np.array([])
    _clip_outliers(ax_lev, all_lev, hi_band, "x")
    _clip_outliers(ax_mr, all_mr, 1.0, "")
    handles, labels = ax_lev.get_legend_handles_labels()
    n_liq = _mark_liquidations([ax_lev, ax_mr, ax_ld], result)
    if n_liq:
        handles.append(_liq_handle(n_liq))
        labels.append(handles[-1].get_label())
    if handles:  # headroom above the lines, so the legend never covers them
        lo, hi = ax_lev.get_ylim()
        ax_lev.set_ylim(lo, hi + 0.45 * (hi - lo))
        ax_lev.legend(handles, labels, loc="upper left", fontsize=8, framealpha=0.9,
                      ncol=min(4, len(handles)))  # fmt: skip
    format_date_axis(ax_ld, x_all)
    for ax in (ax_lev, ax_mr):
        ax.tick_params(labelbottom=False)
    return save_png(fig, path)


def costs_chart(result: Result, path: Path) -> Path:
    """Cumulative funding (+ received), fees and slippage (always costs), and their net, in USD."""
    ts = _frame(result)
    funding = np.nan_to_num(_col(ts, "funding_cum_usd"))
    fees = -np.abs(np.nan_to_num(_col(ts, "fees_cum_usd")))
    slip = -np.abs(np.nan_to_num(_col(ts, "slippage_cum_usd")))
    net = funding + fees + slip
    legs = leg_indices(ts)
    per_leg = (
        [np.nan_to_num(_col(ts, f"funding_cum_usd_{j}")) for j in legs] if len(legs) > 1 else []
    )
    pos = thin_positions(np.column_stack([funding, fees, slip, net, *per_leg]))
    x = plot_x(ts.index[pos])
    style = line_style(len(pos))
    fig, (ax,) = new_figure(1)
    ax.set_title(
        f"{safe_text(run_title(result))}: cumulative funding and trading costs",
        fontsize=12,
        loc="left",
    )
    ax.plot(
        x,
        funding[pos],
        color=GOOD_COLOR,
        lw=1.6,
        label=f"funding ({fmt_usd(_last(funding))})",
        **style,
    )
    for n, (j, f) in enumerate(zip(legs, per_leg, strict=False)):
        ax.plot(x, f[pos], color=LEG_COLORS[n % len(LEG_COLORS)], lw=0.9, ls=":",
                label=f"funding, {safe_text(leg_label(result, j))}")  # fmt: skip
    ax.plot(x, fees[pos], color=BAD_COLOR, lw=1.4, label=f"fees ({fmt_usd(_last(fees))})", **style)
    ax.plot(
        x,
        slip[pos],
        color=UNHEDGED_COLOR,
        lw=1.4,
        label=f"slippage ({fmt_usd(_last(slip))})",
        **style,
    )
    ax.plot(
        x, net[pos], color="black", lw=1.2, ls="--", label=f"net ({fmt_usd(_last(net))})", **style
    )
    ax.axhline(0.0, color=NEUTRAL_COLOR, lw=0.8)
    ax.yaxis.set_major_formatter(usd_formatter())
    ax.set_ylabel("Cumulative USD (+ = gain to the hedged side)")
    ax.legend(loc="best", fontsize=9, framealpha=0.85)
    format_date_axis(ax, plot_x(ts.index))
    return save_png(fig, path)


def attribution_chart(result: Result, path: Path) -> Path:
    """Horizontal bars of the PnL attribution in USD, the total last."""
    attr = {k: float(v) for k, v in (result.attribution or {}).items() if v is not None}
    order = [k for k in ATTRIBUTION_LABELS if k in attr and k != "total"]
    order += [k for k in attr if k not in ATTRIBUTION_LABELS]
    names = [*order, "total"] if "total" in attr else order
    values = np.array([attr[k] for k in names], dtype=float)
    labels = [ATTRIBUTION_LABELS.get(k, k.replace("_", " ")) for k in names]
    fig, (ax,) = new_figure(1, sharex=False)
    ax.set_title(
        f"{safe_text(run_title(result))}: PnL attribution of the hedged side",
        fontsize=12,
        loc="left",
    )
    if not names:
        no_data(ax, "no attribution in this run")
        return save_png(fig, path)
    y = np.arange(len(names))[::-1]
    colors = [GOOD_COLOR if v >= 0 else BAD_COLOR for v in values]
    if names[-1] == "total":
        colors[-1] = HEDGED_COLOR
    vals = np.nan_to_num(values)
    ax.barh(y, vals, color=colors, height=0.6)
    ax.set_yticks(y, labels)
    ax.axvline(0.0, color="black", lw=0.8)
    ax.xaxis.set_major_formatter(usd_formatter())
    ax.set_xlabel("USD")
    span = float(np.max(np.abs(vals))) if len(vals) else 1.0
    span = span or 1.0
    ax.set_xlim(min(vals.min(), 0) - 0.28 * span, max(vals.max(), 0) + 0.28 * span)
    for yi, v, raw in zip(y, vals, values, strict=True):
        ax.annotate(
            fmt_usd(raw), (v, yi), xytext=(5 if v >= 0 else -5, 0), textcoords="offset points",
            ha="left" if v >= 0 else "right", va="center", fontsize=9,
        )  # fmt: skip
    if "total" in attr:
        ax.axhline(y[-1] + 0.5, color=NEUTRAL_COLOR, lw=0.8, ls=":")
    ax.grid(True, axis="x", alpha=0.3)
    ax.grid(False, axis="y")
    return save_png(fig, path)


ChartFn = Callable[[Result, Path], Path]
# (name, file name, function) in report order.
RUN_CHARTS: tuple[tuple[str, str, ChartFn], ...] = (
    ("equity", "equity.png", equity_chart),
    ("hedge_ratio", "hedge_ratio.png", hedge_ratio_chart),
    ("margin", "margin.png", margin_chart),
    ("costs", "costs.png", costs_chart),
    ("attribution", "attribution.png", attribution_chart),
)


def render_charts(result: Result, out_dir: Path | str) -> dict[str, Path]:
    """Write every run chart into ``out_dir``; returns {name: path} in report order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return {name: fn(result, out / fname) for name, fname, fn in RUN_CHARTS}
