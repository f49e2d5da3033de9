"""Liquidation scenario: a spike through P_liq closes the short at P_liq with a capped fee,
the run goes on and re-hedges (or not)."""

import math

import pytest
from engine_tables import col, free_leg, make_market, make_params

from perphedge.domain import SizingRule
from perphedge.engine import simulate

# C = 1 ETH (2,000 USD at 2,000), basket 4 ETH, basket_only short 800 contracts at E = 2,000.
# P_liq = 0.995*8000/(8000/2000 - 1) = 7960/3 = 2653.33. Bar 2's high (2700) crosses it.
P_LIQ = 7960 / 3
CLOSES = [2000, 2400, 2500, 2500]
HIGHS = [2000, 2400, 2700, 2500]


def _run(targets=(1.0, 1.0, 1.0, 1.0), **kw):
    liq_fee = kw.pop("liquidation_fee", 0.002)
    m = make_market(CLOSES, high=HIGHS)
    p = make_params(
        sizing=SizingRule.BASKET_ONLY,
        collateral_usd=2000.0,
        legs=(free_leg(liquidation_fee=liq_fee),),
        **kw,
    )
    return simulate(m, p, col(list(targets)))


def test_liquidation_closes_at_p_liq_with_fee_then_rehedges_and_tops_up():
    r = _run(manage_margin=True, leverage_band=(1.5, 20.0), leverage_target=3.0)
    ts = r.timeseries
    assert ts["liq_price_0"].iloc[1] == pytest.approx(P_LIQ, rel=1e-12)
    liq = r.events[r.events["kind"] == "liquidation"]
    assert len(liq) == 1 and liq["time"].iloc[0] == ts.index[2]
    assert liq["price"].iloc[0] == pytest.approx(P_LIQ, rel=1e-12)
    # fee 0.2 % of N*S/P_liq coins; what is left = maintenance - fee = (0.005-0.002)*8000/P_liq
    fee = 0.002 * 8000 / P_LIQ
    assert liq["coins"].iloc[0] == pytest.approx(fee, rel=1e-12)
    left = 0.003 * 8000 / P_LIQ
    fill = r.trades[r.trades["reason"] == "liquidation"]
    assert list(fill["side"]) == ["buy"] and list(fill["qty"]) == [800.0]
    assert fill["price"].iloc[0] == pytest.approx(P_LIQ, rel=1e-12)
    assert fill["slippage_usd"].iloc[0] == 0.0
    assert fill["fee_usd"].iloc[0] == pytest.approx(fee * 2500, rel=1e-12)
    # the run goes on: re-hedge at the same close, q* = -B/S = -4*2500/10 = -1000 at 2500
    assert ts["contracts_0"].iloc[2] == -1000.0 and ts["entry_price_0"].iloc[2] == 2500.0
    # leverage (10000/2500)/left >> 20 -> top-up to 3: C' = 4/3 coins, moved straight from the
    # basket's own ETH (no trade): basket 4 - (4/3 - left) ETH
    topup = r.events[r.events["kind"] == "topup"]
    assert len(topup) == 1
    assert topup["coins"].iloc[0] == pytest.approx(4 / 3 - left, rel=1e-12)
    assert ts["collateral_coin_0"].iloc[2] == pytest.approx(4 / 3, rel=1e-12)
    assert ts["units_ETH"].iloc[2] == pytest.approx(4 - (4 / 3 - left), rel=1e-12)
    assert ts["leverage_0"].iloc[2] == pytest.approx(3.0, rel=1e-12)
    assert (r.trades["reason"] != "topup").all()
    # equity: basket and wallet at 2500, uPnL 0: (4 + left)*2500
    assert ts["equity_hedged"].iloc[2] == pytest.approx((4 + left) * 2500, rel=1e-12)
    # new liquidation price 0.995*10000/(4 - 4/3) = 3731.25, and no second liquidation
    assert ts["liq_price_0"].iloc[3] == pytest.approx(9950 / (4 - 4 / 3), rel=1e-12)


def test_no_rehedge_leaves_the_leg_flat_until_the_next_rebalance_time():
    r = _run(rehedge_after_liquidation=False)
    ts = r.timeseries
    assert list(ts["contracts_0"]) == [-800.0, -800.0, 0.0, 0.0]
    assert math.isnan(ts["entry_price_0"].iloc[3]) and math.isnan(ts["liq_price_0"].iloc[3])
    assert ts["collateral_coin_0"].iloc[3] == pytest.approx(0.003 * 8000 / P_LIQ, rel=1e-12)
    # the hedge loss is realized at P_liq, not at the close: equity = 4*2500 + left*2500
    assert ts["equity_hedged"].iloc[3] == pytest.approx(
        (4 + 0.003 * 8000 / P_LIQ) * 2500, rel=1e-12
    )


def test_liquidation_fee_is_capped_at_what_is_left():
    # fee 1 % > maintenance 0.5 %: it takes all that is left (m*N*S/P_liq), never more
    r = _run(rehedge_after_liquidation=False, liquidation_fee=0.01)
    liq = r.events[r.events["kind"] == "liquidation"]
    assert liq["coins"].iloc[0] == pytest.approx(0.005 * 8000 / P_LIQ, rel=1e-9)
    wallet = r.timeseries["collateral_coin_0"].iloc[2]
    assert wallet >= 0.0 and wallet == pytest.approx(0.0, abs=1e-15)


def test_rehedge_uses_the_target_in_force_when_the_row_is_nan():
    r = _run(
        targets=(1.0, 1.0, float("nan"), float("nan")),
        manage_margin=True,
        leverage_band=(1.5, 20.0),
        leverage_target=3.0,
    )
    assert list(r.timeseries["contracts_0"]) == [-800.0, -800.0, -1000.0, -1000.0]
    assert (r.events["kind"] == "liquidation").sum() == 1


def test_rehedge_reopens_at_the_close_of_the_liquidation_bar_itself():
    # Liquidated inside bar 2 (high 2,700 >= P_liq 2,653.33); the reopening trade is dated bar 2,
    # not bar 3: q* = -B/S = -4*2500/10 = -1000 contracts sold at bar 2's close, 2,500.
    r = _run(manage_margin=True, leverage_band=(1.5, 20.0), leverage_target=3.0)
    ev = r.events
    t_liq = ev.loc[ev["kind"] == "liquidation", "time"].iloc[0]
    reopen = ev[(ev["kind"] == "rebalance") & (ev["time"] == t_liq)]
    assert t_liq == r.timeseries.index[2]
    assert list(reopen["contracts"]) == [-1000.0]
    assert reopen["price"].iloc[0] == 2500.0
    assert (ev.loc[ev["kind"] == "rebalance", "time"] > t_liq).sum() == 0
