"""The compact terminal tables: one run's hedged | unhedged summary, and plain aligned tables.

Plain text only (no colour codes), so the output is the same in a terminal, a pipe or a log.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from perphedge.engine.types import Result
from perphedge.report.access import run_title
from perphedge.report.fmt import fmt_metric

# (label, hedged key, unhedged key or None), in the order the summary table shows them.
SUMMARY_ROWS: tuple[tuple[str, str, str | None], ...] = (
    ("Total return", "hedged_total_return", "unhedged_total_return"),
    ("CAGR", "hedged_cagr", "unhedged_cagr"),
    ("Volatility (ann.)", "hedged_volatility", "unhedged_volatility"),
    ("Sharpe", "hedged_sharpe", "unhedged_sharpe"),
    ("Sortino", "hedged_sortino", "unhedged_sortino"),
    ("Max drawdown", "hedged_max_drawdown", "unhedged_max_drawdown"),
    ("Hedge effectiveness", "hedge_effectiveness", None),
    ("Funding net", "funding_net_usd", None),
    ("Fees", "fees_usd", None),
    ("Liquidations", "n_liquidations", None),
)
DASH = "-"


def text_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None
) -> str:
    """Columns padded to their widest cell: first column left-aligned, the others right-aligned,
    a rule under the header. Cells must already be strings."""
    ncol = len(header)
    for r in rows:
        if len(r) != ncol:
            raise ValueError(f"row has {len(r)} cells, header has {ncol}: {list(r)!r}")
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    out = [title] if title else []
    out.append(line(header))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def summary_rows(metrics: dict[str, object]) -> list[list[str]]:
    """[label, hedged, unhedged] cells of the summary; metrics not on a side show '-'."""
    rows = []
    for label, hkey, ukey in SUMMARY_ROWS:
        h = fmt_metric(hkey, metrics.get(hkey))
        u = fmt_metric(ukey, metrics.get(ukey)) if ukey else DASH
        rows.append([label, h, u])
    return rows


def summary_table(result: Result) -> str:
    """The side-by-side hedged | unhedged table printed after a run, headed by the run title."""
    return text_table(
        ["", "hedged", "unhedged"], summary_rows(result.metrics), title=run_title(result)
    )


_SERIES_WARNING = re.compile(
    r"^(?P<exchange>\S+) (?P<symbol>\S+/\S+) (?P<series>ohlcv|mark|index|funding)"
    r"(?P<tf> \S+)?: (?P<rest>.+)$"
)


def group_warnings(warnings: Sequence[str]) -> list[str]:
    """Warnings that differ only in the series they name, merged into one line.

    ``binance SOL/USDT ohlcv 1h: <text>`` and ``binance AVAX/USDT ohlcv 1h: <text>`` become
    ``binance SOL/USDT, AVAX/USDT ohlcv 1h: <text>`` (the same outage in every coin reads as
    one warning). Order is kept (a group sits where its first member was); other warnings pass
    through unchanged.
    """
    groups: dict[tuple[str, str, str, str], list[str]] = {}
    order: list[tuple[str, str, str, str] | str] = []
    for text in warnings:
        m = _SERIES_WARNING.match(str(text))
        if m is None:
            order.append(str(text))
            continue
        key = (m["exchange"], m["series"], m["tf"] or "", m["rest"])
        if key not in groups:
            groups[key] = []
            order.append(key)
        if m["symbol"] not in groups[key]:
            groups[key].append(m["symbol"])
    out = []
    for item in order:
        if isinstance(item, str):
            out.append(item)
            continue
        exchange, series, tf, rest = item
        out.append(f"{exchange} {', '.join(groups[item])} {series}{tf}: {rest}")
    return out


PRICE_SOURCE_HEADER = ("leg", "price", "venue", "market", "series", "timeframe", "origin", "basis")


def _pct(value: object) -> str:
    return f"{float(value):.3f}%" if isinstance(value, (int, float)) else DASH


def price_source_rows(price_sources: Sequence[object]) -> list[list[str]]:
    """Cells of the price-source table from ``meta['price_sources']``: one row per leg and
    price (trade, mark, liquidation high). ``origin`` is own, resampled (from a finer
    timeframe) or substitute (flagged ``WARNING`` when from another venue, market type or a
    coarser timeframe); ``basis`` is the median / largest gap to the leg's own prices."""
    rows = []
    for item in price_sources:
        if not isinstance(item, dict):
            continue
        origin = str(item.get("origin", ""))
        if item.get("built_from"):
            origin += f" from {item['built_from']}"
        if item.get("warning"):
            origin += " (WARNING)"
        basis = DASH
        if item.get("basis_points"):
            basis = f"{_pct(item.get('basis_median_pct'))} / {_pct(item.get('basis_max_pct'))}"
        rows.append(
            [
                str(item.get("leg", "")),
                str(item.get("role", "")),
                str(item.get("venue", "")),
                str(item.get("market", "")),
                f"{item.get('symbol', '')} {item.get('series', '')}",
                str(item.get("timeframe", "")),
                origin,
                basis,
            ]
        )
    return rows


def price_source_table(result: Result) -> str:
    """'Where each price comes from' as a plain table (empty string when not recorded)."""
    rows = price_source_rows(list(result.meta.get("price_sources") or []))
    if not rows:
        return ""
    return text_table(
        list(PRICE_SOURCE_HEADER),
        rows,
        title="Price sources (basis = median / largest gap to the leg's own prices)",
    )
