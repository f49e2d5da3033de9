"""events.csv prices are the prices actually used: a liquidation's fill, a funding payment's mark."""

import dataclasses
import math

import pytest
from engine_tables import col, make_market, make_params

from perphedge.domain import SizingRule
from perphedge.engine import simulate
from perphedge.engine.simulate import funding_mark_used


def test_position_entering_past_its_liquidation_price_reports_the_previous_mark_close():
    # C = 1 ETH, basket 4 ETH, basket_only short 800 contracts at E = 2,000 (P_liq 2,653.33).
    # Bar 1 charges funding at rate -12 % on the 2,400 mark: 800*10*(-0.12)/2400 = -0.4 ETH, so
    # C = 0.6 and P_liq = 0.995*8000/(4 - 0.6) = 2,341.18, below bar 1's close of 2,400. Bar 2's
    # high 2,500 liquidates at the previous mark close, 2,400 (not 2,341.18), and says so.
    m = make_market(
        [2000.0, 2400.0, 2500.0], high=[2000.0, 2400.0, 2500.0], funding_rate=[0.0, -0.12, 0.0]
    )
    p = make_params(sizing=SizingRule.BASKET_ONLY, collateral_usd=2000.0)
    r = simulate(m, p, col([1.0] * 3))
    assert r.timeseries["liq_price_0"].iloc[1] == pytest.approx(7960 / 3.4, rel=1e-12)
    liq = r.events[r.events["kind"] == "liquidation"]
    assert list(liq["time"]) == [r.timeseries.index[2]]
    assert liq["price"].iloc[0] == 2400.0
    fill = r.trades[r.trades["reason"] == "liquidation"]
    assert fill["price"].iloc[0] == 2400.0


def test_funding_row_shows_the_mark_the_payment_used():
    # Rate 0.1 % paid at a mark of 1,600 (the bar's open; the close is 2,000) on 800 contracts:
    # 800*10*0.001/1600 = 0.005 ETH. The row's price is 1,600, so coins = -contracts*S*rate/price.
    m = make_market([2000.0, 2000.0], funding_rate=[0.0, 0.001])
    m = dataclasses.replace(m, funding_per_unit=col([0.0, 10 * 0.001 / 1600]))
    p = make_params(sizing=SizingRule.BASKET_ONLY, collateral_usd=2000.0)
    r = simulate(m, p, col([1.0, 1.0]))
    row = r.events[r.events["kind"] == "funding"].iloc[0]
    assert row["price"] == pytest.approx(1600.0, rel=1e-12)
    assert row["coins"] == pytest.approx(0.005, rel=1e-12)
    assert row["coins"] == pytest.approx(
        -row["contracts"] * 10 * row["target_ratio"] / row["price"], rel=1e-12
    )


def test_funding_mark_used_inverse_linear_and_no_payment():
    assert funding_mark_used(True, 100.0, 0.0003, 100.0 * 0.0003 / 25_000.0) == pytest.approx(
        25_000.0, rel=1e-12
    )
    assert funding_mark_used(False, 0.001, 0.0003, 0.0003 * 1_600.0) == pytest.approx(
        1_600.0, rel=1e-12
    )
    assert math.isnan(funding_mark_used(True, 100.0, 0.0, 0.0))
