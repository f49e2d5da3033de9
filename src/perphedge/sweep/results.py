"""The results table of a sweep: one row per combination, ranked, and its terminal rendering."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from perphedge.sweep.execute import Outcome
from perphedge.sweep.grid import Planned
from perphedge.sweep.spec import Status, SweepSpec

STATUS_OK = Status.OK.value  # the status column holds the enum's text
# the first columns of every results table, before the grid axes and the metrics
ID_COLUMNS = ("combo_id", "rank")
STATUS_COLUMNS = ("status", "error_type", "error", "digest")
# headline metrics the terminal table shows after the ranking metric (when present)
TABLE_METRICS = (
    "hedged_total_return",
    "hedged_sharpe",
    "hedged_max_drawdown",
    "hedged_volatility",
    "hedge_effectiveness",
    "funding_net_usd",
    "n_liquidations",
)


# compact column headers for the terminal table (the hedged side unless it says otherwise)
_SHORT = {
    "hedged_total_return": "Return",
    "hedged_sharpe": "Sharpe",
    "hedged_sortino": "Sortino",
    "hedged_cagr": "CAGR",
    "hedged_max_drawdown": "Max DD",
    "hedged_volatility": "Volatility",
    "hedge_effectiveness": "Hedge eff.",
    "funding_net_usd": "Funding net",
    "fees_usd": "Fees",
    "n_liquidations": "Liq.",
}


def _column(values: list[Any]) -> pd.Series:
    """A parameter column with one type: numbers stay numbers, a mix becomes text."""
    kinds = {
        "num"
        if isinstance(v, int | float) and not isinstance(v, bool)
        else "bool"
        if isinstance(v, bool)
        else "str"
        for v in values
    }
    if len(kinds) > 1:
        return pd.Series([str(v) for v in values], dtype="str")
    if kinds == {"num"}:
        if all(isinstance(v, int) for v in values):
            return pd.Series(values, dtype="int64")
        return pd.Series([float(v) for v in values], dtype="float64")
    if kinds == {"bool"}:
        return pd.Series(values, dtype="bool")
    return pd.Series([str(v) for v in values], dtype="str")


def build_results(
    spec: SweepSpec, planned: Sequence[Planned], outcomes: Mapping[str, Outcome]
) -> pd.DataFrame:
    """One row per combination in combination order: id, rank, parameters, status, metrics.

    Metric columns are the union over the runs in order of first appearance (walking the
    combinations in order), so the column order does not depend on which run finished first.
    """
    rows = sorted(planned, key=lambda p: p.combination.combo_id)
    metric_keys: list[str] = []
    seen: set[str] = set()
    for p in rows:
        out = outcomes.get(p.combination.combo_id)
        if out is not None:
            for k in out.metrics:
                if k not in seen:
                    seen.add(k)
                    metric_keys.append(k)

    data: dict[str, Any] = {"combo_id": [p.combination.combo_id for p in rows]}
    for i, dim in enumerate(spec.grid):
        data[dim.name] = _column([p.combination.params[i][1] for p in rows])
    if spec.periods:
        data["period_start"] = [p.combination.period.start for p in rows]  # type: ignore[union-attr]
        data["period_end"] = [p.combination.period.end for p in rows]  # type: ignore[union-attr]

    status, etype, emsg = [], [], []
    for p in rows:
        out = outcomes.get(p.combination.combo_id)
        if p.config is None:
            status.append(Status.INVALID.value)
            etype.append(p.error_type)
            emsg.append(p.error)
        elif out is None:
            status.append(Status.ERROR.value)
            etype.append("NotRun")
            emsg.append("no result came back for this combination")
        else:
            status.append(Status(out.status).value)
            etype.append(out.error_type)
            emsg.append(out.error)
    data["status"] = pd.Series(status, dtype="str")
    data["error_type"] = pd.Series(etype, dtype="str")
    data["error"] = pd.Series(emsg, dtype="str")
    data["digest"] = pd.Series([p.combination.digest for p in rows], dtype="str")
    for k in metric_keys:
        values = []
        for p in rows:
            out = outcomes.get(p.combination.combo_id)
            v = out.metrics.get(k) if out is not None else None
            values.append(np.nan if v is None else v)
        present = [v for v in values if not _nan(v)]
        if present and all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) for v in present
        ):  # counts stay whole numbers; failed rows are <NA>
            data[k] = pd.Series([None if _nan(v) else int(v) for v in values], dtype="Int64")
        elif all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool) for v in values
        ):
            data[k] = pd.Series(values, dtype="float64")
        else:
            data[k] = pd.Series([None if _nan(v) else str(v) for v in values], dtype="str")
    frame = pd.DataFrame(data)
    frame.insert(1, "rank", add_rank(frame, spec.rank_by, spec.ascending))
    return frame


def _nan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def add_rank(frame: pd.DataFrame, metric: str, ascending: bool) -> pd.Series:
    """1 = best by ``metric`` among successful rows with a value; ties keep combination order;
    rows without a value get no rank (``<NA>``)."""
    ranks = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    if metric not in frame.columns:
        return ranks
    ok = frame["status"].eq(STATUS_OK) & frame[metric].notna()
    sub = frame.loc[ok, ["combo_id", metric]]
    order = sub.sort_values(
        [metric, "combo_id"], ascending=[ascending, True], kind="mergesort"
    ).index
    ranks.loc[order] = np.arange(1, len(order) + 1)
    return ranks


def ranked(frame: pd.DataFrame) -> pd.DataFrame:
    """The ranked rows (best first), then the rows without a rank in combination order."""
    has = frame["rank"].notna()
    return pd.concat([frame[has].sort_values("rank"), frame[~has]])


def metric_columns(frame: pd.DataFrame, spec: SweepSpec) -> list[str]:
    fixed = {*ID_COLUMNS, *STATUS_COLUMNS, *spec.keys, "period_start", "period_end"}
    return [c for c in frame.columns if c not in fixed]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def ranked_table(frame: pd.DataFrame, spec: SweepSpec, *, top: int = 10) -> str:
    """Plain-text table of the best ``top`` rows by the ranking metric, with a status line."""
    from perphedge.report.fmt import fmt_metric, fmt_value, metric_label

    order = ranked(frame)
    shown = order[order["rank"].notna()].head(top)
    metrics = [spec.rank_by] + [
        m for m in TABLE_METRICS if m != spec.rank_by and m in frame.columns
    ]
    metrics = [m for m in metrics if m in frame.columns]
    params = list(spec.keys) + (["period_start", "period_end"] if spec.periods else [])
    header = ["#", "combo"] + [_fit(p, 22) for p in params]
    header += [_SHORT.get(m) or _fit(metric_label(m), 24) for m in metrics]
    body = []
    for _, row in shown.iterrows():
        cells = [str(int(row["rank"])), str(row["combo_id"])]
        cells += [_fit(fmt_value(row[p]), 22) for p in params]
        cells += [fmt_metric(m, row[m]) for m in metrics]
        body.append(cells)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    n_num = len(metrics)

    def line(cells: list[str]) -> str:
        out = []
        for i, (c, w) in enumerate(zip(cells, widths, strict=True)):
            right = i == 0 or i >= len(cells) - n_num
            out.append(c.rjust(w) if right else c.ljust(w))
        return "  ".join(out).rstrip()

    direction = "lowest first" if spec.ascending else "highest first"
    lines = [
        f"Ranked by {metric_label(spec.rank_by)} ({spec.rank_by}, {direction}); "
        "metrics of the hedged side",
        "",
    ]
    if body:
        lines += [line(header), line(["-" * w for w in widths])]
        lines += [line(r) for r in body]
    else:
        lines.append(f"(no combination has a value for {spec.rank_by})")
    lines.append("")
    lines.append(summary_line(frame))
    unhedged = unhedged_reference(frame)
    if not unhedged.empty:
        for _, u in unhedged.iterrows():
            where = f" {u['period']}" if "period" in u and u["period"] else ""
            lines.append(
                f"Unhedged{where}: total return {fmt_metric('unhedged_total_return', u['ret'])}, "
                f"Sharpe {fmt_metric('unhedged_sharpe', u['sharpe'])}, "
                f"max drawdown {fmt_metric('unhedged_max_drawdown', u['mdd'])}"
            )
    failed = frame[frame["status"].ne(STATUS_OK)]
    for _, row in failed.head(5).iterrows():
        lines.append(f"  {row['combo_id']} {row['status']}: {row['error_type']}: {row['error']}")
    if len(failed) > 5:
        lines.append(f"  ... and {len(failed) - 5} more (see results.csv)")
    return "\n".join(lines)


def summary_line(frame: pd.DataFrame) -> str:
    counts = frame["status"].value_counts()
    parts = [f"{int(counts.get(s.value, 0))} {s.value}" for s in Status]
    return f"{len(frame)} combinations: " + ", ".join(parts)


def unhedged_reference(frame: pd.DataFrame) -> pd.DataFrame:
    """The unhedged side's return, Sharpe and drawdown, once per period (they do not depend on
    the hedge parameters unless the counterfactual holds collateral)."""
    need = ["unhedged_total_return", "unhedged_sharpe", "unhedged_max_drawdown"]
    if any(c not in frame.columns for c in need):
        return pd.DataFrame()
    ok = frame[frame["status"].eq(STATUS_OK)]
    if ok.empty:
        return pd.DataFrame()
    period = (
        ok["period_start"].astype(str) + ".." + ok["period_end"].astype(str)
        if "period_start" in ok.columns
        else pd.Series("", index=ok.index)
    )
    ref = pd.DataFrame(
        {
            "period": period,
            "ret": ok["unhedged_total_return"],
            "sharpe": ok["unhedged_sharpe"],
            "mdd": ok["unhedged_max_drawdown"],
            "vol": ok.get("unhedged_volatility", pd.Series(np.nan, index=ok.index)),
        }
    )
    return ref.drop_duplicates(subset=["period", "ret", "mdd"]).reset_index(drop=True)
