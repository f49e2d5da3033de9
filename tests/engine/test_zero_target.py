"""A target of exactly 0 closes the leg outright and hands its collateral back to the basket."""

import numpy as np
import pytest
from engine_tables import HOUR, col, free_leg, make_market, make_params

from perphedge.domain import SizingRule
from perphedge.engine import simulate


@pytest.mark.parametrize("sizing", [SizingRule.DELTA_NEUTRAL, SizingRule.BASKET_ONLY])
def test_zero_target_closes_withdraws_and_reopening_tops_up(sizing):
    # ETH flat at 2,000; the basket is ETH itself (the margin coin); no costs.
    # bar 0: capital 12,000, L = 3, h = 1. delta-neutral: C*P = 12000/(3-1+1) = 4000 -> C = 2,
    #   basket 4 ETH, N*S = C*P + B = 12,000 -> 1,200 contracts (leverage 6/2 = 3).
    #   basket-only: C*P = 12000/(3+1) = 3000 -> C = 1.5, basket 4.5 ETH, N*S = 9,000 -> 900.
    # bar 1: h = 1, nothing moves, no trade.
    # bar 2: h = 0 -> the short closes (a band of 0.05 does not stop it); leverage 0 is below
    #   the band's floor 1.5, so all collateral goes back to the basket: 6 ETH, C = 0.
    # bar 3: h = 1 -> reopen from C = 0: delta-neutral N*S = 0 + 12,000 (1,200 contracts),
    #   basket-only N*S = 12,000 too; step 5 tops the empty wallet up to leverage 3:
    #   C = 6/3 = 2 ETH moved from the basket's own ETH (no trade), basket 4 ETH.
    m = make_market([2000.0] * 4)
    p = make_params(
        capital=12_000.0,
        initial_leverage=3.0,
        sizing=sizing,
        manage_margin=True,
        leverage_band=(1.5, 5.0),
        leverage_target=3.0,
        rebalance_every_ns=HOUR,
        rebalance_band=0.05,
        legs=(free_leg(),),
    )
    r = simulate(m, p, col([1.0, 1.0, 0.0, 1.0]))
    ts = r.timeseries
    first = -1200.0 if sizing is SizingRule.DELTA_NEUTRAL else -900.0
    c0 = 2.0 if sizing is SizingRule.DELTA_NEUTRAL else 1.5
    assert list(ts["contracts_0"]) == [first, first, 0.0, -1200.0]
    assert ts["collateral_coin_0"].tolist() == pytest.approx([c0, c0, 0.0, 2.0], abs=1e-12)
    assert ts["units_ETH"].tolist() == pytest.approx([6 - c0, 6 - c0, 6.0, 4.0], abs=1e-12)
    np.testing.assert_allclose(ts["equity_hedged"].to_numpy(), 12_000.0, rtol=1e-12)
    kinds = r.events["kind"].tolist()
    assert kinds.count("withdraw") == 1 and kinds.count("topup") == 1
    # the basket held the margin coin, so both transfers moved coins without a spot trade
    assert set(r.trades["reason"]) == {"initial", "rebalance"}
