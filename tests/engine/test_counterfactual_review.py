"""Review cases: counterfactuals on the same capital, the 5970 liquidation end to end."""

import pytest
from engine_tables import col, free_leg, make_market, make_params

from perphedge.domain import Counterfactual, InstrumentKind
from perphedge.engine import simulate


@pytest.mark.parametrize("from_basket", [False, True])
def test_basket_and_collateral_keeps_a_linear_legs_usdt(from_basket):
    # Capital 10,000, no costs. A linear ETH/USDT leg posts 2,000 USDT from the capital (USDT is
    # not a basket coin, so collateral_from_basket cannot take it from the basket); the basket
    # gets 8,000 = 4 ETH at 2,000. The unhedged side holds the hedged side's basket plus the
    # same collateral, no short: 4 ETH + 2,000 USDT.
    #   bar 0 (2000): 8000 + 2000 = 10000;  bar 1 (2000): 10000;  bar 2 (2200): 8800 + 2000 = 10800
    # (Before the fix, with collateral_from_basket the USDT was left out: 8000, 8000, 8800, i.e.
    # the unhedged side started with 2,000 USD less capital than the hedged one.)
    m = make_market(
        [2000.0, 2000.0, 2200.0],
        legs=("binance ETH/USDT:USDT",),
        kinds=(InstrumentKind.LINEAR,),
        contract_sizes=(0.001,),
    )
    p = make_params(
        collateral_usd=2000.0,
        legs=(free_leg(InstrumentKind.LINEAR, 0.001),),
        collateral_from_basket=from_basket,
        counterfactual=Counterfactual.BASKET_AND_COLLATERAL,
    )
    r = simulate(m, p, col([1.0] * 3))
    ts = r.timeseries
    assert ts["units_ETH"].iloc[0] == pytest.approx(4.0, rel=1e-12)
    assert list(ts["equity_unhedged"]) == pytest.approx([10_000, 10_000, 10_800], rel=1e-12)
    assert list(ts["equity_hedged"]) == pytest.approx([10_000, 10_000, 10_000], rel=1e-12)


def test_delta_neutral_short_liquidates_at_5970_on_the_bar_high():
    # hedging-model.md: C = 1 ETH, N*S = 6000 at E = 3000, m = 0.005 -> P_liq = 5970.
    # Capital 6,000: collateral 3,000 USD = 1 ETH; basket 3,000 USDC (flat at 1).
    # Delta-neutral, h = 1: q* = (-h*B - C*P)/S = (-3000 - 3000)/10 = -600 contracts at 3,000.
    # bar 1: high 5969.99 < 5970 -> alive; bar 2: close 4,000 but high 5,970 -> liquidated at
    # P_liq with the state entering the bar; the wallet keeps m*N*S/P_liq = 30/5970 ETH
    # (liquidation fee 0 here), i.e. 1 + (-6000)*(1/3000 - 1/5970).
    T = 3
    eth = [3000.0, 3000.0, 4000.0]
    m = make_market(
        [[1.0]] * T,
        coins=("USDC",),
        mark=col(eth),
        high=col([3000.0, 5969.99, 5970.0]),
        coin_usd=col(eth),
    )
    p = make_params(
        capital=6000.0,
        collateral_usd=3000.0,
        legs=(free_leg(liquidation_fee=0.0),),
        rehedge_after_liquidation=False,
    )
    r = simulate(m, p, col([1.0] * T))
    ts = r.timeseries
    assert list(ts["contracts_0"]) == [-600.0, -600.0, 0.0]
    assert ts["liq_price_0"].iloc[0] == pytest.approx(5970.0, rel=1e-12)
    liq = r.events[r.events["kind"] == "liquidation"]
    assert list(liq["time"]) == [ts.index[2]]
    assert liq["price"].iloc[0] == pytest.approx(5970.0, rel=1e-12)
    assert ts["collateral_coin_0"].iloc[2] == pytest.approx(30.0 / 5970.0, rel=1e-9)
    assert ts["collateral_coin_0"].iloc[2] == pytest.approx(
        1.0 - 6000.0 * (1 / 3000 - 1 / 5970), rel=1e-9
    )
