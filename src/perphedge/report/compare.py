"""`backtest compare`: several runs side by side in one table, one overlay of equity curves, and
a small compare.html tying them together."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from perphedge.engine.types import Result
from perphedge.errors import ConfigError
from perphedge.report.access import day_text, run_period, run_title
from perphedge.report.fmt import fmt_metric, fmt_pct
from perphedge.report.grid_charts import overlay_equity
from perphedge.report.html import HtmlPage
from perphedge.report.plotting import to_utc_index
from perphedge.report.summary import text_table

# (label, metric key) rows of the comparison table.
COMPARE_ROWS: tuple[tuple[str, str], ...] = (
    ("Total return (hedged)", "hedged_total_return"),
    ("Total return (unhedged)", "unhedged_total_return"),
    ("CAGR (hedged)", "hedged_cagr"),
    ("Volatility (hedged)", "hedged_volatility"),
    ("Sharpe (hedged)", "hedged_sharpe"),
    ("Sortino (hedged)", "hedged_sortino"),
    ("Max drawdown (hedged)", "hedged_max_drawdown"),
    ("Max drawdown (unhedged)", "unhedged_max_drawdown"),
    ("Final equity (hedged)", "hedged_final_equity"),
    ("Hedge effectiveness", "hedge_effectiveness"),
    ("Funding net", "funding_net_usd"),
    ("Fees", "fees_usd"),
    ("Slippage", "slippage_usd"),
    ("Rebalances", "n_rebalances"),
    ("Top-ups", "n_topups"),
    ("Liquidations", "n_liquidations"),
    ("Lowest distance to liquidation", "min_liq_distance"),
)


# (label, key) rows computed from each run's timeseries by perphedge.hedge_quality: how closely
# the hedge tracks the basket (a cross hedge's basis risk), shown as percents.
QUALITY_ROWS: tuple[tuple[str, str], ...] = (
    ("Tracking error (price residual)", "tracking_error"),
    ("Worst day (hedged)", "worst_day"),
    ("Worst day (unhedged)", "worst_day_unhedged"),
)


def _quality(result: Result) -> dict[str, float]:
    """hedge_quality of a run, or NaNs when its timeframe is unknown."""
    from perphedge.domain import Timeframe
    from perphedge.hedge_quality import hedge_quality

    tf = result.meta.get("timeframe")
    if not tf or "equity_hedged" not in result.timeseries:
        return {k: float("nan") for _, k in QUALITY_ROWS}
    return hedge_quality(result, Timeframe.parse(str(tf)).ns)


def run_span(result: Result) -> str:
    """'2023-01-01..2024-07-01 1h': the simulated period and bar of a run, for the table."""
    start, end = run_period(result)
    tf = result.meta.get("timeframe") or ""
    if start is None or end is None:
        return str(tf) or "n/a"
    return f"{day_text(start)}..{day_text(end)} {tf}".strip()


def compare_rows(results: Sequence[tuple[str, Result]]) -> list[list[str]]:
    """[label, value per run...] cells of the comparison table, the period first (runs over
    different spans or bars do not compare like for like)."""
    quality = [_quality(r) for _, r in results]
    return (
        [["Period", *(run_span(r) for _, r in results)]]
        + [
            [label, *(fmt_metric(key, r.metrics.get(key)) for _, r in results)]
            for label, key in COMPARE_ROWS
        ]
        + [[label, *(fmt_pct(q[key]) for q in quality)] for label, key in QUALITY_ROWS]
    )


def compare_frame(results: Sequence[tuple[str, Result]]) -> pd.DataFrame:
    """The raw numbers: one row per metric key, one column per run label."""
    data = {
        name: [r.metrics.get(k, np.nan) for _, k in COMPARE_ROWS]
        + [_quality(r)[k] for _, k in QUALITY_ROWS]
        for name, r in results
    }
    keys = [k for _, k in COMPARE_ROWS] + [k for _, k in QUALITY_ROWS]
    return pd.DataFrame(data, index=pd.Index(keys, name="metric"))


def _same_curve(a: pd.Series, b: pd.Series) -> bool:
    if len(a) != len(b) or not a.index.equals(b.index):
        return False
    return bool(np.allclose(a.to_numpy(float), b.to_numpy(float), rtol=1e-12, equal_nan=True))


def equity_curves(
    results: Sequence[tuple[str, Result]],
) -> tuple[dict[str, pd.Series], set[str], dict[str, str]]:
    """Hedged equity of every run, plus each distinct unhedged curve (dashed) once; the third
    item maps an unhedged curve to the run whose colour it shares (when they differ by run)."""
    curves: dict[str, pd.Series] = {}
    unhedged: list[tuple[str, pd.Series]] = []
    owner: dict[str, str] = {}
    for name, r in results:
        ts = r.timeseries
        idx = to_utc_index(ts.index)
        curves[name] = pd.Series(ts["equity_hedged"].to_numpy(float), index=idx)
        u = pd.Series(ts["equity_unhedged"].to_numpy(float), index=idx)
        if not any(_same_curve(u, seen) for _, seen in unhedged):
            label = f"{name} unhedged" if len(results) > 1 else "unhedged"
            unhedged.append((label, u))
            owner[label] = name
    if len(unhedged) == 1:
        unhedged = [("unhedged (same for all)" if len(results) > 1 else "unhedged", unhedged[0][1])]
        owner = {}
    dashed = set()
    for label, u in unhedged:
        curves[label] = u
        dashed.add(label)
    return curves, dashed, owner


def _capitals_differ(results: Sequence[tuple[str, Result]]) -> bool:
    """True when the runs start from different capital (meta['capital'], else the first
    hedged equity), so their USD curves are better drawn rebased to 1."""
    starts = []
    for _, r in results:
        cap = r.meta.get("capital")
        if cap is None and len(r.timeseries):
            cap = r.timeseries["equity_hedged"].iloc[0]
        if cap is not None and np.isfinite(float(cap)):
            starts.append(float(cap))
    return len(starts) > 1 and (max(starts) - min(starts)) > 1e-6 * max(abs(max(starts)), 1.0)


def compare_runs(
    results: Sequence[tuple[str, Result]], out_dir: Path | str
) -> tuple[str, dict[str, Path]]:
    """Table text (a column per run) and {compare_equity, compare_csv, compare_html} paths."""
    if not results:
        raise ConfigError("", "compare: no runs given")
    names = [n for n, _ in results]
    if len(set(names)) != len(names):
        raise ConfigError("", f"compare: run labels must be unique, got {names}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = compare_rows(results)
    text = text_table(["", *names], rows)
    curves, dashed, owner = equity_curves(results)
    rebase = _capitals_differ(results)  # USD curves of 59k and 10k runs do not compare by eye
    title = "Equity: hedged runs (solid), unhedged (dashed)"
    if rebase:
        title += "; each rebased to 1 at its start (different capital)"
    chart = overlay_equity(
        curves, out / "compare_equity.png", title=title, normalize=rebase,
        dashed=dashed, same_color_as=owner,
    )  # fmt: skip
    csv_path = out / "compare.csv"
    compare_frame(results).to_csv(csv_path, lineterminator="\n")
    page = HtmlPage("perphedge: comparison of runs", f"{len(results)} runs")
    page.heading("Runs")
    page.table(["Label", "Run"], [[n, run_title(r)] for n, r in results])
    page.heading("Metrics")
    page.table(["Metric", *names], rows)
    page.heading("Equity")
    caption = "Hedged equity per run; unhedged dashed."
    if rebase:
        caption += " The runs start from different capital, so each curve is rebased to 1."
    page.image(chart, alt="equity curves", caption=caption)
    html_path = page.write(out / "compare.html")
    return text, {"compare_equity": chart, "compare_csv": csv_path, "compare_html": html_path}
