"""``basket.rebalance``: the basket traded back to its weights, after costs, on both sides.

Hand table: coins A and B, 1/2 each, 10,000 USD already held (50 A and 50 B at 100), daily bars
from the epoch, daily basket rebalancing with band 0.05, spot fee f = 0.1 %, slippage s = 5 bp,
and a hedge leg held at target 0 (so the equity is the basket's).

Bar 2: A 150, B 100: values 7,500 and 5,000, weights 0.6 / 0.4 (drift 0.1 > 0.05). With
``rho = (1 - s)(1 - f)`` USD per USD sold and ``c = (1 + s)(1 + f)`` USD per USD bought, the
value after the trades ``V'`` solves ``(V'/2 - 5,000)·c = (7,500 - V'/2)·rho``:
``V' = (7,500·rho + 5,000·c) / ((rho + c)/2)``. A is sold down to ``V'/2``, every dollar of the
sale buys B, and both end at ``V'/2``. Bar 3 (A 160: weight 0.516) stays inside the band.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_tables import DAY, col, free_leg, make_market, make_params

from perphedge.engine import simulate

S, F = 0.0005, 0.001
RHO, COST = (1 - S) * (1 - F), (1 + S) * (1 + F)
SPOT = [[100.0, 100.0], [100.0, 100.0], [150.0, 100.0], [160.0, 100.0]]


def _run(every: int = DAY, band: float = 0.05):
    market = make_market(SPOT, coins=("A", "B"), legs=("binance A/USD:A",), bar_ns=DAY)
    params = make_params(
        weights=np.array([0.5, 0.5]),
        legs=(free_leg(),),
        spot_fee=F,
        spot_slippage=S,
        basket_held=True,
        basket_rebalance_every_ns=every,
        basket_rebalance_band=band,
    )
    return simulate(market, params, col([0.0] * 4))


def test_rebalanced_basket_trades_and_weights_after_costs() -> None:
    r = _run()
    v_after = (7_500 * RHO + 5_000 * COST) / ((RHO + COST) / 2)  # 12,496.25... USD
    sold = (7_500 - v_after / 2) / 150
    proceeds = sold * 150 * (1 - S) * (1 - F)
    bought = proceeds / (100 * COST)
    tr = r.trades[r.trades["reason"] == "basket_rebalance"].reset_index(drop=True)
    assert list(tr["leg_or_coin"]) == ["A", "B"] and list(tr["side"]) == ["sell", "buy"]
    assert (tr["time"] == r.timeseries.index[2]).all()
    assert tr.loc[0, "qty"] == pytest.approx(sold, rel=1e-12)
    assert tr.loc[1, "qty"] == pytest.approx(bought, rel=1e-12)
    assert tr.loc[0, "price"] == pytest.approx(150 * (1 - S), rel=1e-15)
    assert tr.loc[1, "price"] == pytest.approx(100 * (1 + S), rel=1e-15)
    fees = sold * 150 * (1 - S) * F + bought * 100 * (1 + S) * F
    slip = sold * 150 * S + bought * 100 * S
    assert tr["fee_usd"].sum() == pytest.approx(fees, rel=1e-12)
    assert tr["slippage_usd"].sum() == pytest.approx(slip, rel=1e-12)
    ts = r.timeseries
    assert ts["units_A"].iloc[2] == pytest.approx(50 - sold, rel=1e-12)
    assert ts["units_B"].iloc[2] == pytest.approx(50 + bought, rel=1e-12)
    # both coins at V'/2: the weights are back at 1/2 and the costs are the value lost
    assert ts["units_A"].iloc[2] * 150 == pytest.approx(v_after / 2, rel=1e-12)
    assert ts["units_B"].iloc[2] * 100 == pytest.approx(v_after / 2, rel=1e-12)
    assert ts["equity_hedged"].iloc[2] == pytest.approx(12_500 - fees - slip, rel=1e-12)
    assert ts["fees_cum_usd"].iloc[-1] == pytest.approx(fees, rel=1e-12)
    # bar 3 is inside the band: no trade; the unhedged side is rebalanced the same way
    assert len(tr) == 2
    np.testing.assert_allclose(ts["equity_unhedged"], ts["equity_hedged"], rtol=1e-12)
    assert r.attribution["fees"] == pytest.approx(-fees, rel=1e-12)


def test_no_rebalance_when_the_band_is_wide_or_off_calendar() -> None:
    assert (_run(band=0.2).trades["reason"] != "basket_rebalance").all()
    # weekly points: 1970-01-01 is a Thursday and the epoch-aligned 7d points fall on
    # Thursday 00:00, the close of bar 6; none of bars 1-3 closes there
    assert (_run(every=7 * DAY).trades["reason"] != "basket_rebalance").all()


def test_buy_and_hold_by_default() -> None:
    r = _run(every=0)
    assert r.trades.empty or (r.trades["reason"] != "basket_rebalance").all()
    assert r.timeseries["units_A"].iloc[-1] == 50.0
    # unhedged buy and hold: 50 * 160 + 50 * 100
    assert r.timeseries["equity_unhedged"].iloc[-1] == 13_000.0
