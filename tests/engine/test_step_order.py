"""Step order at a bar close (docs/engine.md): liquidation -> mark -> funding -> basket
rebalance -> trades -> margin.

One bar where a liquidation, a funding event and a scheduled rebalance coincide; each step must
see the state the spec says.
"""

import pytest
from engine_tables import HOUR, col, free_leg, make_market, make_params

from perphedge.engine import simulate


def test_liquidation_funding_rebalance_in_one_bar():
    # Bars open at 21:00, 22:00, 23:00 UTC; daily rebalance -> bar 0 (first) and bar 2 (its
    # close is 00:00). Collateral 2,000 USD = 1 ETH at 2,000; basket 8,000 = 4 ETH.
    # Delta-neutral: N*S = C*P + h*B = 10,000 -> 1,000 contracts, E = 2,000.
    # P_liq (state entering bar 2) = 0.995*10000/(10000/2000 - 1) = 2487.5.
    # Bar 2: close 2500, high 2700 >= 2487.5, funding r = +1e-4 at mark 2500.
    m = make_market(
        [2000, 2000, 2500],
        high=[2000, 2000, 2700],
        funding_rate=[0, 0, 0.0001],
        start_ns=21 * HOUR,
    )
    p = make_params(collateral_usd=2000.0, legs=(free_leg(liquidation_fee=0.002),))
    r = simulate(m, p, col([1.0, 1.0, 1.0]))
    ev = r.events[r.events["time"] == r.timeseries.index[2]].reset_index(drop=True)
    # events in step order
    assert list(ev["kind"]) == ["liquidation", "funding", "rebalance"]

    # (1) the liquidation used the wallet ENTERING the bar (C = 1, funding not yet paid):
    #     with funding first it would be 9950/(5 - 1.0004) = 2487.7488
    assert ev.loc[0, "price"] == pytest.approx(2487.5, rel=1e-12)
    assert ev.loc[0, "contracts"] == 1000.0
    # close at P_liq: C + realized = m*N*S/P_liq; liquidation fee 0.2 % of N*S/P_liq
    left = 0.005 * 10_000 / 2487.5 - 0.002 * 10_000 / 2487.5
    # (3) funding on the position entering the bar (-1000), though it was liquidated:
    #     1000*10/2500*1e-4 = 0.0004 ETH
    assert ev.loc[1, "contracts"] == -1000.0
    assert ev.loc[1, "coins"] == pytest.approx(0.0004, rel=1e-12)
    wallet = left + 0.0004
    # (4) the rebalance saw the state after steps 1-3: flat, wallet = left + funding.
    #     actual = -X*P/B = -wallet*2500/10000; q* = (-10000 - wallet*2500)/10 -> -1003
    assert ev.loc[2, "actual_ratio"] == pytest.approx(-wallet * 2500 / 10_000, rel=1e-9)
    assert ev.loc[2, "contracts"] == -1003.0
    ts = r.timeseries
    assert ts["contracts_0"].iloc[2] == -1003.0
    assert ts["entry_price_0"].iloc[2] == 2500.0
    assert ts["collateral_coin_0"].iloc[2] == pytest.approx(wallet, rel=1e-9)
    assert ts["equity_hedged"].iloc[2] == pytest.approx(10_000 + wallet * 2500, rel=1e-12)
    # bar 1 was not a rebalance time: nothing traded there
    assert (r.trades["time"] != ts.index[1]).all()


def test_funding_uses_the_position_before_the_bars_trade():
    # hourly rebalancing; the target halves at bar 1 where a funding event also falls:
    # funding is paid on the 800 contracts entering bar 1, not the 400 after the trade.
    m = make_market([2000, 2000, 2000], funding_rate=[0, 0.0001, 0.0001])
    from perphedge.domain import SizingRule

    p = make_params(sizing=SizingRule.BASKET_ONLY, collateral_usd=2000.0, rebalance_every_ns=HOUR)
    r = simulate(m, p, col([1.0, 0.5, 0.5]))
    fund = r.events[r.events["kind"] == "funding"]
    # 800*10/2000*1e-4 = 0.0004 at bar 1; 400*10/2000*1e-4 = 0.0002 at bar 2
    assert list(fund["contracts"]) == [-800.0, -400.0]
    assert list(fund["coins"]) == pytest.approx([0.0004, 0.0002], rel=1e-12)
    assert list(r.timeseries["contracts_0"]) == [-800.0, -400.0, -400.0]


def test_basket_rebalance_comes_before_the_hedge_decision():
    # Step 3b before step 4: coins A, B at 100, 1/2 each; 3,000 USD of A collateral (30 A), so
    # the basket is 35 A + 35 B; one basket_only A leg covering A alone, target 1, no costs.
    # Bar 2: A 125 -> A 4,375 and B 3,500 (weight 0.556, off by 0.056 > 0.05): the basket goes
    # back to 3,937.5 each first (31.5 A, 39.375 B), and the hedge then shorts
    # 3,937.5 / 10 -> 394 contracts (sized before the basket trades: 4,375 / 10 -> 437).
    import numpy as np

    from perphedge.domain import SizingRule

    spot = [[100.0, 100.0], [100.0, 100.0], [125.0, 100.0]]
    m = make_market(spot, coins=("A", "B"), legs=("binance A/USD:A",), start_ns=21 * HOUR)
    p = make_params(
        weights=np.array([0.5, 0.5]),
        sizing=SizingRule.BASKET_ONLY,
        collateral_usd=3000.0,
        covers=np.array([[True, False]]),
        basket_rebalance_every_ns=24 * HOUR,
        basket_rebalance_band=0.05,
    )
    r = simulate(m, p, col([1.0, 1.0, 1.0]))
    ts = r.timeseries
    assert list(ts["contracts_0"]) == [-350.0, -350.0, -394.0]
    assert ts["units_A"].iloc[2] == pytest.approx(31.5, rel=1e-12)
    assert ts["units_B"].iloc[2] == pytest.approx(39.375, rel=1e-12)
    at2 = r.trades[r.trades["time"] == ts.index[2]]
    assert list(at2["reason"]) == ["basket_rebalance", "basket_rebalance", "rebalance"]
