"""Collateral management: top-up by selling the basket, withdrawal back into it."""

import pytest
from engine_tables import col, free_leg, make_market, make_params

from perphedge.engine import simulate


def _market(eth):
    # basket: SOL only, flat at 100; hedge leg: ETH inverse (a cross hedge)
    return make_market([[100.0]] * len(eth), coins=("SOL",), mark=col(eth), coin_usd=col(eth))


def _params(band, target):
    # Capital 12,012: 2,002 USD buys 2002/(2000*1.001) = 1 ETH; 10,010 buys 10010/(100*1.001)
    # = 100 SOL. Delta-neutral: N*S = C*P + B = 2000 + 10000 -> 1,200 contracts; lev 6/1 = 6.
    return make_params(
        capital=12_012.0,
        weights=[1.0],
        collateral_usd=2002.0,
        spot_fee=0.001,
        legs=(free_leg(),),
        manage_margin=True,
        leverage_band=band,
        leverage_target=target,
    )


def test_rising_coin_triggers_a_topup_paid_by_selling_the_basket():
    # bar 1: ETH 2200. U = -12000*(1/2000 - 1/2200) = -6/11; margin balance 5/11 ETH;
    # notional 12000/2200 = 60/11 -> leverage 12 > 7. Target 3: C' = (60/11)/3 + 6/11 = 26/11,
    # need 15/11 = 1.363636 ETH, costing 15/11*2200*1.001 = 3003 USD (fee 3.0 on the buy).
    # SOL sold s.t. s*100*0.999 = 3003: s = 30.06006 SOL (fee 3.006006 USD).
    r = simulate(_market([2000.0, 2200.0]), _params((1.5, 7.0), 3.0), col([1.0, 1.0]))
    ts = r.timeseries
    assert ts["units_SOL"].iloc[0] == pytest.approx(100.0, rel=1e-12)
    assert ts["collateral_coin_0"].iloc[0] == pytest.approx(1.0, rel=1e-12)
    assert ts["contracts_0"].iloc[0] == -1200.0
    assert ts["leverage_0"].iloc[0] == pytest.approx(6.0, rel=1e-12)
    sold = 3003 / 99.9
    assert ts["units_SOL"].iloc[1] == pytest.approx(100 - sold, rel=1e-12)
    assert ts["collateral_coin_0"].iloc[1] == pytest.approx(26 / 11, rel=1e-12)
    assert ts["leverage_0"].iloc[1] == pytest.approx(3.0, rel=1e-12)
    tr = r.trades[r.trades["reason"] == "topup"].reset_index(drop=True)
    assert list(tr["leg_or_coin"]) == ["SOL", "ETH"]
    assert list(tr["side"]) == ["sell", "buy"]
    assert tr["qty"].tolist() == pytest.approx([sold, 15 / 11], rel=1e-12)
    assert tr["fee_usd"].tolist() == pytest.approx([sold * 0.1, 3.0], rel=1e-12)
    ev = r.events[r.events["kind"] == "topup"]
    assert ev["coins"].iloc[0] == pytest.approx(15 / 11, rel=1e-12)
    assert ev["usd"].iloc[0] == pytest.approx(3000.0, rel=1e-12)
    # equity before the top-up 10000 + (5/11)*2200 = 11000; the transfer costs only fees
    assert ts["equity_hedged"].iloc[1] == pytest.approx(11000 - 3.0 - sold * 0.1, rel=1e-12)
    # entry fees: 1 ETH * 2000 * 0.001 = 2 and 100 SOL * 100 * 0.001 = 10, then the transfer's
    assert r.attribution["fees"] == pytest.approx(-(12.0 + 3.0 + sold * 0.1), rel=1e-12)


def test_falling_coin_triggers_a_withdrawal_into_the_basket():
    # bar 1: ETH 1500. U = -12000*(1/2000 - 1/1500) = +2; margin balance 3; notional 8 ->
    # leverage 2.667 < 3. Target 4: C' = 8/4 - 2 = 0, so the whole 1 ETH is sold at 1500
    # (1498.5 USD after the 0.1 % fee) and buys 1498.5/(100*1.001) SOL.
    r = simulate(_market([2000.0, 1500.0]), _params((3.0, 7.0), 4.0), col([1.0, 1.0]))
    ts = r.timeseries
    bought = 1498.5 / 100.1
    assert ts["collateral_coin_0"].iloc[1] == pytest.approx(0.0, abs=1e-12)
    assert ts["units_SOL"].iloc[1] == pytest.approx(100 + bought, rel=1e-12)
    assert ts["leverage_0"].iloc[1] == pytest.approx(4.0, rel=1e-12)
    ev = r.events[r.events["kind"] == "withdraw"]
    assert ev["coins"].iloc[0] == pytest.approx(-1.0, rel=1e-12)
    assert ev["usd"].iloc[0] == pytest.approx(-1500.0, rel=1e-12)
    fees = 1.5 + bought * 100 * 0.001
    assert ts["equity_hedged"].iloc[1] == pytest.approx(10000 + 3 * 1500 - fees, rel=1e-12)
