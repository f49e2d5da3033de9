"""Legs that cover part of the basket (``covers``): sizing on the covered coins' value only.

Hand table: two coins, SOL 100 -> 110 and ADA 0.5 -> 0.4, weights 1/2 each, 10,000 USD, no
costs; one inverse leg per coin (10 USD contracts), each covering its own coin, target 1,
delta-neutral sizing, initial leverage 2, so ``d = L - 1 = 1``.

- Collateral bought with capital: ``g_j = h c_j / d = 0.5``, ``C_j = g_j K / (1 + sum g) =
  2,500`` USD each, the basket gets the remaining 5,000: 25 SOL and 5,000 ADA, and the wallets
  hold 25 SOL and 5,000 ADA.
- Each leg sizes on its own coin, ``B_j = 2,500``: ``q = -(h B_j + C_j) / S = -500`` contracts
  (a leg on the whole basket would size on 5,000 and short 750).
- At bar 1 each coin's account is flat in USD: SOL 25*110 + 25*110 - 500*10*(1/100 - 1/110)*110
  = 5,000 and ADA 5,000*0.4*2 + 500*10*(1/0.5 - 1/0.4)*(-0.4) = 5,000; the actual ratios stay 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_tables import free_leg, make_market, make_params

from perphedge.domain import SizingRule
from perphedge.engine import simulate
from perphedge.engine.simulate import covered_collateral_usd
from perphedge.errors import ConfigError

SPOT = [[100.0, 0.5], [110.0, 0.4]]


def _market():
    return make_market(
        SPOT,
        coins=("SOL", "ADA"),
        legs=("binance SOL/USD:SOL", "binance ADA/USD:ADA"),
        kinds=(free_leg().kind,) * 2,
        contract_sizes=(10.0, 10.0),
        mark=SPOT,
    )


def _run(covers=((True, False), (False, True)), **kw):
    params = make_params(
        weights=np.array([0.5, 0.5]),
        legs=(free_leg(), free_leg()),
        initial_leverage=2.0,
        covers=np.array(covers),
        **kw,
    )
    return simulate(_market(), params, np.ones((2, 2)))


@pytest.mark.parametrize("from_basket", [False, True])
def test_own_coin_legs_size_on_their_coin(from_basket: bool) -> None:
    ts = _run(collateral_from_basket=from_basket).timeseries
    assert ts["contracts_0"].iloc[0] == -500.0
    assert ts["contracts_1"].iloc[0] == -500.0
    assert ts["collateral_coin_0"].iloc[0] == pytest.approx(25.0, rel=1e-12)
    assert ts["collateral_coin_1"].iloc[0] == pytest.approx(5_000.0, rel=1e-12)
    assert ts["units_SOL"].iloc[0] == pytest.approx(25.0, rel=1e-12)
    assert ts["units_ADA"].iloc[0] == pytest.approx(5_000.0, rel=1e-12)
    assert ts["equity_hedged"].iloc[1] == pytest.approx(10_000.0, rel=1e-12)
    assert ts["actual_ratio_0"].iloc[1] == pytest.approx(1.0, rel=1e-12)
    assert ts["actual_ratio_1"].iloc[1] == pytest.approx(1.0, rel=1e-12)


def test_basket_only_covered_leg_shorts_its_coins_value() -> None:
    # basket_only, L = 2: g = 0.5 / 2 = 0.25, C = 0.25 * 10,000 / 1.5 = 1,666.67 USD each;
    # basket 6,666.67 USD, 3,333.33 per coin; q = -3,333.33 / 10 -> -333 contracts.
    ts = _run(sizing=SizingRule.BASKET_ONLY).timeseries
    assert ts["contracts_0"].iloc[0] == -333.0
    assert ts["contracts_1"].iloc[0] == -333.0
    assert ts["collateral_coin_0"].iloc[0] == pytest.approx(10_000 / 6 / 100, rel=1e-12)


def test_collateral_formula_cross_leg_from_basket() -> None:
    # a leg whose margin coin it does not cover: B_j = c_j K, C_j = h c_j K / d
    got = covered_collateral_usd(
        10_000.0,
        np.array([1.0]),
        np.array([0.5, 0.5]),
        np.array([[False, True]]),
        np.array([True]),
        3.0,
        np.array([0]),
        True,
    )
    assert got[0] == pytest.approx(1.0 * 0.5 * 10_000 / 2.0, rel=1e-15)


def test_a_leg_covering_nothing_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"hedge\.legs\[1\]\.covers: covers no basket coin"):
        _run(covers=((True, True), (False, False)))
