"""Counterfactuals on the same capital: the review's cases (a linear leg's USDT collateral)."""

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
