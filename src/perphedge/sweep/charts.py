"""The sweep's charts: a heat map over two grid axes, risk vs return, and the best equity curves.

Drawn with the shared plotting helpers (Agg canvas, no pyplot state), once per sweep, never per
combination: reporting costs the same for 10 runs as for 10,000.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perphedge.sweep.execute import Outcome
from perphedge.sweep.results import STATUS_OK
from perphedge.sweep.spec import HeatmapSpec, Risk, SweepSpec, lower_is_better

_CATEGORY_COLORS = (
    "#1f5fa8",
    "#e07b24",
    "#2e8b57",
    "#8e44ad",
    "#c0392b",
    "#16a085",
    "#7f8c8d",
    "#d35400",
    "#2c3e50",
    "#b8860b",
)


def _axis_values(frame: pd.DataFrame, spec: SweepSpec, axis: str) -> tuple[pd.Series, list[Any]]:
    """The column of one heat-map axis and its values in grid order."""
    if axis == "period":
        col = frame["period_start"].astype(str) + ".." + frame["period_end"].astype(str)
        return col, [p.label for p in spec.periods]
    dim = next(d for d in spec.grid if d.name == axis)
    col = frame[axis]
    labels = list(dim.labels)
    if col.dtype.kind in "fi" and all(isinstance(v, int | float) for v in labels):
        return col, [float(v) if col.dtype.kind == "f" else v for v in labels]
    return col.astype(str), [str(v) for v in labels]


def heatmap_matrix(
    frame: pd.DataFrame, spec: SweepSpec, hs: HeatmapSpec
) -> tuple[np.ndarray, list, list]:
    """(values[y, x], x labels, y labels) of the heat map: ``agg`` of the metric over the
    combinations sharing each (x, y) cell; NaN where no run succeeded."""
    ok = frame[frame["status"].eq(STATUS_OK)]
    xcol, xs = _axis_values(ok, spec, hs.x)
    ycol, ys = _axis_values(ok, spec, hs.y)
    values = pd.to_numeric(ok[hs.metric], errors="coerce") if hs.metric in ok else None
    grid = np.full((len(ys), len(xs)), np.nan)
    if values is None or ok.empty:
        return grid, xs, ys
    cells = pd.DataFrame({"x": xcol.to_numpy(), "y": ycol.to_numpy(), "v": values.to_numpy()})
    agg = cells.dropna(subset=["v"]).groupby(["y", "x"], sort=False)["v"].agg(hs.agg.value)
    xi = {v: i for i, v in enumerate(xs)}
    yi = {v: i for i, v in enumerate(ys)}
    for (y, x), v in agg.items():
        if x in xi and y in yi:
            grid[yi[y], xi[x]] = float(v)
    return grid, xs, ys


def heatmap_chart(frame: pd.DataFrame, spec: SweepSpec, hs: HeatmapSpec, path: Path) -> Path | None:
    """Heat map of ``hs.metric`` over two grid axes (None if the table has no such metric).

    The cells are reduced here (``agg`` over the other axes, axes in grid order) and drawn by
    the shared :func:`perphedge.report.grid_charts.heatmap`.
    """
    from perphedge.report.fmt import metric_label
    from perphedge.report.grid_charts import heatmap

    if hs.metric not in frame.columns:
        return None
    grid, xs, ys = heatmap_matrix(frame, spec, hs)
    cells = pd.DataFrame(
        {
            hs.x: pd.Categorical([xs[j] for _ in ys for j in range(len(xs))], categories=xs),
            hs.y: pd.Categorical([y for y in ys for _ in xs], categories=ys),
            hs.metric: grid.ravel(),
        }
    )
    others = [k for k in spec.keys if k not in (hs.x, hs.y)]
    if spec.periods and "period" not in (hs.x, hs.y):
        others.append("period")
    how = f" ({hs.agg.value} over {', '.join(others)})" if others else ""
    better_high = not (spec.ascending if hs.metric == spec.rank_by else lower_is_better(hs.metric))
    return heatmap(
        cells,
        hs.x,
        hs.y,
        hs.metric,
        path,
        title=f"{metric_label(hs.metric)} by {hs.x} and {hs.y}{how}",
        higher_is_better=better_high,
    )


def _category(frame: pd.DataFrame, spec: SweepSpec) -> tuple[str, pd.Series, list] | None:
    """The axis that colours the scatter points: the first grid axis with 2 to 10 values, as
    (name, column, values in grid order, typed like the column)."""
    for dim in spec.grid:
        if 2 <= len(dim) <= len(_CATEGORY_COLORS):
            col, values = _axis_values(frame, spec, dim.name)
            return dim.name, col, values
    return None


def risk_return_chart(frame: pd.DataFrame, spec: SweepSpec, path: Path) -> Path | None:
    """Each combination's hedged (risk, total return), with the unhedged side's point(s)."""
    from perphedge.report.fmt import fmt_value
    from perphedge.report.plotting import PCT_FORMATTER, new_figure, save_png

    risk_key = spec.risk.value
    hx, hy = f"hedged_{risk_key}", "hedged_total_return"
    ux, uy = f"unhedged_{risk_key}", "unhedged_total_return"
    if any(c not in frame.columns for c in (hx, hy)):
        return None
    ok = frame[frame["status"].eq(STATUS_OK)]
    sign = -1.0 if spec.risk is Risk.MAX_DRAWDOWN else 1.0  # drawdown shown as a positive depth
    fig, (ax,) = new_figure(1, figsize=(10.0, 6.5))
    category = _category(ok, spec)
    if category is None:
        ax.scatter(sign * ok[hx], ok[hy], s=28, color=_CATEGORY_COLORS[0], label="hedged")
    else:
        name, col, values = category
        for i, value in enumerate(values):
            sel = col.eq(value)
            if sel.any():
                ax.scatter(
                    sign * ok.loc[sel, hx],
                    ok.loc[sel, hy],
                    s=28,
                    alpha=0.85,
                    color=_CATEGORY_COLORS[i % len(_CATEGORY_COLORS)],
                    label=f"hedged, {name}={fmt_value(value)}",
                )
    if ux in ok.columns and uy in ok.columns:
        un = ok[[ux, uy]].drop_duplicates()
        ax.scatter(
            sign * un[ux], un[uy], s=160, marker="*", color="black", label="unhedged", zorder=5
        )
    best = ok[ok["rank"].notna()].sort_values("rank").head(spec.top)
    spots: dict[tuple[float, float], list[str]] = {}  # tied combinations share one label
    for _, row in best.iterrows():
        spots.setdefault((sign * row[hx], row[hy]), []).append(
            f"#{int(row['rank'])} {row['combo_id']}"
        )
    for (x, y), names in spots.items():
        ax.annotate(", ".join(names), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.axhline(0.0, color="#999999", linewidth=0.8)
    ax.xaxis.set_major_formatter(PCT_FORMATTER)
    ax.yaxis.set_major_formatter(PCT_FORMATTER)
    xlabel = "Max drawdown (depth, %)" if spec.risk is Risk.MAX_DRAWDOWN else "Volatility (ann., %)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Total return (%)")
    ax.set_title(f"Risk vs return: {len(ok)} hedged combinations against the unhedged basket")
    ax.legend(fontsize=8, loc="best")
    return save_png(fig, path)


def overlay_chart(
    outcomes: Mapping[str, Outcome], combo_ids: Sequence[str], labels: Mapping[str, str], path: Path
) -> Path | None:
    """Daily hedged equity of the best combinations, and the unhedged equity of the first,
    drawn by the shared :func:`perphedge.report.grid_charts.overlay_equity`."""
    from perphedge.report.grid_charts import overlay_equity

    shown = [c for c in combo_ids if c in outcomes and outcomes[c].days is not None]
    if not shown:
        return None
    curves: dict[str, pd.Series] = {}
    for rank, cid in enumerate(shown, start=1):
        out = outcomes[cid]
        index = pd.to_datetime(out.days, unit="D", utc=True)  # type: ignore[arg-type]
        curves[f"#{rank} {cid}: {labels.get(cid, '')}"] = pd.Series(out.equity_hedged, index)
    first = outcomes[shown[0]]
    unhedged = "unhedged basket"
    curves[unhedged] = pd.Series(
        first.equity_unhedged,
        pd.to_datetime(first.days, unit="D", utc=True),  # type: ignore[arg-type]
    )
    return overlay_equity(
        curves,
        path,
        title=f"Equity of the best {len(shown)} combinations vs the unhedged basket",
        dashed={unhedged},
    )
