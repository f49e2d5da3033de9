"""Without margin management the short cannot outgrow its margin (the exchange's initial-margin
rule): a liquidated leg is not reopened on an empty wallet, and a target beyond the leverage
band's top is cut to it."""

import numpy as np
import pytest
from engine_tables import HOUR, col, free_leg, make_market, make_params

from perphedge.domain import InstrumentKind
from perphedge.engine import simulate


def _market(eth, high=None):
    eth = np.asarray(eth, dtype=float)
    return make_market(
        np.ones(len(eth)), coins=("USDC",), mark=col(eth), coin_usd=col(eth),
        high=col(eth if high is None else high),
    )  # fmt: skip


def test_liquidated_leg_is_not_reopened_on_an_empty_wallet():
    # Capital 6,000: 3,000 USD buys C = 1 ETH at 3,000, 3,000 USDC basket. Delta-neutral, h = 1:
    # N*S = C*P + h*B = 6,000 -> 600 contracts; P_liq = 0.995*6000/(6000/3000 - 1) = 5970.
    # Bar 1's high 6,000 liquidates at 5,970: the margin left, 0.005*6000/5970 ETH, is exactly
    # the 0.5 % liquidation fee -> wallet 0. Re-hedging then finds no margin: no new short, on
    # this bar or the scheduled ones after it (before the fix it reopened every bar).
    m = _market([3000.0] * 4, high=[3000.0, 6000.0, 3000.0, 3000.0])
    p = make_params(
        capital=6_000.0, collateral_usd=3_000.0, rebalance_every_ns=HOUR, manage_margin=False
    )
    r = simulate(m, p, col([1.0] * 4))
    ts = r.timeseries
    assert list(ts["contracts_0"]) == [-600.0, 0.0, 0.0, 0.0]
    assert abs(ts["collateral_coin_0"].iloc[1]) < 1e-12
    assert (r.events["kind"] == "liquidation").sum() == 1


def test_target_beyond_the_band_top_is_cut_to_it():
    # C = 1 ETH at 3,000, basket 9,000 USDC, h = 1: N*S = 3,000 + 9,000 = 12,000 (4x). With no
    # margin management and a band top of 3x the short is capped at 3*1*3000/10 = 900 contracts.
    m = _market([3000.0] * 2)
    p = make_params(
        capital=12_000.0,
        collateral_usd=3_000.0,
        manage_margin=False,
        leverage_band=(1.5, 3.0),
        legs=(free_leg(),),
    )
    r = simulate(m, p, col([1.0, 1.0]))
    assert list(r.timeseries["contracts_0"]) == [-900.0, -900.0]
    assert r.timeseries["leverage_0"].iloc[0] == 3.0


def test_linear_leg_is_capped_in_lots():
    # Linear: 1,000 USDT margin, band top 2x, price 3,000: at most 2000/3000 = 0.666 ETH, in
    # 0.001 lots -> 0.666 (the target is h*B/P = 9000/3000 = 3 ETH).
    m = make_market(
        np.ones(2), coins=("USDC",), legs=("binance ETH/USDT:USDT",),
        kinds=(InstrumentKind.LINEAR,), contract_sizes=(0.001,), mark=col([3000.0, 3000.0]),
    )  # fmt: skip
    p = make_params(
        capital=10_000.0,
        collateral_usd=1_000.0,
        manage_margin=False,
        leverage_band=(1.5, 2.0),
        leverage_target=2.0,
        legs=(free_leg(kind=InstrumentKind.LINEAR, size=0.001),),
    )
    r = simulate(m, p, col([1.0, 1.0]))
    assert r.timeseries["contracts_0"].iloc[0] == -0.666


def test_cap_leaves_room_for_the_trades_own_fee():
    # As above, with a 0.1 % taker fee: n*S/P <= 3*(1 - n*S/P*0.001) -> n <= 900/1.003 = 897.3.
    # 897 contracts: notional 2.99 ETH, fee 0.00299 ETH, leverage 2.99/0.99701 = 2.999 <= 3;
    # 898 would be 2.99333/0.997007 = 3.0023 > 3.
    m = _market([3000.0] * 2)
    p = make_params(
        capital=12_000.0,
        collateral_usd=3_000.0,
        manage_margin=False,
        leverage_band=(1.5, 3.0),
        legs=(free_leg(taker_fee=0.001),),
    )
    r = simulate(m, p, col([1.0, 1.0]))
    ts = r.timeseries
    assert ts["contracts_0"].iloc[0] == -897.0
    assert ts["collateral_coin_0"].iloc[0] == pytest.approx(1 - 0.00299, rel=1e-12)
    assert ts["leverage_0"].iloc[0] == pytest.approx(2.99 / 0.99701, rel=1e-12)
    assert ts["leverage_0"].iloc[0] <= 3.0


def test_with_management_the_margin_is_moved_in_before_the_order():
    # Same book with management on (band [1.5, 3], target 2): the 1,200-contract target (4x on
    # 1 ETH) does not fit under 3x, so collateral comes first: 4 ETH notional / 2 = 2 ETH margin,
    # i.e. 1 ETH bought with 3,000 USDC, then the full 1,200 contracts are sold. The account
    # stays delta-neutral: X = 2 - 12,000/3,000 = -2 ETH = -6,000 USD = -h*B (B = 6,000 USDC).
    m = _market([3000.0] * 2)
    p = make_params(
        capital=12_000.0,
        collateral_usd=3_000.0,
        manage_margin=True,
        leverage_band=(1.5, 3.0),
        leverage_target=2.0,
    )
    r = simulate(m, p, col([1.0, 1.0]))
    ts = r.timeseries
    assert list(ts["contracts_0"]) == [-1200.0, -1200.0]
    assert ts["collateral_coin_0"].iloc[0] == pytest.approx(2.0, rel=1e-12)
    assert ts["units_USDC"].iloc[0] == pytest.approx(6_000.0, rel=1e-12)
    assert ts["leverage_0"].iloc[0] == pytest.approx(2.0, rel=1e-12)
    ev = r.events[r.events["time"] == ts.index[0]]
    assert list(ev["kind"]) == ["topup", "rebalance"]
    assert ev["coins"].iloc[0] == pytest.approx(1.0, rel=1e-12)
    assert ts["actual_ratio_0"].iloc[0] == pytest.approx(1.0, rel=1e-12)
