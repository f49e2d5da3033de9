"""Coins already held (``basket_held``, from ``basket.quantities``) pay no entry costs."""

import pytest
from engine_tables import col, free_leg, make_market, make_params

from perphedge.engine import simulate


@pytest.mark.parametrize("held", [False, True])
def test_held_basket_pays_no_entry_costs_on_either_side(held):
    # 5 BTC at 60,000 = 300,000 USD of capital, margin BTC taken from the basket, spot fee 0.1 %
    # and slippage 5 bp. Bought: 300000*w/(60000*1.0005*1.001) = 4.99251 BTC on each side.
    # Held: exactly 5 BTC on each side (basket + margin wallet on the hedged side).
    m = make_market([60_000.0, 60_000.0], coins=("BTC",), legs=("binance BTC/USD:BTC",),
                    contract_sizes=(100.0,))  # fmt: skip
    p = make_params(
        capital=300_000.0,
        spot_fee=0.001,
        spot_slippage=0.0005,
        collateral_from_basket=True,
        initial_leverage=3.0,
        legs=(free_leg(size=100.0),),
        basket_held=held,
    )
    r = simulate(m, p, col([1.0, 1.0]))
    ts = r.timeseries
    expected = 5.0 if held else 300_000.0 / (60_000.0 * 1.0005 * 1.001)
    assert ts["units_BTC"].iloc[0] + ts["collateral_coin_0"].iloc[0] == pytest.approx(
        expected, rel=1e-12
    )
    assert ts["equity_unhedged"].iloc[0] == pytest.approx(expected * 60_000.0, rel=1e-12)
    assert ts["fees_cum_usd"].iloc[0] == (0.0 if held else pytest.approx(expected * 60_030 * 0.001))
