"""Funding sign: positive rates pay the short, negative rates make the short pay."""

import pytest
from engine_tables import col, free_leg, make_market, make_params

from perphedge.domain import InstrumentKind, SizingRule
from perphedge.engine import simulate

RATES = [0.0, -0.0003, 0.0002, -0.0001]


def test_inverse_short_pays_on_negative_rates():
    # short 800 contracts of 10 USD at a flat 2,000: per event -q*S/mark*r = 4*r ETH
    m = make_market([2000.0] * 4, funding_rate=RATES)
    p = make_params(sizing=SizingRule.BASKET_ONLY, collateral_usd=2000.0)
    r = simulate(m, p, col([1.0] * 4))
    ts = r.timeseries
    assert list(ts["collateral_coin_0"]) == pytest.approx([1.0, 0.9988, 0.9996, 0.9992], rel=1e-12)
    assert list(ts["funding_cum_usd"]) == pytest.approx([0.0, -2.4, -0.8, -1.6], rel=1e-12)
    fund = r.events[r.events["kind"] == "funding"]
    assert list(fund["coins"]) == pytest.approx([-0.0012, 0.0008, -0.0004], rel=1e-12)
    assert r.attribution["funding"] == pytest.approx(-1.6, rel=1e-12)
    assert ts["equity_hedged"].iloc[-1] == pytest.approx(10_000 - 1.6, rel=1e-12)


def test_linear_short_pays_on_negative_rates():
    # short 4 ETH on a USDT perp at 2,000: per event -q*mark*r = 8000*r USDT
    m = make_market(
        [2000.0] * 4,
        legs=("binance ETH/USDT:USDT",),
        kinds=(InstrumentKind.LINEAR,),
        contract_sizes=(0.001,),
        funding_rate=RATES,
    )
    p = make_params(collateral_usd=2000.0, legs=(free_leg(InstrumentKind.LINEAR, 0.001),))
    r = simulate(m, p, col([1.0] * 4))
    assert list(r.timeseries["collateral_coin_0"]) == pytest.approx(
        [2000.0, 1997.6, 1999.2, 1998.4], rel=1e-12
    )
    assert r.attribution["funding"] == pytest.approx(-1.6, rel=1e-12)
