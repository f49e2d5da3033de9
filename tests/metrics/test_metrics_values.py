"""Metrics on tiny hand-made results: values worked out by hand."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pandas as pd
import pytest

from perphedge.engine.types import Result
from perphedge.metrics import (
    cagr,
    compute_metrics,
    daily_equity,
    daily_returns,
    event_counts,
    funding_split,
    hedge_effectiveness,
    max_drawdown,
    sharpe,
    sortino,
    volatility,
)

H = 3_600 * 10**9
D = 24 * H


def idx(start: str, n: int, bar_ns: int) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(
        pd.Timestamp(start, tz="UTC") + pd.to_timedelta(np.arange(n) * bar_ns, unit="ns"),
        name="timestamp",
    )


def test_daily_equity_on_daily_bars_needs_no_start_point():
    eq = pd.Series([100.0, 110.0, 99.0], index=idx("2024-01-01", 3, D))
    d = daily_equity(eq, D)
    assert list(d) == [100.0, 110.0, 99.0]
    assert d.index[0] == pd.Timestamp("2024-01-02", tz="UTC")  # bar 0 closes at 01-02 00:00


def test_daily_equity_on_hourly_bars_takes_midnight_closes_and_the_start():
    # 28 bars opening 01-01 22:00 .. 01-03 01:00; equity 100 + i.
    eq = pd.Series(100.0 + np.arange(28), index=idx("2024-01-01 22:00", 28, H))
    d = daily_equity(eq, H)
    # start (close 01-01 23:00) = 100; close 01-02 00:00 = 101; 01-03 00:00 = 125; last = 127
    assert list(d) == [100.0, 101.0, 125.0, 127.0]
    np.testing.assert_allclose(daily_returns(eq, H), [0.01, 24 / 101, 2 / 125])


def test_max_drawdown_with_recovery():
    e = np.array([100.0, 110.0, 99.0, 121.0, 110.0])
    t = np.arange(5) * D
    depth, days = max_drawdown(e, t)
    assert depth == pytest.approx(-0.1)  # 110 -> 99
    assert days == 2.0  # peak on day 1, back to 110 (121) on day 3


def test_max_drawdown_without_recovery_runs_to_end():
    e = np.array([100.0, 120.0, 90.0, 96.0, 100.0, 110.0])
    t = np.arange(6) * 12 * H
    depth, days = max_drawdown(e, t)
    assert depth == pytest.approx(-0.25)  # 120 -> 90
    assert days == 2.0  # from bar 1 to the last bar (5): 4 half-days


def test_max_drawdown_of_rising_curve_is_zero():
    assert max_drawdown(np.array([1.0, 2.0, 3.0]), np.arange(3) * D) == (0.0, 0.0)


def test_cagr_over_one_year_and_half_year():
    assert cagr(np.array([100.0, 121.0]), np.array([0, 365 * D])) == pytest.approx(0.21)
    # 10 % in half a year compounds to 21 %
    assert cagr(np.array([100.0, 110.0]), np.array([0, 365 * D // 2])) == pytest.approx(0.21)
    assert cagr(np.array([100.0, 0.0]), np.array([0, 10 * D])) == -1.0


def test_vol_sharpe_sortino_hand_computed():
    r = np.array([0.01, -0.02, 0.03, 0.0])
    mean = 0.005
    sd = math.sqrt(((0.005**2) + (0.025**2) + (0.025**2) + (0.005**2)) / 3)
    assert volatility(r) == pytest.approx(sd * math.sqrt(365))
    assert sharpe(r) == pytest.approx(mean / sd * math.sqrt(365))
    down = math.sqrt(0.02**2 / 4)  # = 0.01
    assert sortino(r) == pytest.approx(mean / down * math.sqrt(365))
    assert statistics.stdev(r) == pytest.approx(sd)
    assert math.isnan(sortino(np.array([0.01, 0.02])))  # no down days: undefined
    assert math.isnan(sharpe(np.array([0.01])))


def test_hedge_effectiveness_hand_computed():
    u = np.array([0.02, -0.02, 0.02, -0.02])
    h = np.array([0.01, -0.01, 0.01, -0.01])
    assert hedge_effectiveness(h, u) == pytest.approx(0.75)  # var ratio 1/4
    assert math.isnan(hedge_effectiveness(h, np.zeros(4)))


def test_funding_split_sums_steps_per_leg():
    ts = pd.DataFrame(
        {
            "funding_cum_usd_0": [0.0, 1.0, 1.0, 0.5, 2.0],  # +1, -0.5, +1.5
            "funding_cum_usd_1": [0.0, -2.0, -2.0, -1.0, -1.0],  # -2, +1
            "funding_cum_usd": [0.0, -1.0, -1.0, -0.5, 1.0],  # the total: not counted again
        }
    )
    assert funding_split(ts) == (3.5, 2.5)


def test_event_counts():
    events = pd.DataFrame(
        {"kind": ["rebalance", "funding", "rebalance", "topup", "liquidation", "withdraw", "topup"]}
    )
    trades = pd.DataFrame({"qty": [1.0, 2.0, 3.0]})
    assert event_counts(events, trades) == {
        "n_rebalances": 2,
        "n_trades": 3,
        "n_topups": 2,
        "n_withdrawals": 1,
        "n_liquidations": 1,
    }
    assert event_counts(pd.DataFrame(), pd.DataFrame())["n_rebalances"] == 0


EXPECTED_KEYS = {
    f"{side}_{name}"
    for side in ("hedged", "unhedged")
    for name in (
        "total_return",
        "cagr",
        "volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "max_drawdown_days",
        "final_equity",
    )
} | {
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
    "attr_spot",
    "attr_hedge_price",
    "attr_funding",
    "attr_fees",
    "attr_slippage",
    "attr_collateral_reval",
    "attr_total",
    "equity_change",
}


def small_result() -> Result:
    ts = pd.DataFrame(
        {
            "equity_hedged": [1000.0, 1010.0, 1005.0, 1003.0],
            "equity_unhedged": [1000.0, 1100.0, 900.0, 1000.0],
            "funding_cum_usd_0": [0.0, 2.0, 1.0, 3.0],
            "funding_cum_usd": [0.0, 2.0, 1.0, 3.0],
            "fees_cum_usd": [0.5, 0.5, 0.7, 0.9],
            "slippage_cum_usd": [0.1, 0.1, 0.2, 0.3],
            "leverage_0": [3.0, 3.5, np.nan, 2.5],
            "margin_ratio_0": [0.1, 0.2, 0.15, 0.05],
            "liq_distance_0": [0.5, 0.3, 0.4, 0.6],
        },
        index=idx("2024-01-01", 4, D),
    )
    events = pd.DataFrame({"kind": ["rebalance", "funding", "rebalance"]})
    attribution = {
        "spot": 10.0,
        "hedge_price": -8.0,
        "funding": 3.0,
        "fees": -0.9,
        "slippage": -0.3,
        "collateral_reval": -0.8,
        "total": 3.0,
    }
    return Result(ts, pd.DataFrame({"qty": [1.0, 2.0]}), events, attribution)


def test_compute_metrics_keys_and_values():
    m = compute_metrics(small_result(), D)
    assert set(m) == EXPECTED_KEYS
    assert m["hedged_total_return"] == pytest.approx(0.003)
    assert m["hedged_final_equity"] == 1003.0
    assert m["unhedged_max_drawdown"] == pytest.approx(900 / 1100 - 1)
    assert m["unhedged_max_drawdown_days"] == 2.0  # peak day 1, never recovered, end day 3
    assert m["hedged_max_drawdown"] == pytest.approx(1003 / 1010 - 1)
    assert m["funding_received_usd"] == 4.0  # +2, +2
    assert m["funding_paid_usd"] == 1.0
    assert m["funding_net_usd"] == 3.0
    assert m["fees_usd"] == 0.9 and m["slippage_usd"] == 0.3
    assert (m["n_rebalances"], m["n_trades"], m["n_liquidations"]) == (2, 2, 0)
    assert m["mean_leverage"] == pytest.approx(3.0) and m["max_leverage"] == 3.5
    assert m["max_margin_ratio"] == 0.2 and m["min_liq_distance"] == 0.3
    assert m["attr_spot"] == 10.0 and m["attr_total"] == 3.0
    assert m["equity_change"] == pytest.approx(3.0)
    rh = np.array([0.01, -5 / 1010, -2 / 1005])
    ru = np.array([0.1, -2 / 11, 1 / 9])
    assert m["hedge_effectiveness"] == pytest.approx(
        1 - statistics.variance(rh) / statistics.variance(ru)
    )


def test_returns_run_from_the_capital_so_entry_costs_count():
    # Capital 1,002 put in; entry costs of 2 leave 1,000 at bar 0's close (small_result's curve).
    r = small_result()
    r.meta["capital"] = 1002.0
    m = compute_metrics(r, D)
    assert m["hedged_total_return"] == pytest.approx(1003 / 1002 - 1)
    assert m["unhedged_total_return"] == pytest.approx(1000 / 1002 - 1)
    assert m["equity_change"] == pytest.approx(1.0)
    assert m["hedged_final_equity"] == 1003.0
    # the first daily return starts from the capital: 1010/1002 - 1
    rh = np.array([1010 / 1002 - 1, -5 / 1010, -2 / 1005])
    ru = np.array([1100 / 1002 - 1, -2 / 11, 1 / 9])
    assert m["hedge_effectiveness"] == pytest.approx(
        1 - statistics.variance(rh) / statistics.variance(ru)
    )
    # peak is the capital until the curve passes it: deepest fall 1100 -> 900
    assert m["unhedged_max_drawdown"] == pytest.approx(900 / 1100 - 1)


def test_mean_leverage_counts_only_bars_with_a_position_and_no_negative_zero():
    r = small_result()
    ts = r.timeseries.copy()
    ts["leverage_0"] = [3.0, 0.0, 0.0, 2.5]  # flat on bars 1 and 2
    ts["contracts_0"] = [-10.0, 0.0, 0.0, -8.0]
    ts["funding_cum_usd_0"] = [0.0, 1.0, 1.0, 2.0]  # never pays
    m = compute_metrics(Result(ts, r.trades, r.events, r.attribution), D)
    assert m["mean_leverage"] == pytest.approx(2.75)  # (3 + 2.5) / 2, not / 4
    assert m["max_leverage"] == 3.0
    assert math.copysign(1.0, m["funding_paid_usd"]) == 1.0  # 0.0, not -0.0


def test_metric_keys_list_what_compute_metrics_returns():
    from perphedge.metrics import METRIC_KEYS

    m = compute_metrics(small_result(), D)
    assert {k for k in m if not k.startswith("attr_")} | {"attr_total"} == set(METRIC_KEYS)
    assert set(METRIC_KEYS) <= EXPECTED_KEYS
