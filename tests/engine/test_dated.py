"""Dated inverse futures: delivery and roll arithmetic (perphedge.engine.dated), by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from perphedge.engine.dated import (
    DAY_NS,
    basis,
    chain_contract,
    days_to_expiry,
    deliver_inverse,
    roll_inverse,
    roll_target_delta_neutral,
)


def test_short_held_to_expiry_is_delivered() -> None:
    # 100 contracts of 10 USD short at 20,000, wallet 0.02 BTC, delivered at 25,000, fee 0.05 %:
    # PnL -1,000*(1/20,000 - 1/25,000) = -0.01 BTC; fee 1,000/25,000*0.0005 = 0.00002 BTC
    q, E, C, realized, fee = deliver_inverse(-100.0, 20_000.0, 0.02, 10.0, 25_000.0, 0.0005)
    assert q == 0.0 and math.isnan(E)
    assert realized == pytest.approx(-0.01, rel=1e-12)
    assert fee == pytest.approx(0.00002, rel=1e-12)
    assert pytest.approx(0.00998, rel=1e-12) == C


def test_roll_is_two_trades_with_fees_and_slippage() -> None:
    # close 100 short at 25,000 (+2 bp: 25,005), open 110 short in the next at 25,500 (-2 bp:
    # 25,494.9), taker fee 0.05 % on each
    q, E, C, f_close, f_open, slip = roll_inverse(
        -100.0, 20_000.0, 0.05, 10.0, 25_000.0, 25_500.0, 0.0005, 0.0002, -110.0
    )
    realized = -1_000 * (1 / 20_000 - 1 / 25_005)
    assert f_close == pytest.approx(1_000 / 25_005 * 0.0005, rel=1e-12)
    assert f_open == pytest.approx(1_100 / 25_494.9 * 0.0005, rel=1e-12)
    assert q == -110.0 and pytest.approx(25_494.9, rel=1e-15) == E
    assert pytest.approx(0.05 + realized - f_close - f_open, rel=1e-12) == C
    expected_slip = 1_000 * (1 / 25_000 - 1 / 25_005) + 1_100 * (1 / 25_494.9 - 1 / 25_500)
    assert slip == pytest.approx(expected_slip, rel=1e-9)


def test_new_contract_sized_by_the_delta_neutral_rule() -> None:
    # flat after the close, wallet 0.1 BTC at 25,000 (2,500 USD), basket 10,000 USD, ratio 1:
    # q* = (-10,000 - 2,500)/10 = -1,250 contracts
    assert roll_target_delta_neutral(0.1, 1.0, 10_000.0, 25_000.0, 10.0) == -1_250.0


def test_basis_days_and_chain() -> None:
    assert basis(25_500.0, 25_000.0) == pytest.approx(0.02, rel=1e-12)
    mar = 19_447 * DAY_NS + 8 * 3_600 * 10**9  # 2023-03-31 08:00 UTC
    jun = mar + 91 * DAY_NS  # 2023-06-30 08:00 UTC
    t = 19_440 * DAY_NS  # 2023-03-24 00:00 UTC: 7 days 8 h before the March expiry
    assert days_to_expiry(t, mar) == pytest.approx(7 + 8 / 24, rel=1e-15)
    assert chain_contract(t, [mar, jun], 7.0) == 0  # more than 7 days left: keep March
    assert chain_contract(t + DAY_NS, [mar, jun], 7.0) == 1  # 6 d 8 h left: roll into June
    assert chain_contract(jun, [mar, jun], 7.0) == -1


@settings(max_examples=60, deadline=None)
@given(
    prices=st.lists(st.floats(500.0, 8_000.0), min_size=3, max_size=12),
    roll_at=st.integers(1, 10),
    coins=st.floats(0.5, 50.0),
    lev=st.floats(1.5, 5.0),
)
@example(prices=[500.0, 500.0, 6750.0], roll_at=1, coins=0.5, lev=1.5)  # a 13.5x move
def test_delta_neutral_dated_hedge_is_flat_through_a_roll(prices, roll_at, coins, lev) -> None:
    # An ETH-only basket hedged 1:1 (delta-neutral) with an ETH dated future, zero costs, the
    # futures at spot, the two contracts at the same price at the roll bar: the USD equity
    # does not move. Contracts are tiny (S = 1e-4 USD) so rounding to whole contracts is noise:
    # half a contract off, q·S·(1/E − 1/p)·p moves by at most 0.5·S·(p/E + 1) USD per contract
    # held, so the two contracts together stay within S·(max/min + 1) USD of flat.
    S = 1e-4
    noise = S * (max(prices) / min(prices) + 1.0)
    roll_at = min(roll_at, len(prices) - 1)
    p0 = prices[0]
    basket = coins * p0
    C = basket / lev / p0  # collateral coins, bought beside the basket
    q = roll_target_delta_neutral(C, 1.0, basket, p0, S)
    E = p0
    start = coins * p0 + C * p0
    for t, p in enumerate(prices):
        if t == roll_at:
            q_new = roll_target_delta_neutral(C + q * S * (1 / E - 1 / p), 1.0, coins * p, p, S)
            q, E, C, f1, f2, sl = roll_inverse(q, E, C, S, p, p, 0.0, 0.0, q_new)
            assert f1 == f2 == sl == 0.0
        equity = coins * p + (C + q * S * (1 / E - 1 / p)) * p
        assert equity == pytest.approx(start, rel=1e-12, abs=noise)
    assert np.isfinite(q)
