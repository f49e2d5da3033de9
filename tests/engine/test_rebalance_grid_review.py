"""Rebalance times on a grid that is not epoch-aligned: weekly bars open on Mondays."""

import numpy as np
import pandas as pd
from engine_tables import DAY, col, make_market, make_params

from perphedge.domain import SizingRule
from perphedge.engine import simulate

WEEK = 7 * DAY
MONDAY = pd.Timestamp("2024-01-01", tz="UTC").value  # a Monday: ccxt/Binance weekly bar open


def test_weekly_bars_rebalance_every_week():
    # 1w bars opening on Mondays (the data layer's weekly grid), rebalance every 1w.
    # basket_only, h = 1: collateral 2,000 USD = 1 ETH, basket 8,000 = 4 ETH at 2,000.
    #   bar 0 (2000): N*S = 8000 -> 800 contracts
    #   bar 1 (2500): closes Monday 2024-01-15, a rebalance time: B = 10000 -> 1000 contracts
    #   bar 2 (2000): closes Monday 2024-01-22: B = 8000 -> 800 contracts
    # (Before the fix the schedule was (close % 1w == 0), i.e. Thursdays, which no Monday close
    # ever hits: the hedge stayed at 800 contracts for the whole run.)
    m = make_market([2000.0, 2500.0, 2000.0], bar_ns=WEEK, start_ns=MONDAY)
    p = make_params(sizing=SizingRule.BASKET_ONLY, collateral_usd=2000.0, rebalance_every_ns=WEEK)
    r = simulate(m, p, col([1.0, 1.0, 1.0]))
    assert list(r.timeseries["contracts_0"]) == [-800.0, -1000.0, -800.0]


def test_two_weekly_rebalance_on_weekly_bars_and_daily_unchanged():
    # every 2w on the Monday grid: the closes where (close - Monday phase) is a whole number of
    # 2 weeks since the epoch, i.e. an even number of weeks after Monday 1970-01-05:
    # 2024-01-08 is week 2818 (even), 01-15 week 2819, 01-22 week 2820, 01-29 week 2821.
    # bar 0 opens the hedge (800); bar 1 (closes 01-15, odd) keeps it although B = 10000;
    # bar 2 (01-22, even) trades to B = 4*2200 = 8800 -> 880; bar 3 (01-29, odd) keeps 880.
    m = make_market([2000.0, 2500.0, 2200.0, 2000.0], bar_ns=WEEK, start_ns=MONDAY)
    p = make_params(
        sizing=SizingRule.BASKET_ONLY, collateral_usd=2000.0, rebalance_every_ns=2 * WEEK
    )
    r = simulate(m, p, col([1.0] * 4))
    assert list(r.timeseries["contracts_0"]) == [-800.0, -800.0, -880.0, -880.0]
    # daily bars from 21:00 still rebalance at 00:00 UTC closes (epoch aligned)
    hour = DAY // 24
    m = make_market(np.full(30, 2000.0), bar_ns=hour, start_ns=MONDAY + 21 * hour)
    targets = col(np.linspace(1.0, 0.5, 30))
    r = simulate(m, make_params(sizing=SizingRule.BASKET_ONLY, collateral_usd=2000.0), targets)
    traded = r.trades[r.trades["instrument"] == "inverse"]["time"]
    assert [t.strftime("%d %H:%M") for t in traded] == ["01 21:00", "01 23:00", "02 23:00"]
