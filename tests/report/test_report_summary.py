"""Terminal summary, plain tables and number formats, with hand-written expected text."""

from __future__ import annotations

import pytest
from report_synth import make_result

from perphedge.report import fmt_metric, summary_table, text_table
from perphedge.report.fmt import fmt_days, fmt_pct, fmt_usd, metric_label


def test_formats():
    assert fmt_pct(0.1234) == "12.34%"
    assert fmt_pct(-0.05) == "-5.00%"
    assert fmt_usd(-1234.5) == "-$1,234.50"
    assert fmt_usd(12.0) == "$12.00"
    assert fmt_days(12.26) == "12.3 d"
    assert fmt_metric("n_trades", 3.0) == "3"
    assert fmt_metric("hedged_sharpe", 1.5) == "1.50"
    assert fmt_metric("hedged_max_drawdown_days", 40.0) == "40.0 d"
    assert (
        fmt_metric("attr_funding", 398.615) == "$398.62"
    )  # 398.615 is 398.61499.. in binary? no: rounds up
    assert fmt_metric("min_liq_distance", 0.2476) == "24.76%"
    assert fmt_metric("hedged_cagr", float("nan")) == "n/a"
    assert fmt_metric("hedged_cagr", None) == "n/a"
    assert metric_label("unhedged_max_drawdown") == "Max drawdown (unhedged)"
    assert metric_label("attr_hedge_price") == "Attribution: Hedge price PnL"


def test_summary_table_exact_text():
    r = make_result(n_bars=10)
    r.meta["period"] = ["2023-01-01T00:00:00+00:00", "2024-07-01T00:00:00+00:00"]
    r.metrics.update(
        hedged_total_return=0.1234, unhedged_total_return=-0.05,
        hedged_cagr=0.081, unhedged_cagr=-0.0338,
        hedged_volatility=0.2, unhedged_volatility=0.65,
        hedged_sharpe=1.5, unhedged_sharpe=-0.126,
        hedged_sortino=float("nan"), unhedged_sortino=0.0,
        hedged_max_drawdown=-0.1, unhedged_max_drawdown=-0.4567,
        hedge_effectiveness=0.75, funding_net_usd=1234.5, fees_usd=98.7654, n_liquidations=2,
    )  # fmt: skip
    expected = "\n".join(
        [
            "eth_l1_basket (2023-01-01 to 2024-07-01, 1h)",
            " " * 24 + "hedged  unhedged",  # 19 (label) + 2 (gap) + 3 (pad to 9)
            "-------------------  ---------  --------",
            "Total return            12.34%    -5.00%",
            "CAGR                     8.10%    -3.38%",
            "Volatility (ann.)       20.00%    65.00%",
            "Sharpe                    1.50     -0.13",
            "Sortino                    n/a      0.00",
            "Max drawdown           -10.00%   -45.67%",
            "Hedge effectiveness     75.00%         -",
            "Funding net          $1,234.50         -",
            "Fees                    $98.77         -",
            "Liquidations                 2         -",
        ]
    )
    assert summary_table(r) == expected
    assert "\x1b[" not in summary_table(r)  # no colour codes


def test_text_table_layout_and_row_check():
    assert text_table(["", "a", "bb"], [["x", "1", "22"], ["yyy", "333", "4"]]) == (
        "       a  bb\n---  ---  --\nx      1  22\nyyy  333   4"
    )
    with pytest.raises(ValueError, match=r"row has 2 cells, header has 3"):
        text_table(["", "a", "b"], [["x", "1"]])


def test_group_warnings_merges_the_same_outage_across_series():
    from perphedge.report.summary import group_warnings

    gap = "carried the last close forward over 1 missing bar(s): 2023-03-24 13:00 UTC (1 missing)"
    warnings = [
        "binance ETH/USD:ETH: no mark candles; Binance spot ETH/USDT close stands in for the mark",
        f"binance SOL/USDT ohlcv 1h: {gap}",
        f"binance AVAX/USDT ohlcv 1h: {gap}",
        "binance AVAX/USDT ohlcv 1h: another problem",
        f"okx SOL/USDT ohlcv 1h: {gap}",
        f"binance ETH/USD:ETH funding: {gap}",
        "3 liquidation(s) of the hedge; see events.csv and the margin chart",
        f"binance ADA/USDT ohlcv 1h: {gap}",
    ]
    assert group_warnings(warnings) == [
        warnings[0],
        f"binance SOL/USDT, AVAX/USDT, ADA/USDT ohlcv 1h: {gap}",
        "binance AVAX/USDT ohlcv 1h: another problem",
        f"okx SOL/USDT ohlcv 1h: {gap}",
        f"binance ETH/USD:ETH funding: {gap}",
        warnings[6],
    ]
    assert group_warnings([]) == []
